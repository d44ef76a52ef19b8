"""From stored uint8 images to model input: equalization, channels, augmentation, normalization,
memory format. What a variant changes here is decided by the variant; what is deterministic per
image (equalization) is done once per loaded split (prepare), never once per epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from imgstudy.data.images import CHANNELS, equalize, to_unit
from imgstudy.params.choices import NORMALIZE
from imgstudy.training.augment import Augment

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
ZCA_MAX_DIM = 8192  # the whitening matrix is D x D, D = C * H * W


def equalize_all(images: torch.Tensor, mode: str, clahe_clip: float) -> torch.Tensor:
    """(N, H, W, C) uint8 -> histogram-equalized per image (imgstudy.data.images.equalize)."""
    if mode == "none":
        return images
    return torch.from_numpy(np.stack([equalize(im, mode, clahe_clip) for im in images.numpy()]))


def _channel_stats(images: torch.Tensor, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    total, sq, n = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64), 0
    for start in range(0, len(images), 4096):  # chunks: bounded memory on large stores
        x = to_unit(images[start : start + 4096], c).double()
        total += x.sum(dim=(0, 2, 3))
        sq += (x * x).sum(dim=(0, 2, 3))
        n += x.numel() // c
    mean = total / n
    return mean, (sq / n - mean**2).clamp_min(1e-12).sqrt()


def _zca(images: torch.Tensor, c: int, epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """ZCA whitening W = U diag(1 / sqrt(S + eps)) U^T of the training pixels' covariance."""
    d = c * images.shape[1] * images.shape[2]
    if d > ZCA_MAX_DIM:
        raise ValueError(
            f"ZCA whitening of {d}-dimensional images needs a {d}x{d} matrix; use images of at most "
            f"{ZCA_MAX_DIM} values (preprocess.size / channels) or another train.normalize"
        )
    x = torch.cat([to_unit(images[s : s + 4096], c).reshape(-1, d).double() for s in range(0, len(images), 4096)])
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
    equalize: str = "none"  # none | global | clahe, per image before anything else (prepare)
    clahe_clip: float = 2.0

    @classmethod
    def fit(
        cls,
        images: torch.Tensor,
        channels: str,
        normalize: str,
        channels_last: bool,
        zca_epsilon: float = 1e-5,
        equalize: str = "none",
        clahe_clip: float = 2.0,
    ) -> Inputs:
        """images: the training split, (N, H, W, C) uint8 as stored (not yet prepared); statistics come
        from it only, after its equalization."""
        if channels not in CHANNELS or normalize not in NORMALIZE:
            raise ValueError(
                f"channels {channels!r} / normalize {normalize!r}: choose from {list(CHANNELS)} / {list(NORMALIZE)}"
            )
        images = equalize_all(images, equalize, clahe_clip)
        c = CHANNELS[channels] or images.shape[-1]
        zeros, ones = (0.0,) * c, (1.0,) * c
        common = {"channels_last": channels_last, "equalize": equalize, "clahe_clip": clahe_clip}
        if normalize == "imagenet":
            if c == 3:
                return cls(c, normalize, IMAGENET_MEAN, IMAGENET_STD, **common)
            return cls(c, normalize, (sum(IMAGENET_MEAN) / 3,), (sum(IMAGENET_STD) / 3,), **common)
        if normalize == "dataset":
            mean, std = _channel_stats(images, c)
            return cls(c, normalize, tuple(mean.tolist()), tuple(std.tolist()), **common)
        if normalize == "zca":
            w, m = _zca(images, c, zca_epsilon)
            return cls(c, normalize, zeros, ones, whitening=w, pixel_mean=m, **common)
        return cls(c, normalize, zeros, ones, **common)  # per_image, none

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(N, H, W, C) uint8 as stored -> the same, equalized as this model's training images were;
        once per loaded split or decoded image (a no-op without equalization)."""
        return equalize_all(images, self.equalize, self.clahe_clip)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

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

    def __call__(
        self, u8: torch.Tensor, augment: Augment | None = None, gen: torch.Generator | None = None
    ) -> torch.Tensor:
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
        return self.normalize(x.contiguous()).contiguous(memory_format=self.memory_format)

    @classmethod
    def from_card(cls, i: dict) -> Inputs:
        return cls(
            i["channels"],
            i["kind"],
            tuple(i["mean"]),
            tuple(i["std"]),
            i["channels_last"],
            i.get("whitening"),
            i.get("pixel_mean"),
            i.get("equalize", "none"),
            i.get("clahe_clip", 2.0),
        )

    def card(self) -> dict:
        """Plain values for the model card and normalization.json (the matrix stays in the checkpoint)."""
        return {
            "channels": self.channels,
            "kind": self.kind,
            "mean": list(self.mean),
            "std": list(self.std),
            "channels_last": self.channels_last,
            "equalize": self.equalize,
            "clahe_clip": self.clahe_clip,
        }
