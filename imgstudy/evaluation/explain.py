"""Class activation maps (pytorch-grad-cam) and their overlays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from imgstudy.core.registry import Registry

# Names -> pytorch-grad-cam classes, imported on use: the library takes seconds to import
# and every stage validates params (which checks these names).
CAM_METHODS: Registry[str] = Registry("CAM method")
CAM_METHODS.register("gradcam")("GradCAM")
CAM_METHODS.register("gradcam++")("GradCAMPlusPlus")
CAM_METHODS.register("scorecam")("ScoreCAM")


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
    from imgstudy.evaluation.plots import plot_tiles, rgb_tile

    overlays = [overlay_tile(image, mask) for image, mask in zip(images, masks)]
    plot_tiles(path, [[rgb_tile(image) for image in images], overlays], [titles, [""] * len(titles)], heading)


def overlay_tile(image: np.ndarray, mask: np.ndarray, side: int = 96) -> np.ndarray:
    """The overlay drawn at about `side` px: the image enlarged by whole pixels, the map resized smoothly
    (its coarse cells would otherwise show as blocks)."""
    import cv2

    factor = max(1, side // max(image.shape[:2]))
    big = np.kron(image, np.ones((factor, factor, 1), np.uint8)) if factor > 1 else image
    smooth = cv2.resize(mask.astype(np.float32), (big.shape[1], big.shape[0]), interpolation=cv2.INTER_LINEAR)
    return overlay(big, smooth)


def pick_samples(labels: np.ndarray, preds: np.ndarray, num_classes: int, per_class: int) -> dict[int, np.ndarray]:
    """Per class: the first `per_class` correct and the first `per_class` wrong test images."""
    out = {}
    for c in range(num_classes):
        of_class = np.flatnonzero(labels == c)
        right, wrong = of_class[preds[of_class] == c][:per_class], of_class[preds[of_class] != c][:per_class]
        out[c] = np.concatenate([right, wrong])
    return out


@torch.no_grad()
def _target_probs(model: nn.Module, x_unit: torch.Tensor, normalize, targets: torch.Tensor) -> torch.Tensor:
    return model(normalize(x_unit)).float().softmax(1).gather(1, targets[:, None])[:, 0]


def deletion_curves(
    model: nn.Module, x_unit: torch.Tensor, masks: np.ndarray, targets: list[int], normalize, steps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Probability of the target class as the most-activated pixels are deleted, 0 to 100%
    in `steps` steps, against deleting the same number of random pixels.

    x_unit: (B, C, H, W) in [0, 1]; a deleted pixel takes its image's mean colour. Returns
    two (steps + 1,) curves averaged over the batch; a faithful map falls faster than random.
    """
    model.eval()
    b, c, h, w = x_unit.shape
    t = torch.tensor(targets, device=x_unit.device)
    fill = x_unit.mean(dim=(2, 3), keepdim=True).expand_as(x_unit)
    by_cam = torch.from_numpy(np.argsort(-masks.reshape(b, -1), axis=1, kind="stable").copy()).to(x_unit.device)
    gen = torch.Generator().manual_seed(seed)
    by_random = torch.stack([torch.randperm(h * w, generator=gen) for _ in range(b)]).to(x_unit.device)
    curves = []
    for order in (by_cam, by_random):
        values = []
        for step in range(steps + 1):
            k = round(step / steps * h * w)
            keep = torch.ones(b, h * w, device=x_unit.device)
            keep.scatter_(1, order[:, :k], 0.0)
            keep = keep.view(b, 1, h, w)
            values.append(_target_probs(model, x_unit * keep + fill * (1 - keep), normalize, t).mean().item())
        curves.append(np.array(values))
    return curves[0], curves[1]


def area_under(curve: np.ndarray) -> float:
    """Trapezoid area of a curve sampled evenly on [0, 1]."""
    return float(np.trapezoid(curve, dx=1 / (len(curve) - 1)))


def plot_mean_maps(path: Path, maps: dict[str, np.ndarray], heading: str) -> None:
    """One averaged activation map per class: where the model looks for that class, on average."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(maps)
    cols = min(10, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, m) in zip(axes.ravel(), maps.items()):
        ax.imshow(m, cmap="jet", vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
    fig.suptitle(heading, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_deletion(path: Path, cam: np.ndarray, random: np.ndarray, method: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.linspace(0, 100, len(cam))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(x, cam, marker="o", label=f"most activated first ({method}), AUC {area_under(cam):.3f}")
    ax.plot(x, random, marker="o", label=f"random pixels, AUC {area_under(random):.3f}")
    ax.set(xlabel="% of pixels deleted", ylabel="P(predicted class)", title="deletion curve (lower = more faithful)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
