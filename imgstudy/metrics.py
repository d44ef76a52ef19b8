"""Classification metrics (scikit-learn) and their plots."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Binary: AUC of the positive class; multi-class: one-vs-rest macro AUC. NaN if undefined."""
    present = np.unique(y_true)
    if len(present) < 2:
        return float("nan")
    if probs.shape[1] == 2:
        return float(roc_auc_score(y_true, probs[:, 1]))
    if len(present) < probs.shape[1]:  # a class absent from these labels has no AUC
        return float(np.mean([roc_auc_score(y_true == k, probs[:, k]) for k in present]))
    return float(roc_auc_score(y_true, probs, multi_class="ovr", average="macro"))


def summary_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """The headline test metrics from true labels (N,) and class probabilities (N, K)."""
    y_pred = probs.argmax(1)
    labels = list(range(probs.shape[1]))
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro",
                                                               zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "roc_auc": roc_auc(y_true, probs),
    }


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """scikit-learn's classification report: precision, recall, F1 and support per class."""
    return classification_report(y_true, y_pred, labels=list(range(len(classes))), target_names=classes,
                                 output_dict=True, zero_division=0)


def write_confusion_csv(path: Path, y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> None:
    """One row per sample (actual, predicted): the input DVC's confusion template expects."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        writer.writerows((classes[t], classes[p]) for t, p in zip(y_true.tolist(), y_pred.tolist()))


def plot_confusion(path: Path, y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> np.ndarray:
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(classes))))
    side = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    sns.heatmap(matrix, annot=len(classes) <= 20, fmt="d", cmap="Blues", cbar=True,
                xticklabels=classes, yticklabels=classes, ax=ax)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"confusion matrix ({matrix.trace()}/{matrix.sum()} correct)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return matrix
