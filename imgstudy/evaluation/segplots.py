"""Segmentation figures: image, ground truth and prediction side by side for chosen test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# class 0 (background) transparent; then distinct colours (RGB) for the classes
PALETTE = np.array(
    [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
    ],
    np.float32,
)


def color_overlay(image_u8: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """(H, W, C) uint8 and (H, W) class indices -> (H, W, 3) uint8, classes tinted over the image."""
    rgb = np.repeat(image_u8, 3, axis=-1) if image_u8.shape[-1] == 1 else image_u8
    rgb = rgb.astype(np.float32)
    colors = PALETTE[labels % len(PALETTE)]
    tint = (labels > 0)[..., None]
    return np.where(tint, (1 - alpha) * rgb + alpha * colors, rgb).round().astype(np.uint8)


def plot_overlays(path: Path, images: np.ndarray, truth: np.ndarray, pred: np.ndarray, titles: list[str]) -> None:
    """One row per image: the image, the ground truth over it, the prediction over it."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(6.6, 2.2 * n), squeeze=False)
    for i in range(n):
        panels = (images[i].squeeze(), color_overlay(images[i], truth[i]), color_overlay(images[i], pred[i]))
        for j, (panel, name) in enumerate(zip(panels, ("image", "ground truth", "prediction"))):
            axes[i, j].imshow(panel, cmap="gray" if panel.ndim == 2 else None, interpolation="nearest")
            axes[i, j].set_title(f"{titles[i]}\n{name}" if j == 0 else name, fontsize=8)
            axes[i, j].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
