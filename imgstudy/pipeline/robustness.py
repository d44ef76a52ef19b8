"""The robustness part of evaluate@<variant>: accuracy of the variant's model on corrupted copies of the
test split, and on the MNIST study's mixed altered test set when robustness.altered.enabled.

It runs in evaluate's process on the model and test split evaluate loaded: a stage of its own would
import torch and torchvision and load both again (about 8 s a variant on 2 cores, bench/results.md)."""

from __future__ import annotations

import csv
import json
from functools import partial
from pathlib import Path

import numpy as np

from imgstudy.evaluation.metrics import plot_confusion
from imgstudy.evaluation.plots import plot_robustness
from imgstudy.evaluation.robustness import CORRUPTIONS, SEVERITIES, altered_set_predictions, predictions_under
from imgstudy.params import Params
from imgstudy.pipeline.common import Trained
from imgstudy.training.augment import Augment


def altered(params: Params, trained: Trained, images, labels, plots: Path) -> dict:
    """Accuracy on the test images + an augmented copy + an imperfect copy, and its confusion matrix."""
    spec, card = params.robustness.altered, trained.card
    clean, augmented, imperfect = altered_set_predictions(
        trained.model,
        card.inputs,
        trained.precision,
        images,
        Augment(rotation=spec.rotation, zoom=spec.zoom, shift=spec.shift),
        Augment(thin=1.0, shrink=spec.shrink),
        params.base.seed,
        params.robustness.batch_size,
        trained.device,
    )
    y = np.tile(labels.numpy(), 3)
    pred = np.concatenate([clean.numpy(), augmented.numpy(), imperfect.numpy()])
    plot_confusion(plots / "altered_confusion.png", y, pred, card.classes)
    with open(plots / "altered_confusion.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        writer.writerows((card.classes[t], card.classes[q]) for t, q in zip(y.tolist(), pred.tolist()))
    n = len(labels)
    parts = ("original", "augmented", "imperfect")
    return {
        "altered_accuracy": float((pred == y).mean()),
        "altered_samples": int(3 * n),
        "altered_parts": {part: float((pred[i * n : (i + 1) * n] == y[:n]).mean()) for i, part in enumerate(parts)},
    }


def run(params: Params, trained: Trained, all_images, all_labels, metrics: Path, plots: Path, summary: Path) -> dict:
    """all_images: the test split as the model takes it (prepared); writes metrics/robustness.json, the plots
    and the summary compare reads."""
    settings = params.robustness
    images, labels = all_images, all_labels
    if settings.max_samples and len(labels) > settings.max_samples:  # a fixed, evenly spread subset
        keep = np.linspace(0, len(labels) - 1, settings.max_samples).round().astype(int)
        images, labels = images[keep], labels[keep]

    def accuracy(corrupt) -> float:
        pred = predictions_under(
            trained.model, trained.card.inputs, trained.precision, images, corrupt, settings.batch_size, trained.device
        )
        return float((pred == labels).float().mean())

    table = {
        c: {str(s): accuracy(partial(CORRUPTIONS[c], severity=s)) for s in SEVERITIES} for c in settings.corruptions
    }
    clean = accuracy(None)
    mean = float(np.mean([a for row in table.values() for a in row.values()]))
    result = {
        "clean_accuracy": clean,
        "mean_corruption_accuracy": mean,
        "samples": int(len(labels)),
        "corruptions": table,
    }
    metrics.mkdir(parents=True, exist_ok=True)
    plots.mkdir(parents=True, exist_ok=True)
    if settings.altered.enabled:
        result.update(altered(params, trained, all_images, all_labels, plots))
    (metrics / "robustness.json").write_text(json.dumps(result, indent=2) + "\n")
    with open(plots / "robustness.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["corruption", "severity", "accuracy"])
        writer.writerows((c, s, round(a, 6)) for c, row in table.items() for s, a in row.items())
    plot_robustness(plots / "robustness.png", table, clean)
    compared = {
        "clean_accuracy": clean,
        "mean_corruption_accuracy": mean,
        "altered_accuracy": result.get("altered_accuracy"),
        "per_corruption": {c: float(np.mean(list(row.values()))) for c, row in table.items()},
    }
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps(compared, indent=2) + "\n")
    return result


def describe(result: dict) -> str:
    altered_part = f", altered set {result['altered_accuracy']:.4f}" if "altered_accuracy" in result else ""
    return (
        f"clean {result['clean_accuracy']:.4f}, mean corruption {result['mean_corruption_accuracy']:.4f}{altered_part}"
    )
