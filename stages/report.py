"""report: the whole study on one self-contained page (reports/study.html): the comparison with its
intervals and p-values, the curves, the best variant's confusion matrix, robustness, where the
models look, each variant's differences from the base and what the data report refused."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from imgstudy import params as P
from imgstudy.evaluation.compare import display_name, seeds_markdown, seg_caption, seg_rows, table_rows
from imgstudy.reporting.html import differences, figure, page, table
from stages import cli

MAX_ERRORS_SHOWN = 50


def comparison(report: dict, columns: dict[str, str]) -> str:
    header, rows = table_rows(report, columns)
    best = list(report["variants"]).index(report["best"])
    note = (
        f"<p>Best by {report['metric']}: <b>{display_name(report['best'])}</b>. Brackets: "
        f"{report['confidence']:.0%} bootstrap intervals ({report['bootstrap']} resamples of the test set); "
        "last column: McNemar's exact test against the best on the same test images.</p>"
    )
    seeds = seeds_markdown(report["seed_groups"])
    return note + table(header, rows, best) + (f"<pre>{seeds.strip()}</pre>" if seeds else "")


def activation_maps(plots: Path, metrics: Path, variants: list[str]) -> str:
    parts = []
    for v in variants:
        explained = metrics / v / "explain.json"
        gap = json.loads(explained.read_text())["faithfulness_gap"] if explained.is_file() else None
        caption = f"{display_name(v)}: mean activation map per class" + (
            f" (deletion faithfulness gap {gap:+.3f})" if gap is not None else ""
        )
        parts.append(figure(plots / v / "gradcam" / "mean_maps.png", caption))
    return "".join(parts)


def data_report(reports: Path) -> str:
    counts = json.loads((reports / "preprocess.json").read_text())
    text = (
        f"<p>{counts['decoded']:,} images decoded, {counts['skipped']:,} skipped "
        f"({counts['skipped_fraction']:.2%}).</p>"
    )
    with open(reports / "decode_errors.csv", newline="") as f:
        rows = [[r["path"], r["reason"]] for r in csv.DictReader(f)]
    if rows:
        shown = rows[:MAX_ERRORS_SHOWN]
        text += table(["file", "why it could not be used"], shown, names=2)
        if len(rows) > len(shown):
            text += f"<p class=muted>... and {len(rows) - len(shown)} more in reports/decode_errors.csv</p>"
    return text


def run(raw: dict, compare: Path, metrics: Path, plots: Path, reports: Path, out: Path) -> str:
    base = P.resolve(raw, source="params")
    report = json.loads((compare / "compare.json").read_text())
    figures = compare / "plots"
    seg = report.get("segmentation")
    sections = [
        ("Comparison", comparison(report, base.compare.columns)),
        ("Segmentation", f"<p>{seg_caption(seg)}</p>" + table(*seg_rows(seg)) if seg else ""),
        (
            "Training and test scores",
            figure(figures / "val_curves.png", "validation loss and accuracy per epoch")
            + figure(figures / "metrics.png", "test metrics with bootstrap intervals"),
        ),
        (
            f"Best variant: {display_name(report['best'])}",
            figure(figures / "best_confusion.png", "confusion matrix on the test set"),
        ),
        ("Robustness", figure(figures / "robustness.png", "accuracy on corrupted test images")),
        ("Where the models look", activation_maps(plots, metrics, base.grid)),
        ("Variants", differences({v: base.variants[v] for v in base.grid + base.seg_grid})),
        ("Data", data_report(reports)),
    ]
    subtitle = (
        f"Dataset {base.download.dataset}, {len(base.grid)} variants, best by {report['metric']}: "
        f"{display_name(report['best'])}. Built by <code>dvc repro</code>; every figure is a file of the "
        "pipeline."
    )
    text = page(f"Study report: {base.download.dataset}", sections, subtitle)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    for name in ("compare", "metrics", "plots", "reports", "out"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    args = parser.parse_args()
    text = run(P.read_yaml(args.params), args.compare, args.metrics, args.plots, args.reports, args.out)
    print(f"report: {args.out} ({len(text) / 1e6:.1f} MB, {text.count('<img ')} images inline)")


if __name__ == "__main__":
    main()
