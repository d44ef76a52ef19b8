"""Deterministic corruptions of test images at fixed severities (1 = mild ... 3 = strong).

Geometric ranges follow the MNIST study's ImageDataGenerator (rotation up to 30 deg,
shifts and zooms up to 15-30%); "imperfect" is its create_imperfect_image: strokes
thinned by erosion and the digit shrunk. Each corruption takes a (B, C, H, W) float batch
in [0, 1] and returns the same shape; signs alternate over the batch so a corrupted test
set has as many left as right rotations, up as down shifts, zoom-ins as zoom-outs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from imgstudy.core.registry import Registry
from imgstudy.data.images import to_unit
from imgstudy.training.augment import Augment
from imgstudy.training.inputs import Inputs
from imgstudy.training.precision import Precision
from imgstudy.training.runtime import batches

Corruption = Callable[[torch.Tensor, int], torch.Tensor]
CORRUPTIONS: Registry[Corruption] = Registry("corruption")

# The stated amount of each corruption at severities 1, 2, 3.
LEVELS = {
    "shift": (0.05, 0.10, 0.15),  # fraction of the side
    "rotate": (10.0, 20.0, 30.0),  # degrees
    "zoom": (0.10, 0.20, 0.30),  # relative scale change
    "contrast": (0.7, 0.5, 0.3),  # factor on the deviation from the image mean
    "brightness": (0.1, 0.2, 0.3),  # added on the 0..1 scale
    "noise": (0.05, 0.10, 0.20),  # Gaussian sigma on the 0..1 scale
    "blur": (0.5, 1.0, 1.5),  # Gaussian sigma in pixels
    "imperfect": (0.9, 0.8, 0.7),  # shrink factor, after one erosion
}


def _signs(b: int, device) -> torch.Tensor:
    return torch.where(torch.arange(b, device=device) % 2 == 0, 1.0, -1.0)


def _affine(
    x: torch.Tensor, angle_deg: torch.Tensor, scale: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor
) -> torch.Tensor:
    a = angle_deg * math.pi / 180
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _level(name: str, severity: int) -> float:
    if not 1 <= severity <= 3:
        raise ValueError(f"severity {severity}; use 1, 2 or 3")
    return LEVELS[name][severity - 1]


@CORRUPTIONS.register("shift")
def shift(x: torch.Tensor, severity: int) -> torch.Tensor:
    b, s = len(x), _level("shift", severity)
    d = 2 * s * _signs(b, x.device)  # theta translates in [-1, 1] units: 2 per side
    zero = torch.zeros(b, device=x.device)
    return _affine(x, zero, torch.ones(b, device=x.device), d, d.roll(1))


@CORRUPTIONS.register("rotate")
def rotate(x: torch.Tensor, severity: int) -> torch.Tensor:
    b = len(x)
    zero = torch.zeros(b, device=x.device)
    return _affine(x, _level("rotate", severity) * _signs(b, x.device), torch.ones(b, device=x.device), zero, zero)


@CORRUPTIONS.register("zoom")
def zoom(x: torch.Tensor, severity: int) -> torch.Tensor:
    b = len(x)
    zero = torch.zeros(b, device=x.device)
    return _affine(x, zero, 1 + _level("zoom", severity) * _signs(b, x.device), zero, zero)


@CORRUPTIONS.register("contrast")
def contrast(x: torch.Tensor, severity: int) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * _level("contrast", severity) + mean).clamp(0, 1)


@CORRUPTIONS.register("brightness")
def brightness(x: torch.Tensor, severity: int) -> torch.Tensor:
    return (x + _level("brightness", severity) * _signs(len(x), x.device).view(-1, 1, 1, 1)).clamp(0, 1)


@CORRUPTIONS.register("noise")
def noise(x: torch.Tensor, severity: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1000 + severity)  # the same noise every run
    return (x + _level("noise", severity) * torch.randn(x.shape, generator=gen).to(x.device)).clamp(0, 1)


@CORRUPTIONS.register("blur")
def blur(x: torch.Tensor, severity: int) -> torch.Tensor:
    sigma = _level("blur", severity)
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(
        F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c
    )


@CORRUPTIONS.register("imperfect")
def imperfect(x: torch.Tensor, severity: int) -> torch.Tensor:
    """Thinned strokes (3x3 erosion, as for bright digits on dark) and the digit shrunk."""
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    b = len(x)
    zero = torch.zeros(b, device=x.device)
    return _affine(eroded, zero, torch.full((b,), _level("imperfect", severity), device=x.device), zero, zero)


SEVERITIES = (1, 2, 3)


@torch.no_grad()
def predictions_under(
    model: nn.Module,
    inputs: Inputs,
    precision: Precision,
    images: torch.Tensor,
    corrupt: Callable[[torch.Tensor], torch.Tensor] | None,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """(N, H, W, C) uint8 test images, changed by `corrupt` in [0, 1] space -> (N,) predicted classes."""
    model.eval()
    out = []
    for idx in batches(len(images), batch_size):
        x = to_unit(images[idx].to(device), inputs.channels).contiguous()
        if corrupt is not None:
            x = corrupt(x)
        with precision.autocast(device):
            out.append(model(inputs.finish(x)).argmax(1).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def altered_copies(
    x: torch.Tensor, first: int, augmented: Augment, imperfect: Augment, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST study's two altered copies of a batch of test images (B, C, H, W) in [0, 1]: one
    through ImageDataGenerator-like random changes, one "imperfect" (eroded and shrunk). Each
    batch's draws are seeded by its position, so the set is the same at any batch size split."""
    gen = torch.Generator().manual_seed(seed * 100_003 + first)
    return augmented(x, gen), imperfect(x, gen)


def altered_set_predictions(
    model: nn.Module,
    inputs: Inputs,
    precision: Precision,
    images: torch.Tensor,
    augmented: Augment,
    imperfect: Augment,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Predictions for the test images, their augmented copies and their imperfect copies (3N in all)."""
    model.eval()
    clean, aug, imp = [], [], []
    with torch.no_grad():
        for idx in batches(len(images), batch_size):
            x = to_unit(images[idx].to(device), inputs.channels).contiguous()
            a, i = altered_copies(x, int(idx[0]), augmented, imperfect, seed)
            for view, out in ((x, clean), (a, aug), (i, imp)):
                with precision.autocast(device):
                    out.append(model(inputs.finish(view)).argmax(1).cpu())
    return torch.cat(clean), torch.cat(aug), torch.cat(imp)
