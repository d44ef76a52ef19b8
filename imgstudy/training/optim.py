"""Optimizers and learning-rate schedules by name."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from imgstudy.core.registry import Registry

# A builder takes (parameter groups, lr, weight_decay, momentum, nesterov); momentum only where the
# optimizer has one.
OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
for _name, _cls in {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "nadam": torch.optim.NAdam,
    "adadelta": torch.optim.Adadelta,
    "adagrad": torch.optim.Adagrad,
    "adamax": torch.optim.Adamax,
}.items():
    OPTIMIZERS.register(_name)(
        lambda groups, lr, weight_decay, momentum, nesterov, _cls=_cls: _cls(groups, lr=lr, weight_decay=weight_decay)
    )


@OPTIMIZERS.register("sgd")
def _sgd(groups, lr: float, weight_decay: float, momentum: float, nesterov: bool) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)


@OPTIMIZERS.register("rmsprop")
def _rmsprop(groups, lr: float, weight_decay: float, momentum: float, nesterov: bool) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)


def param_groups(net: torch.nn.Module, lr: float, backbone_lr_scale: float = 1.0) -> list[dict]:
    """The trainable parameters as optimizer groups: one group at `lr`, or, for a model with
    backbone `blocks` and backbone_lr_scale != 1, the backbone at lr * scale first, the rest at lr."""
    trainable = [(name, p) for name, p in net.named_parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters: everything is frozen")
    if backbone_lr_scale == 1.0 or not hasattr(net, "blocks"):
        return [{"params": [p for _, p in trainable], "lr": lr}]
    backbone = [p for name, p in trainable if name.startswith("blocks.")]
    rest = [p for name, p in trainable if not name.startswith("blocks.")]
    return [g for g in ({"params": backbone, "lr": lr * backbone_lr_scale}, {"params": rest, "lr": lr}) if g["params"]]


def make_optimizer(
    name: str, groups: list[dict], weight_decay: float, momentum: float, nesterov: bool
) -> torch.optim.Optimizer:
    """groups: param_groups(); each group keeps its own lr."""
    return OPTIMIZERS[name](groups, groups[-1]["lr"], weight_decay, momentum, nesterov)


@dataclass
class Schedule:
    """A scheduler and when it steps: after every 'batch', every 'epoch', or on the val 'metric'."""

    scheduler: torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None
    every: str

    def after_batch(self) -> None:
        if self.every == "batch":
            self.scheduler.step()

    def after_epoch(self, val_loss: float) -> None:
        if self.every == "epoch":
            self.scheduler.step()
        elif self.every == "metric":
            self.scheduler.step(val_loss)


def _warmup_cosine(opt, steps: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _warmup_constant(opt, steps: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)


# A builder takes (optimizer, the groups' lrs, optimizer steps per epoch, epochs, warm-up epochs,
# step_size, gamma) and says when its scheduler steps.
SCHEDULERS: Registry[Callable[..., Schedule]] = Registry("scheduler")


@SCHEDULERS.register("none")
def _constant(opt, lrs, steps_per_epoch: int, epochs: int, warmup: int, step_size: int, gamma: float) -> Schedule:
    return Schedule(_warmup_constant(opt, steps_per_epoch * epochs, warmup * steps_per_epoch), "batch")


@SCHEDULERS.register("onecycle")
def _onecycle(opt, lrs, steps_per_epoch: int, epochs: int, warmup: int, step_size: int, gamma: float) -> Schedule:
    # its own warm-up: the first 30% of steps
    return Schedule(torch.optim.lr_scheduler.OneCycleLR(opt, list(lrs), total_steps=steps_per_epoch * epochs), "batch")


@SCHEDULERS.register("cosine")
def _cosine(opt, lrs, steps_per_epoch: int, epochs: int, warmup: int, step_size: int, gamma: float) -> Schedule:
    return Schedule(_warmup_cosine(opt, steps_per_epoch * epochs, warmup * steps_per_epoch), "batch")


@SCHEDULERS.register("step")
def _step(opt, lrs, steps_per_epoch: int, epochs: int, warmup: int, step_size: int, gamma: float) -> Schedule:
    return Schedule(torch.optim.lr_scheduler.StepLR(opt, step_size, gamma), "epoch")


@SCHEDULERS.register("plateau")
def _plateau(opt, lrs, steps_per_epoch: int, epochs: int, warmup: int, step_size: int, gamma: float) -> Schedule:
    return Schedule(torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=gamma, patience=step_size), "metric")
