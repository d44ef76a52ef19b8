"""From stored uint8 images to model input: channels, augmentation, z-score, memory format."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from imgstudy.augment import Augment

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's convert("L")
CHANNELS = {"native": None, "gray": 1, "rgb": 3}
NORMALIZE = ("dataset", "imagenet")


def to_unit(u8: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, H, W, C) uint8 -> (B, channels, H, W) float in [0, 1]; gray <-> RGB as needed."""
    x = u8.permute(0, 3, 1, 2).float().div_(255)
    if x.shape[1] == channels:
        return x
    if channels == 1 and x.shape[1] == 3:
        return (x * torch.tensor(LUMA, device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1)
    raise ValueError(f"cannot convert {x.shape[1]} channels to {channels}")


@dataclass(frozen=True)
class Inputs:
    """How a model wants its batches; saved with the model so every later use matches."""

    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels_last: bool

    @classmethod
    def fit(cls, images: torch.Tensor, channels: str, normalize: str, channels_last: bool) -> "Inputs":
        """images: the training split, (N, H, W, C) uint8. channels: native | gray | rgb."""
        if channels not in CHANNELS or normalize not in NORMALIZE:
            raise ValueError(f"channels {channels!r} / normalize {normalize!r}: choose from "
                             f"{list(CHANNELS)} / {list(NORMALIZE)}")
        c = CHANNELS[channels] or images.shape[-1]
        if normalize == "imagenet":
            mean, std = (IMAGENET_MEAN, IMAGENET_STD) if c == 3 else ((sum(IMAGENET_MEAN) / 3,), (sum(IMAGENET_STD) / 3,))
            return cls(c, tuple(mean), tuple(std), channels_last)
        total, sq, n = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64), 0
        for start in range(0, len(images), 4096):  # chunks: bounded memory on large stores
            x = to_unit(images[start:start + 4096], c).double()
            total += x.sum(dim=(0, 2, 3))
            sq += (x * x).sum(dim=(0, 2, 3))
            n += x.numel() // c
        mean = total / n
        std = (sq / n - mean**2).clamp_min(1e-12).sqrt()
        return cls(c, tuple(mean.tolist()), tuple(std.tolist()), channels_last)

    def __call__(self, u8: torch.Tensor, augment: Augment | None = None,
                 gen: torch.Generator | None = None) -> torch.Tensor:
        """(B, H, W, C) uint8 -> (B, channels, H, W) normalized float for the model."""
        x = to_unit(u8, self.channels)
        if augment is not None and augment.active:
            x = augment(x.contiguous(), gen)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        x = (x - mean) / std
        return x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
