"""compare: one table of every variant in the grid, with confidence intervals and paired tests;
the best variant's model becomes the study's output."""
from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import numpy as np

from imgstudy import params as P
from imgstudy.compare import (bootstrap_ci, column_value, display_name, mcnemar, seed_groups, seeds_markdown, table_rows,
                              to_csv, to_markdown)
from imgstudy.plots import plot_metric_bars, plot_val_curves


def read_curve(path: Path) -> list[float]:
    with open(path, newline="") as f:
        return [float(row[-1]) for row in list(csv.reader(f, delimiter="\t"))[1:]]


def run(raw: dict, predictions: Path, live: Path, models: Path, metrics: Path, plots: Path, best_dir: Path) -> dict:
    base = P.resolve(raw, source="params")
    c = base.compare
    variants, resolved_all = {}, {}
    for name in base.grid:
        pred = np.load(predictions / f"{name}.npz")
        y, probs = pred["y_true"], pred["probs"]
        resolved = resolved_all[name] = P.resolve(raw, name).model_dump(mode="json")
        variants[name] = {"metrics": json.loads(str(pred["summary"])),
                          "ci": bootstrap_ci(y, probs, c.bootstrap, c.confidence, base.base.seed),
                          "columns": {title: column_value(resolved, key) for title, key in c.columns.items()},
                          "correct": probs.argmax(1) == y}
    best = max(variants, key=lambda v: variants[v]["metrics"][c.metric])
    reference = variants[best]["correct"]
    for v in variants.values():
        v["mcnemar"] = mcnemar(reference, v.pop("correct"))
    report = {"metric": c.metric, "best": best, "confidence": c.confidence, "bootstrap": c.bootstrap,
              "variants": variants,
              "seed_groups": seed_groups(resolved_all, {n: v["metrics"] for n, v in variants.items()})}

    metrics.mkdir(parents=True, exist_ok=True)
    plots.mkdir(parents=True, exist_ok=True)
    (metrics / "compare.json").write_text(json.dumps(report, indent=2) + "\n")
    header, rows = table_rows(report, c.columns)
    title = (f"Best by {c.metric}: **{display_name(best)}**. Brackets: {c.confidence:.0%} bootstrap intervals "
             f"({c.bootstrap} resamples of the test set); last column: McNemar exact p-value against the best.\n\n")
    (metrics / "compare.md").write_text(title + to_markdown(header, rows) + seeds_markdown(report["seed_groups"]))
    (metrics / "compare.csv").write_text(to_csv(header, rows))
    with open(plots / "metrics.csv", "w", newline="") as f:  # for DVC's bar chart template
        writer = csv.writer(f)
        writer.writerow(["variant", *c.plot_metrics])
        for name, v in variants.items():
            writer.writerow([display_name(name), *(round(v["metrics"][m], 6) for m in c.plot_metrics)])
    plot_metric_bars(plots / "metrics.png", {display_name(n): v for n, v in variants.items()}, c.plot_metrics)
    curves = {display_name(n): {m: read_curve(live / n / "plots/metrics/val" / f"{m}.tsv") for m in ("loss", "acc")}
              for n in variants}
    plot_val_curves(plots / "val_curves.png", curves)

    best_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(models / best / "model.pt", best_dir / "model.pt")
    (best_dir / "variant.json").write_text(json.dumps(
        {"variant": best, "name": display_name(best), c.metric: variants[best]["metrics"][c.metric]}, indent=2) + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--live", type=Path, required=True)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--plots", type=Path, required=True)
    parser.add_argument("--best", type=Path, required=True)
    args = parser.parse_args()
    report = run(P.read_yaml(args.params), args.predictions, args.live, args.models, args.metrics, args.plots,
                 args.best)
    print((args.metrics / "compare.md").read_text())
    print(f"compare: best variant {display_name(report['best'])} -> {args.best}")


if __name__ == "__main__":
    main()
