"""seg_evaluate: score one segmentation variant on the test split (Dice, IoU, pixel accuracy,
HD95, per class and per image) and draw its best, median and worst test images."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np

from imgstudy import params as P
from imgstudy.data.store import load_pairs, open_store
from imgstudy.evaluation.segmetrics import image_score, per_image, summarize
from imgstudy.evaluation.segplots import plot_overlays
from imgstudy.training.precision import choose_precision
from imgstudy.training.runtime import select_device, setup_runtime
from imgstudy.training.segment import load_model
from imgstudy.training.tasks import predict_masks
from stages import cli, variant_parser


def finite(value):
    """NaN (an undefined HD95) -> null: metrics files stay valid JSON."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def run(
    p: P.Params, store: Path, splits: Path, model_dir: Path, metrics: Path, plots: Path, predictions: Path | None = None
) -> dict:
    setup_runtime(p.base.seed, p.base.threads)
    device = select_device(p.base.device)
    model, card, inputs = load_model(model_dir / "model.pt", device)
    images, truth = load_pairs(open_store(store), splits, "test")
    precision = choose_precision(card["params"]["segment"]["speed"]["precision"], device)
    pred, _ = predict_masks(model, images, inputs, p.segment.batch_size * 2, device, precision)
    truth, pred, images = truth.numpy(), pred.numpy(), images.numpy()
    scores = per_image(pred, truth, len(card["mask_classes"]))
    summary = {
        **summarize(scores, card["mask_classes"]),
        "best_epoch": card["epoch"] + 1,
        "val_dice": card["val_dice"],
        **json.loads((model_dir / "summary.json").read_text()),
    }
    metrics.mkdir(parents=True, exist_ok=True)
    plots.mkdir(parents=True, exist_ok=True)
    (metrics / "test.json").write_text(json.dumps(finite(summary), indent=2) + "\n")

    score = image_score(scores)
    order = np.argsort(score, kind="stable")  # worst first
    idx = np.load(splits / "test.npy")
    with open(store / "samples.csv", newline="") as f:
        sources = [row["source"] for row in csv.DictReader(f)]
    fg = slice(1, None) if scores["dice"].shape[1] > 1 else slice(None)
    iou = scores["iou"][:, fg].mean(1)
    with warnings.catch_warnings():  # an image whose HD95 is undefined for every class: NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        hd95 = np.nanmean(scores["hd95"][:, fg], axis=1)
    with open(plots / "per_image.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "source", "dice", "iou", "pixel_accuracy", "hd95"])
        for rank, i in enumerate(order):
            writer.writerow(
                [
                    rank,
                    sources[idx[i]],
                    round(float(score[i]), 6),
                    round(float(iou[i]), 6),
                    round(float(scores["pixel_accuracy"][i]), 6),
                    "" if np.isnan(hd95[i]) else round(float(hd95[i]), 3),
                ]
            )
    if predictions is not None:  # per-image scores, in test order, for compare's intervals and paired tests
        predictions.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(predictions, dice=score, iou=iou, hd95=hd95)
    k = min(p.segment.overlays, len(order))
    mid = len(order) // 2
    chosen = {
        "worst": order[:k],
        "median": order[max(0, mid - k // 2) : max(0, mid - k // 2) + k],
        "best": order[::-1][:k],
    }
    picks = [(name, i) for name, rows in chosen.items() for i in rows]
    plot_overlays(
        plots / "overlays.png",
        images[[i for _, i in picks]],
        truth[[i for _, i in picks]],
        pred[[i for _, i in picks]],
        [f"{name}: Dice {score[i]:.3f}" for name, i in picks],
    )
    return summary


@cli
def main() -> None:
    parser = variant_parser(
        __doc__,
        model="model folder of this variant",
        metrics="metrics folder of this variant",
        plots="plots folder of this variant",
        predictions="per-image scores for compare (.npz)",
    )
    args = parser.parse_args()
    s = run(
        P.load(args.params, args.variant),
        args.store,
        args.splits,
        args.model,
        args.metrics,
        args.plots,
        args.predictions,
    )
    print(
        f"seg_evaluate {args.variant}: Dice {s['dice_mean']:.4f} IoU {s['iou_mean']:.4f} "
        f"pixel accuracy {s['pixel_accuracy']:.4f} HD95 {s['hd95_mean']:.2f} px on {s['images']} test images"
    )


if __name__ == "__main__":
    main()
