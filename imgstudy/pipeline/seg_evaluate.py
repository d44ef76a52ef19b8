"""seg_evaluate@<variant>: score one segmentation variant on the test split (Dice, IoU, pixel accuracy,
HD95, per class and per image) and draw its best, median and worst test images."""

from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.data.store import load_pairs, open_store, save_npz
from imgstudy.evaluation.segmetrics import image_score, per_image, summarize
from imgstudy.evaluation.segplots import plot_overlays
from imgstudy.params import Params
from imgstudy.pipeline.common import load_trained
from imgstudy.training.tasks import predict_masks


@dataclass(frozen=True)
class Files:
    variant: str
    store: Path
    splits: Path
    model: Path  # the variant's model folder
    metrics: Path  # test.json
    plots: Path  # per_image.csv, overlays.png
    predictions: Path  # per-image scores (.npz), what compare reads


def json_safe(value):
    """NaN (an undefined HD95) -> null: metrics files stay valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def run(params: Params, files: Files) -> dict:
    trained = load_trained(params, files.model)
    card = trained.card
    images, truth = load_pairs(open_store(files.store), files.splits, "test")
    pred, _ = predict_masks(
        trained.model, images, card.inputs, params.segment.batch_size * 2, trained.device, trained.precision
    )
    truth, pred, images = truth.numpy(), pred.numpy(), images.numpy()
    scores = per_image(pred, truth, len(card.classes))
    summary = {
        **summarize(scores, card.classes),
        "best_epoch": card.epoch + 1,
        "val_dice": card.scores["val_dice"],
        **json.loads((files.model / "summary.json").read_text()),
    }
    files.metrics.mkdir(parents=True, exist_ok=True)
    files.plots.mkdir(parents=True, exist_ok=True)
    (files.metrics / "test.json").write_text(json.dumps(json_safe(summary), indent=2) + "\n")
    score = image_score(scores)
    fg = slice(1, None) if scores["dice"].shape[1] > 1 else slice(None)
    iou = scores["iou"][:, fg].mean(1)
    with warnings.catch_warnings():  # an image whose HD95 is undefined for every class: NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        hd95 = np.nanmean(scores["hd95"][:, fg], axis=1)
    order = np.argsort(score, kind="stable")  # worst first
    write_per_image(files, order, score, iou, scores["pixel_accuracy"], hd95)
    # per-image scores, in test order, for compare's intervals and paired tests
    files.predictions.parent.mkdir(parents=True, exist_ok=True)
    save_npz(files.predictions, dice=score, iou=iou, hd95=hd95)
    k, mid = min(params.segment.overlays, len(order)), len(order) // 2
    start = max(0, mid - k // 2)
    chosen = {"worst": order[:k], "median": order[start : start + k], "best": order[::-1][:k]}
    picks = [(name, i) for name, rows in chosen.items() for i in rows]
    rows = [i for _, i in picks]
    titles = [f"{name}: Dice {score[i]:.3f}" for name, i in picks]
    plot_overlays(files.plots / "overlays.png", images[rows], truth[rows], pred[rows], titles)
    return {"variant": files.variant, **summary}


def write_per_image(files: Files, order, score, iou, pixel_accuracy, hd95) -> None:
    """Every test image's scores, worst first, named by its source file."""
    idx = np.load(files.splits / "test.npy")
    with open(files.store / "samples.csv", newline="") as f:
        sources = [row["source"] for row in csv.DictReader(f)]
    with open(files.plots / "per_image.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "source", "dice", "iou", "pixel_accuracy", "hd95"])
        for rank, i in enumerate(order):
            writer.writerow([
                rank, sources[idx[i]], round(float(score[i]), 6), round(float(iou[i]), 6),
                round(float(pixel_accuracy[i]), 6), "" if np.isnan(hd95[i]) else round(float(hd95[i]), 3),
            ])  # fmt: skip


def describe(result: dict) -> str:
    return (
        f"seg_evaluate {result['variant']}: Dice {result['dice_mean']:.4f} IoU {result['iou_mean']:.4f} "
        f"pixel accuracy {result['pixel_accuracy']:.4f} HD95 {result['hd95_mean']:.2f} px on "
        f"{result['images']} test images"
    )
