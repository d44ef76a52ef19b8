"""Optimizers and learning-rate schedules by name."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from imgstudy.core.registry import Registry

# A builder takes (parameters, lr, weight_decay, momentum, nesterov).
OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("adam")(lambda p, lr, wd, m, n: torch.optim.Adam(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adamw")(lambda p, lr, wd, m, n: torch.optim.AdamW(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("sgd")(lambda p, lr, wd, m, n: torch.optim.SGD(p, lr=lr, momentum=m, nesterov=n, weight_decay=wd))
OPTIMIZERS.register("rmsprop")(lambda p, lr, wd, m, n: torch.optim.RMSprop(p, lr=lr, momentum=m, weight_decay=wd))
OPTIMIZERS.register("nadam")(lambda p, lr, wd, m, n: torch.optim.NAdam(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adadelta")(lambda p, lr, wd, m, n: torch.optim.Adadelta(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adagrad")(lambda p, lr, wd, m, n: torch.optim.Adagrad(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adamax")(lambda p, lr, wd, m, n: torch.optim.Adamax(p, lr=lr, weight_decay=wd))


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


# A builder takes (optimizer, the groups' lrs, optimizer steps per epoch, epochs, warmup epochs, step_size, gamma).
SCHEDULERS: Registry[Callable[..., Schedule]] = Registry("scheduler")
SCHEDULERS.register("none")(
    lambda o, lr, spe, ep, wu, ss, g: Schedule(_warmup_constant(o, spe * ep, wu * spe), "batch")
)
SCHEDULERS.register("onecycle")(  # its own warm-up: the first 30% of steps
    lambda o, lr, spe, ep, wu, ss, g: Schedule(
        torch.optim.lr_scheduler.OneCycleLR(o, list(lr), total_steps=spe * ep), "batch"
    )
)
SCHEDULERS.register("cosine")(
    lambda o, lr, spe, ep, wu, ss, g: Schedule(_warmup_cosine(o, spe * ep, wu * spe), "batch")
)
SCHEDULERS.register("step")(
    lambda o, lr, spe, ep, wu, ss, g: Schedule(torch.optim.lr_scheduler.StepLR(o, ss, g), "epoch")
)
SCHEDULERS.register("plateau")(
    lambda o, lr, spe, ep, wu, ss, g: Schedule(
        torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=g, patience=ss), "metric"
    )
)
