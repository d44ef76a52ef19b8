"""report: the whole study on one self-contained page (reports/study.html): the comparison with its
intervals and p-values, the curves, the best variant's confusion matrix, robustness, where the
models look, each variant's differences from the base and what the data report refused."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from imgstudy.evaluation.tables import display_name, seeds_markdown, seg_caption, seg_rows, table_rows
from imgstudy.params import Params
from imgstudy.reporting.html import differences, figure, page, table


@dataclass(frozen=True)
class Files:
    compare: Path  # the comparison (compare.json, plots/)
    metrics: Path  # every variant's metrics (explain.json)
    plots: Path  # every variant's plots (the mean activation maps)
    reports: Path  # the data report of preprocess
    out: Path  # the page


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


def run(params: Params, files: Files) -> dict:
    report = json.loads((files.compare / "compare.json").read_text())
    figures = files.compare / "plots"
    seg = report.get("segmentation")
    sections = [
        ("Comparison", comparison(report, params.compare.columns)),
        ("Segmentation", f"<p>{seg_caption(seg)}</p>" + table(*seg_rows(seg)) if seg else ""),
        (
            "Training and test scores",
            figure(figures / "curves.png", "loss and accuracy per epoch: validation (solid), training (dashed)")
            + figure(figures / "metrics.png", "test metrics with bootstrap intervals"),
        ),
        (
            f"Best variant: {display_name(report['best'])}",
            figure(figures / "best_confusion.png", "confusion matrix on the test set"),
        ),
        ("Robustness", figure(figures / "robustness.png", "accuracy on corrupted test images")),
        ("Where the models look", activation_maps(files.plots, files.metrics, params.grid)),
        ("Variants", differences({v: params.variants[v] for v in params.grid + params.seg_grid})),
        ("Data", data_report(files.reports)),
    ]
    dataset = params.download.dataset
    subtitle = (
        f"Dataset {dataset}, {len(params.grid)} variants, best by {report['metric']}: "
        f"{display_name(report['best'])}. Built by <code>dvc repro</code>; every figure is a file of the "
        "pipeline."
    )
    text = page(f"Study report: {dataset}", sections, subtitle)
    files.out.parent.mkdir(parents=True, exist_ok=True)
    files.out.write_text(text)
    return {"out": str(files.out), "megabytes": len(text) / 1e6, "images": text.count("<img ")}


def describe(result: dict) -> str:
    return f"report: {result['out']} ({result['megabytes']:.1f} MB, {result['images']} images inline)"
