"""The training loop: phases, early stopping, best-epoch tracking, resume, feature cache.

fit() trains in phases (one normally; two for "head first, then the last N blocks at a
lower learning rate"). After every epoch it saves a resume state; a run started again
with the same fingerprint continues from it and ends with the same weights as a run
that was never interrupted.
"""
from __future__ import annotations

import math
import operator
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from imgstudy import distributed
from imgstudy.augment import Augment
from imgstudy.checkpoint import atomic_save
from imgstudy.inputs import Inputs
from imgstudy.losses import Loss
from imgstudy.optim import SCHEDULERS, make_optimizer

MONITORS = {"val_loss": operator.lt, "val_acc": operator.gt}  # metric -> "a is better than b"


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


def fast_bf16(device: torch.device) -> bool:
    """bf16 pays on CUDA (Ampere+) and on CPUs with AMX/AVX512-BF16; elsewhere it is emulated and
    slower than fp32 (measured here, bench/speed_switches.py: AVX2-only CPUs run it ~10x slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX")


def batches(n: int, batch_size: int, gen: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Index batches over n samples, shuffled when a generator is given."""
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


TTA_VIEWS = ("none", "hflip", "hflip_shift")


def _views(x: torch.Tensor, tta: str) -> list[torch.Tensor]:
    """Test-time augmentation views of a (B, C, H, W) batch: the image, its mirror, 2-px shifts."""
    views = [x]
    if tta in ("hflip", "hflip_shift"):
        views.append(x.flip(-1))
    if tta == "hflip_shift":
        for dy, dx in ((2, 0), (-2, 0), (0, 2), (0, -2)):
            views.append(torch.roll(x, shifts=(dy, dx), dims=(-2, -1)))
    return views


@torch.no_grad()
def predict_probs(model: nn.Module, images: torch.Tensor, inputs: Inputs, batch_size: int, device: torch.device,
                  bf16: bool = False, tta: str = "none") -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, classes) probabilities, averaged over the TTA views."""
    if tta not in TTA_VIEWS:
        raise ValueError(f"tta {tta!r}; choose one of {TTA_VIEWS}")
    model.eval()
    out = []
    for idx in batches(len(images), batch_size):
        x = inputs(images[idx].to(device))
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            out.append(torch.stack([model(v).float().softmax(1) for v in _views(x, tta)]).mean(0).cpu())
    return torch.cat(out) if out else torch.empty(0)


@dataclass(frozen=True)
class Phase:
    """One stretch of training; trainable_blocks=None leaves the model's freezing as built."""

    epochs: int
    lr: float
    trainable_blocks: int | None = None


@dataclass(frozen=True)
class FitConfig:
    phases: tuple[Phase, ...]
    batch_size: int
    optimizer: str
    weight_decay: float
    momentum: float
    nesterov: bool
    scheduler: str
    warmup_epochs: int
    step_size: int
    gamma: float
    grad_clip: float  # max gradient norm; 0 = off
    monitor: str  # val_loss | val_acc
    patience: int
    seed: int
    bf16: bool
    feature_cache: bool  # train the head on cached backbone features when that is exact
    augment: Augment = field(default_factory=Augment)
    fp16: bool = False  # float16 autocast with loss scaling (GPUs without fast bf16)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return torch.bfloat16 if self.bf16 else torch.float16 if self.fp16 else None


@dataclass
class EpochResult:
    epoch: int
    phase: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    improved: bool


def _frozen_backbone(model: nn.Module) -> bool:
    blocks = getattr(model, "blocks", None)
    return blocks is not None and getattr(model, "frozen_blocks", 0) == len(blocks)


