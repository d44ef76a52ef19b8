"""Training and inference loops, with optimizers, schedulers and losses by name."""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from imgstudy.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("adamw")(lambda p, lr, wd: torch.optim.AdamW(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adam")(lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd))
OPTIMIZERS.register("sgd")(lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=wd))

# A scheduler is built from (optimizer, peak lr, total steps) and stepped after every batch.
SCHEDULERS: Registry[Callable[..., torch.optim.lr_scheduler.LRScheduler | None]] = Registry("scheduler")
SCHEDULERS.register("none")(lambda opt, lr, steps: None)
SCHEDULERS.register("onecycle")(lambda opt, lr, steps: torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps))
SCHEDULERS.register("cosine")(lambda opt, lr, steps: torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps))

LOSSES: Registry[Callable[[], nn.Module]] = Registry("loss")
LOSSES.register("cross_entropy")(nn.CrossEntropyLoss)


def select_device(name: str) -> torch.device:
    """'auto' takes CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("base.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def setup_runtime(seed: int, threads: int) -> None:
    """Seed every generator and fix the thread count once, before any work."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class Normalizer:
    """Per-channel z-score from uint8 NHWC to float NCHW, fit on the training images."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, images: torch.Tensor) -> "Normalizer":  # (N, H, W, C) uint8
        x = images.reshape(-1, images.shape[-1]).double() / 255
        return cls(tuple(x.mean(0).tolist()), tuple(x.std(0).clamp_min(1e-6).tolist()))

    def __call__(self, u8: torch.Tensor, channels_last: bool) -> torch.Tensor:
        mean = torch.tensor(self.mean, device=u8.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=u8.device).view(1, -1, 1, 1)
        x = u8.permute(0, 3, 1, 2).float().div_(255).sub_(mean).div_(std)  # (B, C, H, W)
        # permute of NHWC is already channels_last in memory; contiguous() makes it NCHW.
        return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int,
            generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (uint8 NHWC, labels) batches, shuffled when a generator is given."""
    order = torch.randperm(len(labels), generator=generator) if generator is not None else torch.arange(len(labels))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield images[idx], labels[idx]


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    scheduler: str
    loss: str
    patience: int
    channels_last: bool
    seed: int


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    improved: bool


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, norm: Normalizer, batch_size: int,
                   device: torch.device, channels_last: bool) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, classes) float32 logits, in eval mode."""
    model.eval()
    out = [model(norm(x.to(device), channels_last)).float().cpu()
           for x, _ in batches(images, torch.empty(len(images)), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def fit(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
        norm: Normalizer, cfg: FitConfig, device: torch.device,
        on_epoch: Callable[[EpochResult, nn.Module], None]) -> list[EpochResult]:
    """Train with early stopping on validation loss; on_epoch sees every epoch's result
    (with improved=True when it is the best so far, the moment to save a checkpoint)."""
    memory = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory)
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg.lr, cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train[1]) / cfg.batch_size)
    scheduler = SCHEDULERS[cfg.scheduler](optimizer, cfg.lr, cfg.epochs * steps_per_epoch)
    criterion = LOSSES[cfg.loss]()
    history: list[EpochResult] = []
    best, stale = math.inf, 0
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        model.train()
        loss_sum, correct = 0.0, 0
        bar = tqdm(batches(*train, cfg.batch_size, generator), total=steps_per_epoch,
                   desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, mininterval=2,
                   disable=None)  # None: a bar on terminals, nothing in logs
        for x, y in bar:
            x, y = norm(x.to(device), cfg.channels_last), y.to(device)
            logits = model(x)
            loss = criterion(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        logits = predict_logits(model, val[0], norm, 4 * cfg.batch_size, device, cfg.channels_last)
        val_loss = criterion(logits, val[1]).item()
        improved = val_loss < best
        result = EpochResult(epoch, loss_sum / len(train[1]), correct / len(train[1]), val_loss,
                             (logits.argmax(1) == val[1]).float().mean().item(),
                             optimizer.param_groups[0]["lr"], time.perf_counter() - start, improved)
        history.append(result)
        on_epoch(result, model)
        best, stale = (val_loss, 0) if improved else (best, stale + 1)
        if stale >= cfg.patience:
            break
    return history
