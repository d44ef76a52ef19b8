"""From stored uint8 images to model input: channels, augmentation, normalization, memory format."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from imgstudy.augment import Augment

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's convert("L")
CHANNELS = {"native": None, "gray": 1, "rgb": 3}
NORMALIZE = ("dataset", "imagenet", "per_image", "zca", "none")
ZCA_MAX_DIM = 8192  # the whitening matrix is D x D, D = C * H * W


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


def _channel_stats(images: torch.Tensor, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    total, sq, n = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64), 0
    for start in range(0, len(images), 4096):  # chunks: bounded memory on large stores
        x = to_unit(images[start:start + 4096], c).double()
        total += x.sum(dim=(0, 2, 3))
        sq += (x * x).sum(dim=(0, 2, 3))
        n += x.numel() // c
    mean = total / n
    return mean, (sq / n - mean**2).clamp_min(1e-12).sqrt()


def _zca(images: torch.Tensor, c: int, epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """ZCA whitening W = U diag(1 / sqrt(S + eps)) U^T of the training pixels' covariance."""
    d = c * images.shape[1] * images.shape[2]
    if d > ZCA_MAX_DIM:
        raise ValueError(f"ZCA whitening of {d}-dimensional images needs a {d}x{d} matrix; use images of at most "
                         f"{ZCA_MAX_DIM} values (preprocess.size / channels) or another train.normalize")
    x = torch.cat([to_unit(images[s:s + 4096], c).reshape(-1, d).double() for s in range(0, len(images), 4096)])
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / len(x)
    s, u = torch.linalg.eigh(cov)
    w = u @ torch.diag(1 / torch.sqrt(s.clamp_min(0) + epsilon)) @ u.T
    return w.float(), mean.float()


@dataclass(frozen=True)
class Inputs:
    """How a model wants its batches; saved with the model so every later use matches."""

    channels: int
    kind: str  # dataset | imagenet | per_image | zca | none
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels_last: bool
    whitening: torch.Tensor | None = None  # (D, D) for kind zca
    pixel_mean: torch.Tensor | None = None  # (D,) for kind zca

    @classmethod
    def fit(cls, images: torch.Tensor, channels: str, normalize: str, channels_last: bool,
            zca_epsilon: float = 1e-5) -> "Inputs":
        """images: the training split, (N, H, W, C) uint8; statistics come from it only."""
        if channels not in CHANNELS or normalize not in NORMALIZE:
            raise ValueError(f"channels {channels!r} / normalize {normalize!r}: choose from "
                             f"{list(CHANNELS)} / {list(NORMALIZE)}")
        c = CHANNELS[channels] or images.shape[-1]
        zeros, ones = (0.0,) * c, (1.0,) * c
        if normalize == "imagenet":
            if c == 3:
                return cls(c, normalize, IMAGENET_MEAN, IMAGENET_STD, channels_last)
            return cls(c, normalize, (sum(IMAGENET_MEAN) / 3,), (sum(IMAGENET_STD) / 3,), channels_last)
        if normalize == "dataset":
            mean, std = _channel_stats(images, c)
            return cls(c, normalize, tuple(mean.tolist()), tuple(std.tolist()), channels_last)
        if normalize == "zca":
            w, m = _zca(images, c, zca_epsilon)
            return cls(c, normalize, zeros, ones, channels_last, w, m)
        return cls(c, normalize, zeros, ones, channels_last)  # per_image, none

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] -> normalized, same shape."""
        if self.kind == "per_image":
            flat = x.reshape(len(x), -1)
            return ((flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True).clamp_min(1e-6)).view_as(x)
        if self.kind == "zca":
            flat = x.reshape(len(x), -1) - self.pixel_mean.to(x.device)
            return (flat @ self.whitening.to(x.device)).view_as(x)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def __call__(self, u8: torch.Tensor, augment: Augment | None = None,
                 gen: torch.Generator | None = None) -> torch.Tensor:
        """(B, H, W, C) uint8 -> (B, channels, H, W) normalized float for the model."""
        x = self.to_unit(u8)
        if augment is not None and augment.active:
            x = augment(x, gen)
        return self.finish(x)

    def to_unit(self, u8: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) uint8 -> (B, channels, H, W) float in [0, 1]: the space augmentation works in."""
        return to_unit(u8, self.channels).contiguous()

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        """(B, channels, H, W) in [0, 1] -> normalized, in the model's memory format."""
        x = self.normalize(x.contiguous())
        return x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    @classmethod
    def from_card(cls, i: dict) -> "Inputs":
        return cls(i["channels"], i["kind"], tuple(i["mean"]), tuple(i["std"]), i["channels_last"],
                   i.get("whitening"), i.get("pixel_mean"))

    def card(self) -> dict:
        """Plain values for the model card and normalization.json (the matrix stays in the checkpoint)."""
        return {"channels": self.channels, "kind": self.kind, "mean": list(self.mean), "std": list(self.std),
                "channels_last": self.channels_last}
