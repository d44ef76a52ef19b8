"""evaluate@<variant>: score one variant's best model on the test split - clean, corrupted (robustness.py)
and explained (explain.py) - and keep its predictions and plots. The three parts share one process, one
loaded model and one pass of the test split."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.data.store import load_split, open_store, save_npz
from imgstudy.evaluation.curves import plot_confident_mistakes, plot_curves, plot_reliability, write_curves
from imgstudy.evaluation.inference import predict_probs
from imgstudy.evaluation.metrics import (
    confused_pairs,
    confusion_counts,
    detailed_metrics,
    per_class_report,
    plot_confusion,
    summary_metrics,
    write_confusion_csv,
    youden_threshold,
)
from imgstudy.params import Params
from imgstudy.pipeline import explain, robustness
from imgstudy.pipeline.common import Trained, load_trained
from imgstudy.training.tracking import log_evaluation


@dataclass(frozen=True)
class Files:
    variant: str
    store: Path
    splits: Path
    model: Path  # the variant's model folder
    metrics: Path  # test.json, classes.json, robustness.json
    plots: Path  # confusion, ROC and PR curves, reliability, mistakes
    robustness_plots: Path  # accuracy per corruption and severity (the altered set's confusion)
    gradcam: Path  # activation maps: a grid per class, the mean map per class, the deletion curves
    predictions: Path  # per-image probabilities (.npz), what compare reads
    robustness: Path  # the robustness summary compare reads (.json)


def uniform_where_not_finite(probs: np.ndarray, variant: str) -> tuple[np.ndarray, int]:
    """A diverged model (NaN or infinite outputs) predicts nothing for those images: they are scored as
    the uniform distribution (argmax: the first class) and counted, so one diverged variant shows in
    the comparison at chance level instead of stopping the study."""
    bad = ~np.isfinite(probs).all(1)
    if bad.any():
        probs = probs.copy()
        probs[bad] = 1.0 / probs.shape[1]
        print(
            f"warning: {variant}: {int(bad.sum())} of {len(probs)} outputs are not finite (did training diverge? "
            "see its train log); scored as uniform probabilities",
            file=sys.stderr,
        )
    return probs, int(bad.sum())


def per_class(y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> list[tuple[str, dict]]:
    report = per_class_report(y_true, probs.argmax(1), classes)
    return [(c, report[c]) for c in classes]


def split_probs(params: Params, trained: Trained, files: Files, split: str) -> tuple:
    """(images as stored, as the model takes them, labels, (class probabilities, count of non-finite
    outputs, scored as uniform)) of one split."""
    images, labels = load_split(open_store(files.store), files.splits, split)
    inputs = trained.card.inputs
    prepared = inputs.prepare(images)  # equalized when the variant asks: once, for every use below
    probs = predict_probs(
        trained.model, prepared, inputs, params.evaluate.batch_size, trained.device, trained.precision,
        params.evaluate.tta,
    )  # fmt: skip
    return images, prepared, labels, uniform_where_not_finite(probs.numpy(), files.variant)


def run(params: Params, files: Files) -> dict:
    trained = load_trained(params, files.model)
    images, prepared, labels, (probs, non_finite) = split_probs(params, trained, files, "test")
    summary = scores(params, trained, files, labels.numpy(), probs, non_finite)
    report = write_outputs(files, summary, images.numpy(), labels.numpy(), probs, trained.card.classes)
    tracking = params.tracking
    if tracking.mlflow:  # the test scores beside the training run's curves, and a model version to deploy
        log_evaluation(tracking.uri, tracking.experiment, files.variant, summary, report, files.model / "model.pt")
    corrupted = robustness.run(
        params, trained, prepared, labels, files.metrics, files.robustness_plots, files.robustness
    )  # fmt: skip
    explained = explain.run(params, trained, images, prepared, labels.numpy(), probs, files.gradcam, files.metrics)
    return {"variant": files.variant, **summary, "robustness": corrupted, "explain": explained}


def scores(params: Params, trained: Trained, files: Files, y_true: np.ndarray, probs, non_finite: int) -> dict:
    """test.json: the metrics, what the model is, and what studies report per class."""
    card = trained.card
    threshold = None
    if probs.shape[1] == 2:  # binary: the operating threshold comes from validation, never from test
        _, _, y_val, (p_val, _) = split_probs(params, trained, files, "val")
        y_val = y_val.numpy()
        threshold = youden_threshold(y_val, p_val[:, 1]) if len(np.unique(y_val)) == 2 else 0.5
    trained_summary = json.loads((files.model / "summary.json").read_text())
    summary = {
        **summary_metrics(y_true, probs),
        **detailed_metrics(y_true, probs, threshold),
        "samples": int(len(y_true)),
        "best_epoch": card.epoch + 1,
        "tta": params.evaluate.tta,
        "parameters": trained_summary["parameters"],
        "precision": trained.precision.name,
        **({"non_finite_outputs": non_finite} if non_finite else {}),
        # what studies report per class (a COVID class's precision and recall, true positives...)
        "per_class": {c: {k: r[k] for k in ("precision", "recall")} for c, r in per_class(y_true, probs, card.classes)},
        "confusion": confusion_counts(y_true, probs.argmax(1), len(card.classes)).tolist(),  # rows: actual
    }
    if (files.model / "cv.json").is_file():  # k-fold validation scores from the train stage
        cv = json.loads((files.model / "cv.json").read_text())
        summary.update({k: cv[k] for k in ("val_acc_mean", "val_acc_std", "val_loss_mean", "val_loss_std")})
    return summary


def write_outputs(files: Files, summary: dict, images, y_true, probs, classes: list[str]) -> dict:
    """Every file of the stage but robustness's; returns the per-class report."""
    for folder in (files.metrics, files.plots, files.predictions.parent):
        folder.mkdir(parents=True, exist_ok=True)
    y_pred = probs.argmax(1)
    (files.metrics / "test.json").write_text(json.dumps(summary, indent=2) + "\n")
    report = {
        "classes": per_class_report(y_true, y_pred, classes),
        "confused_pairs": confused_pairs(y_true, y_pred, classes),
    }
    (files.metrics / "classes.json").write_text(json.dumps(report, indent=2) + "\n")
    plots = files.plots
    write_confusion_csv(plots / "confusion.csv", y_true, y_pred, classes)
    shutil.copyfile(plots / "confusion.csv", plots / "confusion_normalized.csv")  # a second DVC template
    plot_confusion(plots / "confusion.png", y_true, y_pred, classes)
    roc = write_curves(plots, y_true, probs)
    plot_curves(plots / "curves.png", y_true, probs, classes)
    plot_reliability(plots / "reliability.png", y_true, probs, summary["ece"])
    plot_confident_mistakes(plots / "mistakes.png", images, y_true, probs, classes)
    with open(plots / "confused_pairs.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["pair", "count"])
        writer.writerows((f"{c['actual']} -> {c['predicted']}", c["count"]) for c in report["confused_pairs"])
    # Per-sample predictions: what compare needs for confidence intervals and paired tests.
    save_npz(
        files.predictions,
        y_true=y_true,
        probs=probs.astype(np.float32),
        classes=np.array(classes),
        variant=files.variant,
        summary=json.dumps(summary),
        roc=np.array(roc, dtype=np.float64).reshape(-1, 2),  # (fpr, tpr) points: compare's ROC of the best
    )
    return report


def describe(result: dict) -> str:
    headline = ", ".join(f"{k} {result[k]:.4f}" for k in ("accuracy", "f1_macro", "roc_auc", "log_loss", "ece"))
    return (
        f"evaluate {result['variant']}: {headline}; corrupted: {robustness.describe(result['robustness'])}; "
        f"activation maps: {explain.describe(result['explain'])}"
    )
