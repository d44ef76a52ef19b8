"""Random augmentation of whole batches of tensors: one affine resample per batch, no PIL.

Ranges follow Keras' ImageDataGenerator, which the studies used: rotation in degrees,
zoom/shift as fractions, contrast/brightness as relative changes. `thin` and `shrink`
are the MNIST study's "imperfect digits": strokes thinned by a 3x3 erosion and digits
shrunk inside their frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    rotation: float = 0.0  # max degrees either way
    zoom: float = 0.0  # scale in [1 - zoom, 1 + zoom]
    shift: float = 0.0  # translation up to this fraction of the side, per axis
    shrink: float = 0.0  # extra scale-down in [1 - shrink, 1]
    contrast: float = 0.0  # contrast factor in [1 - c, 1 + c]
    brightness: float = 0.0  # offset in [-b, b] on a 0..1 scale
    hflip: bool = False
    vflip: bool = False
    thin: float = 0.0  # probability of eroding a sample's strokes

    @property
    def active(self) -> bool:
        return any((self.rotation, self.zoom, self.shift, self.shrink, self.contrast, self.brightness,
                    self.hflip, self.vflip, self.thin))

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] -> same shape; random draws come from `gen` (CPU)."""
        if not self.active:
            return x
        b = x.shape[0]

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return (torch.rand(b, generator=gen) * (hi - lo) + lo).to(x.device)

        if self.rotation or self.zoom or self.shift or self.shrink or self.hflip or self.vflip:
            x = self._affine(x, uniform)
        if self.thin:
            eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
            x = torch.where((uniform(0, 1) < self.thin).view(b, 1, 1, 1), eroded, x)
        if self.contrast:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * uniform(1 - self.contrast, 1 + self.contrast).view(b, 1, 1, 1) + mean
        if self.brightness:
            x = x + uniform(-self.brightness, self.brightness).view(b, 1, 1, 1)
        return x.clamp_(0, 1)

    def pair(self, x: torch.Tensor, masks: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Segmentation: the same geometric change for images (bilinear) and their masks (B, H, W)
        class indices (nearest, so no class is invented); photometric changes on the images only."""
        if not self.active:
            return x, masks
        b = x.shape[0]

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return (torch.rand(b, generator=gen) * (hi - lo) + lo).to(x.device)

        if self.rotation or self.zoom or self.shift or self.shrink or self.hflip or self.vflip:
            grid = self._grid(x, uniform)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            masks = F.grid_sample(masks[:, None].to(x.dtype), grid, mode="nearest", padding_mode="zeros",
                                  align_corners=False)[:, 0].round().long()  # outside the frame: background
        photometric = Augment(contrast=self.contrast, brightness=self.brightness)  # thin would move edges
        return photometric(x, gen), masks

    def _affine(self, x: torch.Tensor, uniform) -> torch.Tensor:
        return F.grid_sample(x, self._grid(x, uniform), mode="bilinear", padding_mode="zeros", align_corners=False)

    def _grid(self, x: torch.Tensor, uniform) -> torch.Tensor:
        b = x.shape[0]
        angle = uniform(-self.rotation, self.rotation) * math.pi / 180
        scale = uniform(1 - self.zoom, 1 + self.zoom) * uniform(1 - self.shrink, 1)
        sx = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if self.hflip else torch.ones(b, device=x.device)
        sy = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if self.vflip else torch.ones(b, device=x.device)
        # theta maps output to input coordinates in [-1, 1]: dividing by scale zooms in by it.
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        # [[cos, -sin], [sin, cos]] @ diag(sx, sy): rotate and scale, after an optional flip.
        theta = torch.stack([
            torch.stack([cos * sx, -sin * sy, 2 * uniform(-self.shift, self.shift)], 1),
            torch.stack([sin * sx, cos * sy, 2 * uniform(-self.shift, self.shift)], 1),
        ], 1)  # (B, 2, 3)
        return F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
