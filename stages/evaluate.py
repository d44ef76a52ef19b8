"""evaluate: score one variant's best model on the test split; keep its predictions and plots."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from imgstudy import params as P
from imgstudy.data.store import load_split, open_store
from imgstudy.evaluation.curves import plot_confident_mistakes, plot_curves, plot_reliability, write_curves
from imgstudy.evaluation.inference import latency_ms, predict_probs
from imgstudy.evaluation.metrics import (
    confused_pairs,
    detailed_metrics,
    per_class_report,
    plot_confusion,
    summary_metrics,
    write_confusion_csv,
    youden_threshold,
)
from imgstudy.training import checkpoint
from imgstudy.training.runtime import select_device, setup_runtime
from stages import cli, variant_parser


def finite(probs: np.ndarray, variant: str) -> tuple[np.ndarray, int]:
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


def run(
    p: P.Params, variant: str, store: Path, splits: Path, model_dir: Path, metrics: Path, plots: Path, predictions: Path
) -> dict:
    setup_runtime(p.base.seed, p.base.threads)
    device = select_device(p.base.device)
    model, card = checkpoint.load(model_dir / "model.pt", device)
    precision = checkpoint.inference_precision(card, device)
    st, e = open_store(store), p.evaluate

    def probs_of(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        images, labels = load_split(st, splits, split)
        probs = predict_probs(model, card.inputs.prepare(images), card.inputs, e.batch_size, device, precision, e.tta)
        return images.numpy(), labels.numpy(), probs.numpy()

    images, y_true, probs = probs_of("test")
    probs, non_finite = finite(probs, variant)
    threshold = None
    if probs.shape[1] == 2:  # binary: the operating threshold comes from validation, never from test
        _, y_val, p_val = probs_of("val")
        p_val = finite(p_val, variant)[0]
        threshold = youden_threshold(y_val, p_val[:, 1]) if len(np.unique(y_val)) == 2 else 0.5
    y_pred = probs.argmax(1)
    trained = json.loads((model_dir / "summary.json").read_text())
    summary = {
        **summary_metrics(y_true, probs),
        **detailed_metrics(y_true, probs, threshold),
        "samples": int(len(y_true)),
        "best_epoch": card.epoch + 1,
        "tta": e.tta,
        "train_seconds": trained["seconds"],
        "parameters": trained["parameters"],
        "precision": precision.name,
    }
    if non_finite:
        summary["non_finite_outputs"] = non_finite
    if e.latency_repeats:  # inference speed where this stage ran: one image at a time, and in batches
        test_images = torch.from_numpy(images)
        summary.update(
            {
                f"latency_ms_b{b}": latency_ms(model, card.inputs, test_images, b, device, precision, e.latency_repeats)
                for b in (1, 256)
            }
        )
    if (model_dir / "cv.json").is_file():  # k-fold validation scores from the train stage
        cv = json.loads((model_dir / "cv.json").read_text())
        summary.update({k: cv[k] for k in ("val_acc_mean", "val_acc_std", "val_loss_mean", "val_loss_std")})
    for folder in (metrics, plots, predictions.parent):
        folder.mkdir(parents=True, exist_ok=True)
    (metrics / "test.json").write_text(json.dumps(summary, indent=2) + "\n")
    report = {
        "classes": per_class_report(y_true, y_pred, card.classes),
        "confused_pairs": confused_pairs(y_true, y_pred, card.classes),
    }
    (metrics / "classes.json").write_text(json.dumps(report, indent=2) + "\n")

    write_confusion_csv(plots / "confusion.csv", y_true, y_pred, card.classes)
    shutil.copyfile(plots / "confusion.csv", plots / "confusion_normalized.csv")  # a second DVC template
    plot_confusion(plots / "confusion.png", y_true, y_pred, card.classes)
    write_curves(plots, y_true, probs)
    plot_curves(plots / "curves.png", y_true, probs, card.classes)
    plot_reliability(plots / "reliability.png", y_true, probs, summary["ece"])
    plot_confident_mistakes(plots / "mistakes.png", images, y_true, probs, card.classes)
    with open(plots / "confused_pairs.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["pair", "count"])
        writer.writerows((f"{c['actual']} -> {c['predicted']}", c["count"]) for c in report["confused_pairs"])
    # Per-sample predictions: what compare needs for confidence intervals and paired tests.
    np.savez_compressed(
        predictions,
        y_true=y_true,
        probs=probs.astype(np.float32),
        classes=np.array(card.classes),
        variant=variant,
        summary=json.dumps(summary),
    )
    return summary


@cli
def main() -> None:
    parser = variant_parser(
        __doc__,
        model="model folder of this variant",
        metrics="metrics folder of this variant",
        plots="plots folder of this variant",
        predictions="predictions file (.npz) of this variant",
    )
    args = parser.parse_args()
    p = P.load(args.params, args.variant)
    summary = run(p, args.variant, args.store, args.splits, args.model, args.metrics, args.plots, args.predictions)
    print(
        f"evaluate {args.variant}: "
        + ", ".join(f"{k} {summary[k]:.4f}" for k in ("accuracy", "f1_macro", "roc_auc", "log_loss", "ece"))
    )


if __name__ == "__main__":
    main()
