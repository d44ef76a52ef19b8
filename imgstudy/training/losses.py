"""Losses by name, all taking (logits (B, K), integer targets (B,)), and class weights."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from imgstudy.core.registry import Registry

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# A builder takes (class weights (K,) or None, label_smoothing, focal_gamma).
LOSSES: Registry[Callable[..., Loss]] = Registry("loss")


def _weighted_mean(per_sample: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return per_sample.mean()
    w = weight[y]
    return (per_sample * w).sum() / w.sum()


@LOSSES.register("cross_entropy")
def cross_entropy(weight, label_smoothing: float, focal_gamma: float) -> Loss:
    return lambda z, y: F.cross_entropy(z, y, weight=weight, label_smoothing=label_smoothing)


@LOSSES.register("bce_with_logits")
def bce_with_logits(weight, label_smoothing: float, focal_gamma: float) -> Loss:
    """One sigmoid per class against one-hot targets: the binary tasks' loss, for K >= 2 outputs."""

    def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = F.one_hot(y, z.shape[1]).to(z.dtype)
        target = target * (1 - label_smoothing) + label_smoothing / 2
        per = F.binary_cross_entropy_with_logits(z, target, reduction="none").sum(1)
        return _weighted_mean(per, y, weight)

    return loss


def _keras_hinge(power: int, weight) -> Loss:
    """Keras' hinge on a softmax output: the one-hot labels taken as -1/+1, the mean over classes of
    max(0, 1 - t * p) (squared for squared_hinge), p the softmax probabilities, as the dog-breed
    study's softmax-output model computed it."""

    def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = z.softmax(1)
        t = 2 * F.one_hot(y, z.shape[1]).to(p.dtype) - 1
        per = (1 - t * p).clamp_min(0).pow(power).mean(1)
        return _weighted_mean(per, y, weight)

    return loss


@LOSSES.register("hinge")
def hinge(weight, label_smoothing: float, focal_gamma: float) -> Loss:
    return _keras_hinge(1, weight)


@LOSSES.register("squared_hinge")
def squared_hinge(weight, label_smoothing: float, focal_gamma: float) -> Loss:
    return _keras_hinge(2, weight)


@LOSSES.register("kl_divergence")
def kl_divergence(weight, label_smoothing: float, focal_gamma: float) -> Loss:
    """KL(target || softmax(z)) with a (smoothed) one-hot target distribution."""

    def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        k = z.shape[1]
        target = F.one_hot(y, k).to(z.dtype) * (1 - label_smoothing) + label_smoothing / k
        per = F.kl_div(F.log_softmax(z, 1), target, reduction="none").sum(1)
        return _weighted_mean(per, y, weight)

    return loss


@LOSSES.register("focal")
def focal(weight, label_smoothing: float, focal_gamma: float) -> Loss:
    """Focal loss (Lin et al.): cross-entropy scaled by (1 - p_true)^gamma."""

    def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(z, 1).gather(1, y[:, None])[:, 0]
        per = -((1 - logp.exp()) ** focal_gamma) * logp
        return _weighted_mean(per, y, weight)

    return loss


@LOSSES.register("poisson")
def poisson(weight, label_smoothing: float, focal_gamma: float) -> Loss:
    """Keras' Poisson loss on the softmax probabilities against one-hot targets, as the dog-breed
    study's softmax-output model computed it: mean over classes of p - t log(p)."""

    def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = z.softmax(1)
        target = F.one_hot(y, z.shape[1]).to(p.dtype)
        per = (p - target * torch.log(p + 1e-7)).mean(1)
        return _weighted_mean(per, y, weight)

    return loss


@LOSSES.register("categorical_hinge")
def categorical_hinge(weight, label_smoothing: float, focal_gamma: float) -> Loss:
    """Keras' categorical hinge on the softmax probabilities: max(0, 1 + max_(k != y) p_k - p_y)."""

    def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = z.softmax(1)
        true = p.gather(1, y[:, None])[:, 0]
        other = p.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf")).max(1).values
        return _weighted_mean((1 + other - true).clamp_min(0), y, weight)

    return loss


def class_weights(spec: str | list[float], labels: np.ndarray, num_classes: int) -> torch.Tensor | None:
    """'none', 'balanced' (n / (K * count_k), as scikit-learn) or an explicit list of K weights."""
    if spec == "none":
        return None
    if spec == "balanced":
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        if (counts == 0).any():
            raise ValueError(
                f"class_weights 'balanced': classes {np.flatnonzero(counts == 0).tolist()} have no training samples"
            )
        return torch.tensor(len(labels) / (num_classes * counts), dtype=torch.float32)
    if isinstance(spec, list):
        if len(spec) != num_classes:
            raise ValueError(f"class_weights lists {len(spec)} weights for {num_classes} classes")
        return torch.tensor(spec, dtype=torch.float32)
    raise ValueError(f"class_weights {spec!r}; use 'none', 'balanced' or a list of {num_classes} numbers")
