"""What the training loop learns from: classification and segmentation as Tasks.

A task holds the training and validation data in memory as the store's uint8 arrays, turns
index batches into model input on the device (augmentation on whole batches), computes the
loss and scores validation. Everything else (optimizer, precision, resume, early stopping)
is the loop's.
"""

from __future__ import annotations

import torch
from torch import nn

from imgstudy.training.augment import Augment
from imgstudy.training.inputs import Inputs
from imgstudy.training.losses import Loss
from imgstudy.training.mixing import MixedTarget, Mixing
from imgstudy.training.precision import FP32, Precision
from imgstudy.training.runtime import batches


def frozen_backbone(model: nn.Module) -> bool:
    blocks = getattr(model, "blocks", None)
    return blocks is not None and getattr(model, "frozen_blocks", 0) == len(blocks)


@torch.no_grad()
def cached_features(
    model: nn.Module, images: torch.Tensor, inputs: Inputs, batch_size: int, device: torch.device, precision: Precision
) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, width) pooled backbone features, computed once."""
    model.eval()
    pool = nn.Sequential(*list(model.head)[:2])  # AdaptiveAvgPool2d + Flatten
    out = []
    for idx in batches(len(images), batch_size):
        with precision.autocast(device):
            out.append(pool(model.features(inputs(images[idx].to(device)))).float())
    return torch.cat(out)


def balanced_order(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """len(labels) indices drawn with replacement so that every class is drawn equally often
    on average (weight 1 / class count), for class-balanced sampling."""
    counts = torch.bincount(labels)
    weights = 1.0 / counts[labels].double()
    return torch.multinomial(weights, len(labels), replacement=True, generator=gen)


class ClassifyTask:
    """Images and labels; the head alone trains on cached backbone features when that is exact
    (frozen backbone, no augmentation); mixup/cutmix mix images and labels of a batch."""

    def __init__(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor],
        inputs: Inputs,
        loss_fn: Loss,
        device: torch.device,
        *,
        augment: Augment,
        mixing: Mixing,
        batch_size: int,
        feature_cache: bool,
        sampling: str,
        precision: Precision,
    ):
        self.train_images, self.val_images = train[0], val[0]
        self.train_y, self.val_y = train[1].to(device), val[1].to(device)
        self.inputs, self.loss_fn, self.device = inputs, loss_fn, device
        self.augment, self.mixing, self.precision = augment, mixing, precision
        self.batch_size, self.feature_cache, self.sampling = batch_size, feature_cache, sampling
        self.cached = False
        self.train_size = len(self.train_y)

    def begin_phase(self, model: nn.Module) -> nn.Module:
        model.to(device=self.device, memory_format=self.inputs.memory_format)
        self.cached = (
            self.feature_cache and not self.augment.active and not self.mixing.active and frozen_backbone(model)
        )
        if self.cached:
            self.train_x = cached_features(
                model, self.train_images, self.inputs, 4 * self.batch_size, self.device, self.precision
            )
            self.val_x = cached_features(
                model, self.val_images, self.inputs, 4 * self.batch_size, self.device, self.precision
            )
        return self.net_of(model)

    def net_of(self, model: nn.Module) -> nn.Module:
        return nn.Sequential(*list(model.head)[2:]) if self.cached else model  # Dropout + Linear

    def epoch_order(self, gen: torch.Generator) -> torch.Tensor:
        if self.sampling == "balanced":
            return balanced_order(self.train_y.cpu(), gen)
        return torch.randperm(self.train_size, generator=gen)

    def _input(self, idx: torch.Tensor, train: bool, gen: torch.Generator | None) -> torch.Tensor:
        if self.cached:
            return (self.train_x if train else self.val_x)[idx.to(self.device)]
        images = self.train_images if train else self.val_images
        return self.inputs(images[idx].to(self.device), self.augment if train else None, gen)

    def train_batch(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, object]:
        x, y = self._input(idx, True, gen), self.train_y[idx.to(self.device)]
        return self.mixing(x, y, gen) if self.mixing.active else (x, y)

    def loss(self, logits: torch.Tensor, target: object) -> torch.Tensor:
        if isinstance(target, MixedTarget):  # the mix of the two labels' losses
            return target.lam * self.loss_fn(logits, target.a) + (1 - target.lam) * self.loss_fn(logits, target.b)
        return self.loss_fn(logits, target)

    def batch_stats(self, logits: torch.Tensor, target: object) -> dict[str, float]:
        pred = logits.argmax(1)
        if isinstance(target, MixedTarget):
            hits = target.lam * (pred == target.a).sum() + (1 - target.lam) * (pred == target.b).sum()
            return {"correct": float(hits)}
        return {"correct": float((pred == target).sum())}

    def train_metrics(self, sums: dict[str, float], seen: float) -> dict[str, float]:
        return {"train_loss": sums["loss"] / seen, "train_acc": sums["correct"] / seen}

    @torch.no_grad()
    def validate(self, net: nn.Module, precision: Precision) -> dict[str, float]:
        net.eval()
        out = []
        for idx in batches(len(self.val_y), 4 * self.batch_size):
            with precision.autocast(self.device):
                out.append(net(self._input(idx, False, None)).float())
        logits = torch.cat(out)
        return {
            "val_loss": self.loss_fn(logits, self.val_y).item(),
            "val_acc": (logits.argmax(1) == self.val_y).float().mean().item(),
        }


@torch.no_grad()
def batch_dice(pred: torch.Tensor, masks: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B,) mean foreground Dice per image of argmax label maps; empty-in-both scores 1."""
    scores = []
    for k in range(1 if num_classes > 1 else 0, num_classes):
        p, t = pred == k, masks == k
        inter, total = (p & t).sum((1, 2)).float(), (p.sum((1, 2)) + t.sum((1, 2))).float()
        scores.append(torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total)))
    return torch.stack(scores, 1).mean(1)