@torch.no_grad()
def cached_features(model: nn.Module, images: torch.Tensor, inputs: Inputs, batch_size: int,
                    device: torch.device, bf16: bool) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, width) pooled backbone features, computed once."""
    model.eval()
    pool = nn.Sequential(*list(model.head)[:2])  # AdaptiveAvgPool2d + Flatten
    out = []
    for idx in batches(len(images), batch_size):
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            out.append(pool(model.features(inputs(images[idx].to(device)))).float())
    return torch.cat(out)


class _Runner:
    """What one phase trains: the whole model on images, or only the head on cached features."""

    def __init__(self, model, train, val, inputs, cfg, device):
        self.cached = cfg.feature_cache and not cfg.augment.active and _frozen_backbone(model)
        if self.cached:
            self.net = nn.Sequential(*list(model.head)[2:])  # Dropout + Linear
            self.train_x = cached_features(model, train[0], inputs, 4 * cfg.batch_size, device, cfg.bf16)
            self.val_x = cached_features(model, val[0], inputs, 4 * cfg.batch_size, device, cfg.bf16)
        else:
            self.net, self.train_x, self.val_x = model, train[0], val[0]
        self.model, self.inputs, self.cfg, self.device = model, inputs, cfg, device
        self.train_y, self.val_y = train[1].to(device), val[1].to(device)

    def batch(self, x: torch.Tensor, train: bool, gen: torch.Generator | None) -> torch.Tensor:
        if self.cached:
            return x
        return self.inputs(x.to(self.device), self.cfg.augment if train else None, gen)

    @torch.no_grad()
    def val_logits(self) -> torch.Tensor:
        self.net.eval()
        out = []
        for idx in batches(len(self.val_y), 4 * self.cfg.batch_size):
            with torch.autocast(self.device.type, self.cfg.amp_dtype or torch.bfloat16,
                                enabled=self.cfg.amp_dtype is not None):
                out.append(self.net(self.batch(self.val_x[idx], False, None)).float())
        return torch.cat(out)


def _train_epoch(run: _Runner, net: nn.Module, optimizer, schedule, scaler, loss_fn: Loss, cfg: FitConfig,
                 gen: torch.Generator, device: torch.device, steps: int, label: str) -> tuple[float, float, float]:
    """One pass over the training set. Under DDP each rank takes its shard of every global batch
    and scales its loss by its share, so the averaged gradient is the full batch's gradient."""
    run.net.train()
    world = distributed.world_size()
    loss_sum, correct, seen = 0.0, 0, 0
    bar = tqdm(batches(len(run.train_y), cfg.batch_size, gen), total=steps, leave=False, mininterval=2,
               desc=label, disable=None if distributed.is_main() else True)  # None: a bar on terminals only
    for idx in bar:
        if len(idx) < world:
            continue  # a tail batch smaller than the number of ranks would leave one idle (DDP needs all)
        local = distributed.shard(idx)
        y = run.train_y[local.to(device)]
        x = run.batch(run.train_x[local], True, gen)
        with torch.autocast(device.type, cfg.amp_dtype or torch.bfloat16, enabled=cfg.amp_dtype is not None):
            logits = net(x)
        loss = loss_fn(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss * (len(local) * world / len(idx))).backward()
        if cfg.grad_clip:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(run.net.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        schedule.after_batch()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    return tuple(distributed.sum_all(loss_sum, correct, seen))


def fit(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
        inputs: Inputs, loss_fn: Loss, cfg: FitConfig, device: torch.device,
        on_epoch: Callable[[EpochResult, nn.Module], None], state_path: Path | None = None,
        fingerprint: str = "") -> list[EpochResult]:
    """Train through cfg.phases. on_epoch sees every epoch's result (improved=True when it is
    the best so far on cfg.monitor: the moment to save a checkpoint)."""
    model.to(device=device, memory_format=torch.channels_last if inputs.channels_last else torch.contiguous_format)
    better = MONITORS[cfg.monitor]
    history: list[EpochResult] = []
    start_phase, start_epoch, resume = 0, 0, None
    if state_path is not None and state_path.is_file():
        resume = torch.load(state_path, map_location=device, weights_only=True)
        if resume.get("fingerprint") != fingerprint:
            resume = None  # another configuration's state: start over
        else:
            model.load_state_dict(resume["model"])
            history = [EpochResult(**r) for r in resume["history"]]
            start_phase, start_epoch = resume["phase"], resume["epoch_in_phase"] + 1
    best = None
    for r in history:
        if best is None or better(getattr(r, cfg.monitor), best):
            best = getattr(r, cfg.monitor)
    epoch_no = len(history)
    for phase_no, phase in enumerate(cfg.phases):
        if phase_no < start_phase:
            continue
        if phase.trainable_blocks is not None:
            model.freeze(phase.trainable_blocks)
        run = _Runner(model, train, val, inputs, cfg, device)
        optimizer = make_optimizer(cfg.optimizer, run.net.parameters(), phase.lr, cfg.weight_decay,
                                   cfg.momentum, cfg.nesterov)
        steps = math.ceil(len(run.train_y) / cfg.batch_size)
        schedule = SCHEDULERS[cfg.scheduler](optimizer, phase.lr, steps, phase.epochs, cfg.warmup_epochs,
                                             cfg.step_size, cfg.gamma)
        first, stale = 0, 0
        if resume is not None and phase_no == start_phase:
            optimizer.load_state_dict(resume["optimizer"])
            schedule.scheduler.load_state_dict(resume["scheduler"])
            torch.set_rng_state(resume["rng"])
            first, stale = start_epoch, resume["stale"]
        net = distributed.wrap(run.net)
        scaler = torch.amp.GradScaler(device.type, enabled=cfg.fp16)  # a no-op unless fp16
        for e in range(first, phase.epochs):
            if stale >= cfg.patience:
                break
            began = time.perf_counter()
            gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch_no)
            loss_sum, correct, seen = _train_epoch(run, net, optimizer, schedule, scaler, loss_fn, cfg, gen,
                                                   device, steps, f"epoch {epoch_no + 1}")
            logits = run.val_logits()
            val_loss = loss_fn(logits, run.val_y).item()
            val_acc = (logits.argmax(1) == run.val_y).float().mean().item()
            schedule.after_epoch(val_loss)
            value = {"val_loss": val_loss, "val_acc": val_acc}[cfg.monitor]
            improved = best is None or better(value, best)
            best, stale = (value, 0) if improved else (best, stale + 1)
            result = EpochResult(epoch_no, phase_no, loss_sum / seen, correct / seen, val_loss, val_acc,
                                 optimizer.param_groups[0]["lr"], time.perf_counter() - began, improved)
            history.append(result)
            if distributed.is_main():  # the other ranks hold the same model: one writer
                on_epoch(result, model)
            epoch_no += 1
            if state_path is not None and distributed.is_main():
                atomic_save({
                    "fingerprint": fingerprint, "phase": phase_no, "epoch_in_phase": e, "stale": stale,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": schedule.scheduler.state_dict(), "rng": torch.get_rng_state(),
                    "history": [asdict(r) for r in history]}, state_path)
        resume = None
    return history

