"""The comparison's plots: as CSV for DVC's templates (`dvc plots show`) and as PNG for the report."""

from __future__ import annotations

import csv
from pathlib import Path

from imgstudy.evaluation.metrics import plot_confusion
from imgstudy.evaluation.plots import plot_learning_curves, plot_metric_bars, plot_robustness_overview
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
    columns = ("train_acc", "train_loss", "val_acc", "val_loss")
    curves = {  # DVCLive's train/acc.tsv, ..., val/loss.tsv of every variant
        display_name(n): {c: read_curve(live / n / "plots/metrics" / f"{c.replace('_', '/', 1)}.tsv") for c in columns}
        for n in variants
    }
    with open(plots / "curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["variant", "epoch", *columns])
        for name, c in curves.items():
            rows = zip(*(c[column] for column in columns))
            writer.writerows((name, e + 1, *(round(v, 6) for v in values)) for e, values in enumerate(rows))
    plot_learning_curves(plots / "curves.png", curves)
    y, probs, classes, roc = best_data
    with open(plots / "best_confusion.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        writer.writerows((classes[t], classes[p]) for t, p in zip(y.tolist(), probs.argmax(1).tolist()))
    plot_confusion(plots / "best_confusion.png", y, probs.argmax(1), classes)
    with open(plots / "best_roc.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["fpr", "tpr"])
        writer.writerows(roc.tolist())  # the ROC evaluate drew for the variant (no scikit-learn here)
    robust = {display_name(n): v["robustness"]["per_corruption"] for n, v in variants.items() if v["robustness"]}
    if robust:
        plot_robustness_overview(plots / "robustness.png", robust)
