"""Class probabilities of a trained model over uint8 images, with test-time augmentation."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from imgstudy.params.choices import TTA
from imgstudy.training.inputs import Inputs
from imgstudy.training.precision import FP32, Precision
from imgstudy.training.runtime import batches

TTA_VIEWS = TTA


def views(x: torch.Tensor, tta: str) -> list[torch.Tensor]:
    """Test-time augmentation views of a (B, C, H, W) batch: the image, its mirror, 2-px shifts."""
    out = [x]
    if tta in ("hflip", "hflip_shift"):
        out.append(x.flip(-1))
    if tta == "hflip_shift":
        for dy, dx in ((2, 0), (-2, 0), (0, 2), (0, -2)):
            out.append(torch.roll(x, shifts=(dy, dx), dims=(-2, -1)))
    return out


@torch.no_grad()
def predict_probs(
    model: nn.Module,
    images: torch.Tensor,
    inputs: Inputs,
    batch_size: int,
    device: torch.device,
    precision: Precision = FP32,
    tta: str = "none",
) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, classes) probabilities, averaged over the TTA views."""
    if tta not in TTA_VIEWS:
        raise ValueError(f"tta {tta!r}; choose one of {TTA_VIEWS}")
    model.eval()
    out = []
    for idx in batches(len(images), batch_size):
        x = inputs(images[idx].to(device))
        with precision.autocast(device):
            out.append(torch.stack([model(v).float().softmax(1) for v in views(x, tta)]).mean(0).cpu())
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def latency_ms(
    model: nn.Module,
    inputs: Inputs,
    images: torch.Tensor,
    batch: int,
    device: torch.device,
    precision: Precision = FP32,
    repeats: int = 5,
) -> float:
    """Milliseconds per image to classify `batch` images at once (decoded uint8 in, probabilities
    out), the median of `repeats` timed calls after one warm-up call."""
    x = images[:batch]
    if len(x) < batch:  # a small test split: repeat its images up to the batch size
        x = x.repeat((batch + len(x) - 1) // len(x), 1, 1, 1)[:batch]
    times = []
    for i in range(repeats + 1):
        began = time.perf_counter()
        predict_probs(model, x, inputs, batch, device, precision)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first call warms caches and allocators
            times.append(time.perf_counter() - began)
    return 1000 * float(np.median(times)) / batch
