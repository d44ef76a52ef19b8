"""Random augmentation of whole batches of tensors: one affine resample per batch, no PIL.

Ranges follow Keras' ImageDataGenerator, which the studies used: rotation in degrees,
zoom/shift as fractions, contrast/brightness as relative changes. `thin` and `shrink`
are the MNIST study's "imperfect digits": strokes thinned by a 3x3 erosion and digits
shrunk inside their frame. `policy` adds RandAugment or TrivialAugment (torchvision v2, one
draw per group of POLICY_GROUP images, so a batch stays a few tensor calls), and `erase`
random erasing (Zhong et al.), both after the geometric and photometric changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from imgstudy.params.choices import FILLS, POLICIES

POLICY_GROUP = 8  # images sharing one RandAugment/TrivialAugment draw
PADDING = dict(zip(FILLS, ("zeros", "reflection", "border")))  # fill -> grid_sample's padding_mode


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
    fill: str = "zeros"  # zeros | reflect | nearest: outside the moved image
    policy: str = "none"  # none | randaugment | trivialaugment
    erase: float = 0.0  # probability of erasing a random box of a sample

    @property
    def active(self) -> bool:
        return any(
            (
                self.rotation,
                self.zoom,
                self.shift,
                self.shrink,
                self.contrast,
                self.brightness,
                self.hflip,
                self.vflip,
                self.thin,
                self.policy != "none",
                self.erase,
            )
        )

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
        x = x.clamp_(0, 1)
        if self.policy != "none":
            x = apply_policy(x, self.policy)
        if self.erase:
            x = random_erase(x, self.erase, gen)
        return x

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
            padding = PADDING[self.fill]
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)
            masks = (
                F.grid_sample(
                    masks[:, None].to(x.dtype), grid, mode="nearest", padding_mode=padding, align_corners=False
                )[:, 0]
                .round()
                .long()
            )  # filled as the image is: with zeros, outside the frame is background
        # image only: thin would move edges; erasing occludes the image, the object stays in the mask
        photometric = Augment(contrast=self.contrast, brightness=self.brightness, erase=self.erase)
        return photometric(x, gen), masks

    def _affine(self, x: torch.Tensor, uniform) -> torch.Tensor:
        grid = self._grid(x, uniform)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=PADDING[self.fill], align_corners=False)

    def _grid(self, x: torch.Tensor, uniform) -> torch.Tensor:
        b = x.shape[0]
        angle = uniform(-self.rotation, self.rotation) * math.pi / 180
        scale = uniform(1 - self.zoom, 1 + self.zoom) * uniform(1 - self.shrink, 1)
        sx = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if self.hflip else torch.ones(b, device=x.device)
        sy = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if self.vflip else torch.ones(b, device=x.device)
        # theta maps output to input coordinates in [-1, 1]: dividing by scale zooms in by it.
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        # [[cos, -sin], [sin, cos]] @ diag(sx, sy): rotate and scale, after an optional flip.
        theta = torch.stack(
            [
                torch.stack([cos * sx, -sin * sy, 2 * uniform(-self.shift, self.shift)], 1),
                torch.stack([sin * sx, cos * sy, 2 * uniform(-self.shift, self.shift)], 1),
            ],
            1,
        )  # (B, 2, 3)
        return F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)


def apply_policy(x: torch.Tensor, name: str, group: int = POLICY_GROUP) -> torch.Tensor:
    """RandAugment / TrivialAugmentWide (torchvision v2, its default magnitudes) on (B, C, H, W) in
    [0, 1]: one random draw per group of `group` images (v2 draws from torch's global generator,
    which the train stage seeds and a resumed run restores)."""
    from torchvision.transforms import v2

    if name not in POLICIES:
        raise ValueError(f"augment policy {name!r}; choose one of {POLICIES}")
    op = v2.RandAugment() if name == "randaugment" else v2.TrivialAugmentWide()
    u8 = (x * 255).round().to(torch.uint8)  # the policies' ops (posterize, solarize...) are defined on uint8
    return torch.cat([op(chunk) for chunk in u8.split(group)]).float().div_(255)


def random_erase(
    x: torch.Tensor,
    p: float,
    gen: torch.Generator,
    area: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
) -> torch.Tensor:
    """Random erasing per sample, all at once: with probability p, a box of `area` of the image
    (aspect ratio log-uniform in `ratio`) is replaced by uniform noise."""
    b, _, h, w = x.shape

    def draw(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=gen) * (hi - lo) + lo

    s, r = draw(*area) * h * w, torch.exp(draw(math.log(ratio[0]), math.log(ratio[1])))
    bh, bw = (s * r).sqrt().clamp(1, h).round(), (s / r).sqrt().clamp(1, w).round()
    top, left = (
        (torch.rand(b, generator=gen) * (h - bh + 1)).floor(),
        (torch.rand(b, generator=gen) * (w - bw + 1)).floor(),
    )
    chosen = torch.rand(b, generator=gen) < p
    noise = torch.rand(x.shape, generator=gen)
    yy, xx = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    box = (
        (yy >= top.view(b, 1, 1))
        & (yy < (top + bh).view(b, 1, 1))
        & (xx >= left.view(b, 1, 1))
        & (xx < (left + bw).view(b, 1, 1))
        & chosen.view(b, 1, 1)
    )
    return torch.where(box[:, None].to(x.device), noise.to(x.device), x)