@torch.no_grad()
def predict_masks(
    model: nn.Module,
    images: torch.Tensor,
    inputs: Inputs,
    batch_size: int,
    device: torch.device,
    precision: Precision = FP32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, H, W, C) uint8 -> (label maps (N, H, W) int64, logits (N, K, H, W) float) on the CPU."""
    model.eval()
    logits = []
    for idx in batches(len(images), batch_size):
        with precision.autocast(device):
            logits.append(model(inputs(images[idx].to(device))).float().cpu())
    out = torch.cat(logits)
    return out.argmax(1), out


class SegmentTask:
    """Images and (N, H, W) class-index masks; geometric augmentation moves both together."""

    def __init__(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor],
        inputs: Inputs,
        loss_fn: Loss,
        device: torch.device,
        *,
        augment: Augment,
        batch_size: int,
    ):
        self.train_images, self.train_masks = train
        self.val_images, self.val_masks = val
        self.inputs, self.loss_fn, self.device = inputs, loss_fn, device
        self.augment, self.batch_size = augment, batch_size
        self.train_size = len(self.train_images)

    def begin_phase(self, model: nn.Module) -> nn.Module:
        return model.to(device=self.device, memory_format=self.inputs.memory_format)

    def net_of(self, model: nn.Module) -> nn.Module:
        return model

    def epoch_order(self, gen: torch.Generator) -> torch.Tensor:
        return torch.randperm(self.train_size, generator=gen)

    def train_batch(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inputs.to_unit(self.train_images[idx].to(self.device))
        x, masks = self.augment.pair(x, self.train_masks[idx].to(self.device), gen)
        return self.inputs.finish(x), masks

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(logits, target)

    def batch_stats(self, logits: torch.Tensor, target: object) -> dict[str, float]:
        return {}

    def train_metrics(self, sums: dict[str, float], seen: float) -> dict[str, float]:
        return {"train_loss": sums["loss"] / seen}

    def validate(self, net: nn.Module, precision: Precision) -> dict[str, float]:
        pred, logits = predict_masks(net, self.val_images, self.inputs, 2 * self.batch_size, self.device, precision)
        return {
            "val_loss": self.loss_fn(logits, self.val_masks).item(),
            "val_dice": batch_dice(pred, self.val_masks, logits.shape[1]).mean().item(),
            "val_pixel_accuracy": (pred == self.val_masks).float().mean().item(),
        }
