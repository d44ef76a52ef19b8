"""Segmentation scores per image and class: Dice, IoU, pixel accuracy, 95% Hausdorff distance.

Conventions (those of the medical segmentation literature): a class absent from both the
truth and the prediction scores Dice = IoU = 1 (nothing to find, nothing found); absent from
exactly one, 0. HD95 is undefined when either side is empty: NaN, left out of means and
counted. Means over classes are over the foreground classes (1..K-1).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def overlap(pred: np.ndarray, true: np.ndarray, k: int) -> tuple[float, float]:
    """(Dice, IoU) of class k between two (H, W) label maps."""
    p, t = pred == k, true == k
    inter, total = np.logical_and(p, t).sum(), p.sum() + t.sum()
    if total == 0:
        return 1.0, 1.0
    return float(2 * inter / total), float(inter / (total - inter))


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def hd95(pred: np.ndarray, true: np.ndarray, k: int) -> float:
    """95th percentile of the symmetric surface distances of class k, in pixels (NaN if one is empty)."""
    p, t = pred == k, true == k
    if not p.any() or not t.any():
        return 0.0 if not p.any() and not t.any() else float("nan")
    sp, st = _surface(p), _surface(t)
    to_t = ndimage.distance_transform_edt(~st)[sp]  # each predicted edge pixel -> nearest true edge
    to_p = ndimage.distance_transform_edt(~sp)[st]
    return float(np.percentile(np.concatenate([to_t, to_p]), 95))


def per_image(pred: np.ndarray, true: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """(N, H, W) label maps -> arrays per image: dice/iou/hd95 (N, K) and pixel_accuracy (N,)."""
    n = len(true)
    dice, iou, hd = (np.zeros((n, num_classes)) for _ in range(3))
    for i in range(n):
        for k in range(num_classes):
            dice[i, k], iou[i, k] = overlap(pred[i], true[i], k)
            hd[i, k] = hd95(pred[i], true[i], k) if k else 0.0
    acc = (pred == true).reshape(n, -1).mean(1)
    return {"dice": dice, "iou": iou, "hd95": hd, "pixel_accuracy": acc}


def summarize(scores: dict[str, np.ndarray], classes: list[str]) -> dict:
    """Per-class and mean scores of the whole test split, for metrics/*.json."""
    fg = slice(1, None) if len(classes) > 1 else slice(None)
    hd = scores["hd95"][:, fg]
    out = {
        "dice_mean": float(scores["dice"][:, fg].mean()),
        "iou_mean": float(scores["iou"][:, fg].mean()),
        "pixel_accuracy": float(scores["pixel_accuracy"].mean()),
        "hd95_mean": float(np.nanmean(hd)) if np.isfinite(hd).any() else float("nan"),
        "hd95_undefined": int(np.isnan(hd).sum()),
        "images": len(scores["pixel_accuracy"]),
        "per_class": {},
    }
    for k, name in enumerate(classes):
        col = scores["hd95"][:, k]
        out["per_class"][name] = {
            "dice": float(scores["dice"][:, k].mean()),
            "iou": float(scores["iou"][:, k].mean()),
            "hd95": float(np.nanmean(col)) if np.isfinite(col).any() else float("nan"),
        }
    return out


def image_score(scores: dict[str, np.ndarray]) -> np.ndarray:
    """One figure per image to rank them: mean foreground Dice."""
    d = scores["dice"]
    return d[:, 1:].mean(1) if d.shape[1] > 1 else d[:, 0]
