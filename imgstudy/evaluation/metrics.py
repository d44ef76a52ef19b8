"""Classification metrics (scikit-learn) and their plots."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# scikit-learn is imported by the functions that compute with it: it takes a second to import, and the
# stages that only draw (compare, robustness's confusion matrix) do without it.


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Binary: AUC of the positive class; multi-class: one-vs-rest macro AUC. NaN if undefined."""
    from sklearn.metrics import roc_auc_score

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
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_pred = probs.argmax(1)
    labels = list(range(probs.shape[1]))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "roc_auc": roc_auc(y_true, probs),
    }


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence, correct = probs.max(1), (probs.argmax(1) == y_true)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def youden_threshold(y_true: np.ndarray, positive_probs: np.ndarray) -> float:
    """The probability threshold maximizing sensitivity + specificity - 1 (Youden's J).
    Chosen on the validation split, never on the test split."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(y_true, positive_probs)
    best = int(np.argmax(tpr - fpr))
    return float(min(1.0, thresholds[best]))


def detailed_metrics(y_true: np.ndarray, probs: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """Everything beyond the headline table; with `threshold` (binary tasks) also the
    sensitivity and specificity of "positive if P(class 1) >= threshold"."""
    from sklearn.metrics import (
        average_precision_score,
        balanced_accuracy_score,
        cohen_kappa_score,
        log_loss,
        precision_recall_fscore_support,
    )

    k = probs.shape[1]
    y_pred = probs.argmax(1)
    labels = list(range(k))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="weighted", zero_division=0
    )
    onehot = np.eye(k)[y_true]
    present = onehot.sum(0) > 0
    ap = (
        average_precision_score(y_true, probs[:, 1])
        if k == 2
        else average_precision_score(onehot[:, present], probs[:, present], average="macro")
    )
    out = {
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "precision_weighted": float(precision),
        "recall_weighted": float(recall),
        "f1_weighted": float(f1),
        "average_precision": float(ap),
        "log_loss": float(log_loss(y_true, np.clip(probs, 1e-7, 1), labels=labels)),
        "cohen_kappa": float(cohen_kappa_score(y_true, y_pred, labels=labels)),
        "ece": expected_calibration_error(y_true, probs),
    }
    if threshold is not None:
        positive = probs[:, 1] >= threshold
        tp, fn = np.sum(positive & (y_true == 1)), np.sum(~positive & (y_true == 1))
        tn, fp = np.sum(~positive & (y_true == 0)), np.sum(positive & (y_true == 0))
        out.update(
            threshold=threshold, sensitivity=float(tp / max(1, tp + fn)), specificity=float(tn / max(1, tn + fp))
        )
    return out


def confused_pairs(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], top: int = 10) -> list[dict]:
    """The most frequent (true, predicted) mistakes."""
    matrix = confusion_counts(y_true, y_pred, len(classes))
    np.fill_diagonal(matrix, 0)
    order = np.argsort(matrix, axis=None)[::-1][:top]
    return [
        {"actual": classes[i], "predicted": classes[j], "count": int(matrix[i, j])}
        for i, j in zip(*np.unravel_index(order, matrix.shape))
        if matrix[i, j] > 0
    ]


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """scikit-learn's classification report: precision, recall, F1 and support per class."""
    from sklearn.metrics import classification_report

    return classification_report(
        y_true, y_pred, labels=list(range(len(classes))), target_names=classes, output_dict=True, zero_division=0
    )


def write_confusion_csv(path: Path, y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> None:
    """One row per sample (actual, predicted): the input DVC's confusion template expects."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        writer.writerows((classes[t], classes[p]) for t, p in zip(y_true.tolist(), y_pred.tolist()))


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts, rows the actual class, columns the predicted one (scikit-learn's confusion_matrix)."""
    return np.bincount(np.asarray(y_true) * k + np.asarray(y_pred), minlength=k * k).reshape(k, k)


def plot_confusion(path: Path, y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> np.ndarray:
    """Counts and row-normalized (recall per class) side by side, annotated up to 20 classes."""
    matrix = confusion_counts(y_true, y_pred, len(classes))
    normalized = matrix / np.maximum(1, matrix.sum(1, keepdims=True))
    side = max(4.0, 0.5 * len(classes) + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 2, side))
    for ax, values, fmt, top in ((axes[0], matrix, "d", None), (axes[1], normalized, ".2f", 1.0)):
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=top if top else max(1, values.max()))
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ticks = range(len(classes))
        ax.set_xticks(ticks, classes, rotation=90 if len(classes) > 10 else 0)
        ax.set_yticks(ticks, classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        if len(classes) <= 20:
            high = (top or max(1, values.max())) / 2
            for (i, j), v in np.ndenumerate(values):
                ax.text(
                    j, i, format(v, fmt), ha="center", va="center", fontsize=8, color="white" if v > high else "black"
                )
    axes[0].set_title(f"counts ({matrix.trace()}/{matrix.sum()} correct)")
    axes[1].set_title("normalized by actual class")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return matrix
