"""What the loop is asked to do: its configuration (built from a params section), the Task protocol
each kind of model plugs in, and what every epoch reports."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import torch
from torch import nn

from imgstudy.params import Fitting
from imgstudy.training.precision import FP32, Precision


@dataclass(frozen=True, kw_only=True)
class Phase:
    """One stretch of training; trainable_blocks=None leaves the model's freezing as built."""

    epochs: int
    lr: float
    trainable_blocks: int | None = None


@dataclass(frozen=True, kw_only=True)
class FitConfig:
    phases: tuple[Phase, ...]
    batch_size: int
    optimizer: str
    monitor: str  # a key of MONITORS: picks the best epoch, drives early stopping
    patience: int  # epochs without improvement before a phase stops; 0 = never
    seed: int
    precision: Precision = FP32
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    scheduler: str = "none"
    warmup_epochs: int = 0
    step_size: int = 10
    gamma: float = 0.1
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    accumulate: int = 1  # batches whose gradients add up before one optimizer step
    ema: float = 0.0  # decay of the weights' exponential moving average; 0 = off
    backbone_lr_scale: float = 1.0  # the backbone's lr over the head's (transfer models)


@dataclass
class EpochResult:
    epoch: int
    phase: int
    lr: float
    seconds: float
    improved: bool  # the best epoch so far on cfg.monitor: the moment to save a checkpoint
    metrics: dict[str, float]  # train_loss, val_loss, val_acc | val_dice, ...


class Task(Protocol):
    """What a kind of model learns from: its batches, loss and validation (training/tasks.py)."""

    train_size: int  # samples per epoch

    def begin_phase(self, model: nn.Module) -> nn.Module: ...  # the net that trains this phase
    def net_of(self, model: nn.Module) -> nn.Module: ...  # the same part of another copy (EMA)
    def epoch_order(self, gen: torch.Generator) -> torch.Tensor: ...  # training sample order
    def train_batch(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, object]: ...
    def loss(self, logits: torch.Tensor, target: object) -> torch.Tensor: ...
    def batch_stats(self, logits: torch.Tensor, target: object) -> dict[str, float]: ...
    def train_metrics(self, sums: dict[str, float], seen: float) -> dict[str, float]: ...
    def validate(self, net: nn.Module, precision: Precision) -> dict[str, float]: ...


def fit_config(
    section: Fitting, seed: int, precision: Precision, monitor: str, phases: tuple[Phase, ...] = ()
) -> FitConfig:
    """The loop's configuration from a params section (train or segment): every FitConfig field the
    section has, by name; one phase of section.epochs at section.lr unless phases are given."""
    values = section.model_dump()
    given = {"phases", "monitor", "seed", "precision"}
    shared = {f.name: values[f.name] for f in fields(FitConfig) if f.name in values and f.name not in given}
    return FitConfig(
        **shared,
        phases=phases or (Phase(epochs=section.epochs, lr=section.lr),),
        monitor=monitor,
        seed=seed,
        precision=precision,
    )
