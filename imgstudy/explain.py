"""Class activation maps (pytorch-grad-cam) and their overlays."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from imgstudy.registry import Registry

# Names -> pytorch-grad-cam classes, imported on use: the library takes seconds to import
# and every stage validates params (which checks these names).
CAM_METHODS: Registry[str] = Registry("CAM method")
CAM_METHODS.register("gradcam")("GradCAM")
CAM_METHODS.register("gradcam++")("GradCAMPlusPlus")
CAM_METHODS.register("scorecam")("ScoreCAM")


def first_per_class(labels: np.ndarray, num_classes: int, per_class: int) -> dict[int, np.ndarray]:
    """Positions of the first `per_class` samples of each class: a fixed, reproducible pick."""
    return {c: np.flatnonzero(labels == c)[:per_class] for c in range(num_classes)}


def cam_maps(model: nn.Module, layer: nn.Module, x: torch.Tensor, targets: list[int], method: str) -> np.ndarray:
    """(B, C, H, W) normalized input -> (B, H, W) activation maps in [0, 1] for the target classes."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model.eval()
    with getattr(pytorch_grad_cam, CAM_METHODS[method])(model=model, target_layers=[layer]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in targets])


def overlay(image_u8: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 image and (H, W) map in [0, 1] -> (H, W, 3) uint8 heat-map overlay."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    rgb = image_u8.astype(np.float32) / 255
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    return show_cam_on_image(rgb, mask.astype(np.float32), use_rgb=True)


def plot_class_grid(path: Path, images: np.ndarray, masks: np.ndarray, titles: list[str], heading: str) -> None:
    """Top row the images, bottom row their overlays; one column per sample."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.8 * n, 3.8), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(images[i].squeeze(), cmap="gray" if images[i].shape[-1] == 1 else None)
        axes[0, i].set_title(titles[i], fontsize=8)
        axes[1, i].imshow(overlay(images[i], masks[i]), interpolation="bilinear")
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle(heading, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
