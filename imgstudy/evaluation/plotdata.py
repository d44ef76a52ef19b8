"""The comparison's plots: as CSV for DVC's templates (`dvc plots show`) and as PNG for the report."""

from __future__ import annotations

import csv
from pathlib import Path

from imgstudy.evaluation.curves import roc_points
from imgstudy.evaluation.metrics import plot_confusion
from imgstudy.evaluation.plots import plot_metric_bars, plot_robustness_overview, plot_val_curves
from imgstudy.evaluation.tables import display_name


def read_curve(path: Path) -> list[float]:
    """One DVCLive metric per epoch (a .tsv of step and value); [] when it was never logged."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [float(row[-1]) for row in list(csv.reader(f, delimiter="\t"))[1:]]


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
