"""compare: one table of every variant in the grid (and of the segmentation variants), with
confidence intervals and paired tests; the study's headline numbers for `dvc exp show`, the
plots `dvc plots show` leads with, and the best variant's model as the study's output."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import numpy as np

from imgstudy import params as P
from imgstudy.evaluation.compare import (
    bootstrap_ci,
    column_value,
    display_name,
    mcnemar,
    seed_groups,
    seeds_markdown,
    seg_markdown,
    seg_report,
    table_rows,
    to_csv,
    to_markdown,
)
from imgstudy.evaluation.curves import roc_points
from imgstudy.evaluation.metrics import plot_confusion
from imgstudy.evaluation.plots import plot_metric_bars, plot_robustness_overview, plot_val_curves
from imgstudy.models import MODELS
from stages import cli


def read_curve(path: Path) -> list[float]:
    """One DVCLive metric per epoch (a .tsv of step and value); [] when it was never logged."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [float(row[-1]) for row in list(csv.reader(f, delimiter="\t"))[1:]]


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def reads(group: str | None, dotted: str) -> bool:
    """Whether a model with this options group ("cnn", "transfer", None) reads the setting: train.cnn.*
    only the baseline CNN, train.transfer.* and train.finetune.* only the torchvision backbones."""
    return all(group == needs for prefix, needs in P.MODEL_GROUPS.items() if dotted.startswith(prefix))


def classification(base: P.Params, raw: dict, predictions: Path) -> dict:
    """Per variant: its metrics, bootstrap intervals, table cells, robustness and McNemar's test."""
    c = base.compare
    variants, resolved_all, kept = {}, {}, {}
    for name in base.grid:
        pred = np.load(predictions / f"{name}.npz")
        y, probs = pred["y_true"], pred["probs"]
        params = P.resolve(raw, name)
        resolved = resolved_all[name] = params.model_dump(mode="json")
        group = MODELS[params.train.model].options
        kept[name] = (y, probs, [str(k) for k in pred["classes"]])
        variants[name] = {
            "metrics": json.loads(str(pred["summary"])),
            "ci": bootstrap_ci(y, probs, c.bootstrap, c.confidence, base.base.seed),
            # a setting the variant's model does not read (the CNN's widths for a backbone) is "-", not its default
            "columns": {
                title: column_value(resolved, key) if reads(group, key) else "-" for title, key in c.columns.items()
            },
            "robustness": read_json(predictions / f"{name}.robustness.json"),
            "correct": probs.argmax(1) == y,
        }
    best = max(variants, key=lambda v: variants[v]["metrics"][c.metric])
    reference = variants[best]["correct"]
    for v in variants.values():
        v["mcnemar"] = mcnemar(reference, v.pop("correct"))
    report = {
        "metric": c.metric,
        "best": best,
        "confidence": c.confidence,
        "bootstrap": c.bootstrap,
        "variants": variants,
        "seed_groups": seed_groups(resolved_all, {n: v["metrics"] for n, v in variants.items()}),
    }
    return report, kept[best]


def headline(report: dict, metrics: list[str], seg: dict | None) -> dict:
    """summary.json, the study's top-level metrics file: the best variant, then a few numbers per variant."""
    out = {
        "best": display_name(report["best"]),
        report["metric"]: report["variants"][report["best"]]["metrics"][report["metric"]],
    }
    for name, v in report["variants"].items():
        out[name] = {m: round(v["metrics"][m], 6) for m in metrics}
    if seg is not None:
        out["segmentation"] = {name: {"dice": round(v["dice"]["mean"], 6)} for name, v in seg["variants"].items()}
    return out


def write_plots(plots: Path, report: dict, metrics: list[str], live: Path, best_data: tuple) -> None:
    """The plots of the study's first page: curves, metric bars with intervals, the best variant's
    confusion matrix and ROC, robustness; as CSV for DVC's templates and as PNG."""
    plots.mkdir(parents=True, exist_ok=True)
    variants = report["variants"]
    with open(plots / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["variant", "metric", "value", "low", "high"])
        for name, v in variants.items():
            writer.writerows(
                (display_name(name), m, round(v["metrics"][m], 6), *(round(b, 6) for b in v["ci"][m])) for m in metrics
            )
    plot_metric_bars(plots / "metrics.png", {display_name(n): v for n, v in variants.items()}, metrics)
    curves = {
        display_name(n): {m: read_curve(live / n / "plots/metrics/val" / f"{m}.tsv") for m in ("loss", "acc")}
        for n in variants
    }
    with open(plots / "val_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["variant", "epoch", "val_acc", "val_loss"])
        for name, c in curves.items():
            writer.writerows(
                (name, e + 1, round(a, 6), round(lo, 6)) for e, (a, lo) in enumerate(zip(c["acc"], c["loss"]))
            )
    plot_val_curves(plots / "val_curves.png", curves)
    y, probs, classes = best_data
    with open(plots / "best_confusion.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        writer.writerows((classes[t], classes[p]) for t, p in zip(y.tolist(), probs.argmax(1).tolist()))
    plot_confusion(plots / "best_confusion.png", y, probs.argmax(1), classes)
    with open(plots / "best_roc.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["fpr", "tpr"])
        writer.writerows(roc_points(y, probs))
    robust = {display_name(n): v["robustness"]["per_corruption"] for n, v in variants.items() if v["robustness"]}
    if robust:
        plot_robustness_overview(plots / "robustness.png", robust)


def run(raw: dict, predictions: Path, live: Path, models: Path, out: Path, best_dir: Path) -> dict:
    base = P.resolve(raw, source="params")
    c = base.compare
    report, best_data = classification(base, raw, predictions)
    seg = None
    if base.seg_grid:
        per_image = {}
        for name in base.seg_grid:
            scores = np.load(predictions / f"{name}.seg.npz")
            per_image[name] = {m: scores[m] for m in ("dice", "iou", "hd95")}
        seg = seg_report(per_image, c.bootstrap, c.confidence, base.base.seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps({**report, "segmentation": seg}, indent=2) + "\n")
    header, rows = table_rows(report, c.columns)
    title = (
        f"Best by {c.metric}: **{display_name(report['best'])}**. Brackets: {c.confidence:.0%} bootstrap "
        f"intervals ({c.bootstrap} resamples of the test set); last column: McNemar exact p-value against the "
        "best.\n\n"
    )
    text = title + to_markdown(header, rows) + seeds_markdown(report["seed_groups"])
    (out / "compare.md").write_text(text + ("\n\n" + seg_markdown(seg) if seg else ""))
    (out / "compare.csv").write_text(to_csv(header, rows))
    (out / "summary.json").write_text(json.dumps(headline(report, c.headline, seg), indent=2) + "\n")
    write_plots(out / "plots", report, c.plot_metrics, live, best_data)

    best = report["best"]
    best_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(models / best / "model.pt", best_dir / "model.pt")
    (best_dir / "variant.json").write_text(
        json.dumps(
            {"variant": best, "name": display_name(best), c.metric: report["variants"][best]["metrics"][c.metric]},
            indent=2,
        )
        + "\n"
    )
    return report


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--live", type=Path, required=True)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--best", type=Path, required=True)
    args = parser.parse_args()
    report = run(P.read_yaml(args.params), args.predictions, args.live, args.models, args.out, args.best)
    print((args.out / "compare.md").read_text())
    print(f"compare: best variant {display_name(report['best'])} -> {args.best}")


if __name__ == "__main__":
    main()
