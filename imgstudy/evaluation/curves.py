"""Evaluation plots: ROC and precision-recall curves, reliability diagram, confident mistakes."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _positive_scores(y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary: class 1. Multi-class: every (sample, class) pair one-vs-rest (the micro average)."""
    if probs.shape[1] == 2:
        return (y_true == 1).astype(int), probs[:, 1]
    return np.eye(probs.shape[1])[y_true].ravel(), probs.ravel()


def _thin(rows: list[tuple[float, float]], most: int = 2000) -> list[tuple[float, float]]:
    """At most ~`most` points of a curve, its last kept: DVC renders every row."""
    step = max(1, len(rows) // most)
    return [(round(float(a), 5), round(float(b), 5)) for a, b in rows[::step] + rows[-1:]]


def roc_points(y_true: np.ndarray, probs: np.ndarray) -> list[tuple[float, float]]:
    """(fpr, tpr) of the ROC curve: class 1 for binary tasks, the micro average otherwise."""
    from sklearn.metrics import roc_curve  # on use: it takes a second to import

    y, score = _positive_scores(y_true, probs)
    fpr, tpr, _ = roc_curve(y, score)
    return _thin(list(zip(fpr, tpr)))


def write_curves(folder: Path, y_true: np.ndarray, probs: np.ndarray) -> list[tuple[float, float]]:
    """roc.csv (fpr, tpr) and pr.csv (recall, precision) for DVC's linear plots; returns the ROC points."""
    from sklearn.metrics import precision_recall_curve

    y, score = _positive_scores(y_true, probs)
    precision, recall, _ = precision_recall_curve(y, score)
    roc = roc_points(y_true, probs)
    for name, header, rows in (
        ("roc.csv", ("fpr", "tpr"), roc),
        ("pr.csv", ("recall", "precision"), _thin(list(zip(recall[::-1], precision[::-1])))),
    ):
        with open(folder / name, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    return roc


def plot_curves(path: Path, y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> None:
    """ROC and precision-recall per class (one-vs-rest), up to 12 classes drawn."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    ks = [1] if probs.shape[1] == 2 else range(min(12, probs.shape[1]))
    for k in ks:
        positive = (y_true == k).astype(int)
        if positive.min() == positive.max():
            continue
        fpr, tpr, _ = roc_curve(positive, probs[:, k])
        precision, recall, _ = precision_recall_curve(positive, probs[:, k])
        roc_ax.plot(fpr, tpr, label=classes[k])
        pr_ax.plot(recall, precision, label=classes[k])
    roc_ax.plot([0, 1], [0, 1], "k:", lw=1)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (one vs rest)")
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall (one vs rest)")
    roc_ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(path: Path, y_true: np.ndarray, probs: np.ndarray, ece: float, bins: int = 15) -> None:
    """Accuracy against confidence per bin; the diagonal is perfect calibration."""
    confidence, correct = probs.max(1), probs.argmax(1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    centres = (edges[:-1] + edges[1:]) / 2
    acc = [correct[which == b].mean() if (which == b).any() else np.nan for b in range(bins)]
    count = np.bincount(which, minlength=bins)
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(centres, acc, width=1 / bins, edgecolor="k", alpha=0.8, label="accuracy")
    ax.plot([0, 1], [0, 1], "r--", label="perfect calibration")
    ax.set(ylabel="accuracy", title=f"reliability (ECE {ece:.3f})")
    ax.legend(loc="upper left")
    hist.bar(centres, count, width=1 / bins, edgecolor="k")
    hist.set(xlabel="confidence", ylabel="samples")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confident_mistakes(
    path: Path, images: np.ndarray, y_true: np.ndarray, probs: np.ndarray, classes: list[str], n: int = 16
) -> int:
    """The n wrong predictions the model was surest of, with true and predicted labels."""
    from imgstudy.evaluation.plots import plot_tiles, rgb_tile

    wrong = np.flatnonzero(probs.argmax(1) != y_true)
    worst = wrong[np.argsort(-probs[wrong].max(1))][:n]
    cols = 8
    tiles, titles = [[]], [[]]
    for i in worst:
        if len(tiles[-1]) == cols:
            tiles.append([])
            titles.append([])
        p = probs[i].argmax()
        tiles[-1].append(rgb_tile(images[i]))
        titles[-1].append(f"true {classes[y_true[i]]}\npred {classes[p]} {probs[i, p]:.2f}")
    if len(worst):
        plot_tiles(path, tiles, titles, "most confident mistakes")
    else:
        blank = [[np.full((*images.shape[1:3], 3), 255, np.uint8)]]
        plot_tiles(path, blank, [[""]], "no mistakes")
    return len(worst)
