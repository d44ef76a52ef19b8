"""Mixup and CutMix on whole batches: images mixed with a shuffled copy of their batch, and the
labels with them (the loss is the same mix of the two labels' losses).

mixup (Zhang et al. 2018): x = lam * x + (1 - lam) * x[perm], lam ~ Beta(a, a).
cutmix (Yun et al. 2019): a box of area (1 - lam) pasted from x[perm]; lam is then the area
actually kept. When both are on, each batch takes one of them at random (as timm does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class MixedTarget:
    a: torch.Tensor  # (B,) labels of the images
    b: torch.Tensor  # (B,) labels of the images mixed in
    lam: float  # weight of `a`


@dataclass(frozen=True, kw_only=True)
class Mixing:
    mixup: float = 0.0  # Beta(a, a) parameter; 0 = off
    cutmix: float = 0.0  # Beta(a, a) parameter; 0 = off
    prob: float = 1.0  # share of batches that are mixed

    @property
    def active(self) -> bool:
        return (self.mixup > 0 or self.cutmix > 0) and self.prob > 0

    def __call__(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, object]:
        """(B, C, H, W) input and (B,) labels -> mixed input and a MixedTarget (or y, unmixed)."""
        if torch.rand(1, generator=gen).item() >= self.prob:
            return x, y
        perm = torch.randperm(len(y), generator=gen).to(x.device)
        use_cutmix = self.cutmix > 0 and (self.mixup == 0 or torch.rand(1, generator=gen).item() < 0.5)
        alpha = self.cutmix if use_cutmix else self.mixup
        lam = _beta(alpha, gen)
        if use_cutmix:
            x, lam = cutmix_images(x, perm, lam, gen)
        else:
            x = lam * x + (1 - lam) * x[perm]
        return x, MixedTarget(y, y[perm], lam)


def _beta(alpha: float, gen: torch.Generator) -> float:
    """One Beta(alpha, alpha) draw, seeded from `gen` (torch has no seeded Beta sampler)."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def cutmix_images(x: torch.Tensor, perm: torch.Tensor, lam: float, gen: torch.Generator) -> tuple[torch.Tensor, float]:
    """Paste one box of area ~(1 - lam) from x[perm] into every image; returns the images and the
    share of each image that is still its own (the label weight)."""
    _, _, h, w = x.shape
    cut = math.sqrt(1 - lam)
    bh, bw = round(h * cut), round(w * cut)
    cy, cx = (int(torch.randint(0, n, (1,), generator=gen)) for n in (h, w))
    top, bottom = max(cy - bh // 2, 0), min(cy + bh // 2 + bh % 2, h)
    left, right = max(cx - bw // 2, 0), min(cx + bw // 2 + bw % 2, w)
    out = x.clone()
    out[:, :, top:bottom, left:right] = x[perm][:, :, top:bottom, left:right]
    return out, 1 - (bottom - top) * (right - left) / (h * w)
