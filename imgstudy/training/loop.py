"""The one training loop, for classification and segmentation alike.

fit() trains a model through phases (one normally; two for "head first, then the last N
blocks at a lower learning rate") on a Task, which says what a training batch is, what its
loss is and how validation scores the model (training/tasks.py). The loop owns everything
else: optimizer and schedule, precision (autocast, loss scaling), gradient accumulation and
clipping, the weights' moving average, data-parallel sharding, early stopping on the
monitored metric, and a resume state after every epoch: a run started again with the same
fingerprint continues from it and ends with the same weights as one never interrupted.
"""

from __future__ import annotations

import copy
import math
import operator
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from imgstudy.training import distributed
from imgstudy.training.fitting import EpochResult, FitConfig, Phase, Task
from imgstudy.training.optim import SCHEDULERS, make_optimizer, param_groups
from imgstudy.training.resume import atomic_save

# monitored metric -> "a is better than b"
MONITORS = {"val_loss": operator.lt, "val_acc": operator.gt, "val_dice": operator.gt}


def _load_resume(state_path: Path | None, fingerprint: str, device: torch.device) -> dict | None:
    if state_path is None or not state_path.is_file():
        return None
    state = torch.load(state_path, map_location=device, weights_only=True)
    return state if state.get("fingerprint") == fingerprint else None  # another configuration: start over


def _groups(run: _PhaseRun) -> list[list[torch.Tensor]]:
    """The epoch's index batches, grouped by optimizer step (cfg.accumulate batches each)."""
    order = run.task.epoch_order(run.gen)
    all_batches = [order[s : s + run.cfg.batch_size] for s in range(0, len(order), run.cfg.batch_size)]
    k = run.cfg.accumulate
    return [all_batches[i : i + k] for i in range(0, len(all_batches), k)]


@dataclass
class _PhaseRun:
    """The moving parts of one phase."""

    task: Task
    cfg: FitConfig
    net: nn.Module
    wrapped: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object
    scaler: torch.amp.GradScaler
    ema: AveragedModel | None
    device: torch.device
    gen: torch.Generator | None = None


def _train_epoch(run: _PhaseRun, label: str) -> dict[str, float]:
    """One pass over the training set. Each micro-batch's loss is weighted by its share of its
    optimizer step's samples, so k accumulated batches give the gradient of one batch k times
    larger; under DDP each rank takes its shard of every batch, scaled the same way."""
    run.net.train()
    world, sums, seen = distributed.world_size(), {"loss": 0.0}, 0
    groups = _groups(run)
    bar = tqdm(
        groups, leave=False, mininterval=2, desc=label, disable=None if distributed.is_main() else True
    )  # None: a bar on terminals only
    for group in bar:
        group = [idx for idx in group if len(idx) >= world]  # a tail smaller than the ranks would idle one
        total = sum(len(idx) for idx in group)
        run.optimizer.zero_grad(set_to_none=True)
        for idx in group:
            local = distributed.shard(idx)
            x, target = run.task.train_batch(local, run.gen)
            with run.cfg.precision.autocast(run.device):
                logits = run.wrapped(x)
            loss = run.task.loss(logits.float(), target)
            run.scaler.scale(loss * (len(local) * world / total)).backward()
            sums["loss"] += loss.item() * len(local)
            for key, value in run.task.batch_stats(logits, target).items():
                sums[key] = sums.get(key, 0.0) + value
            seen += len(local)
        if not group:
            continue
        if run.cfg.grad_clip:
            run.scaler.unscale_(run.optimizer)
            nn.utils.clip_grad_norm_(run.net.parameters(), run.cfg.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.schedule.after_batch()
        if run.ema is not None:
            run.ema.update_parameters(run.net)
    totals = distributed.sum_all(seen, *sums.values())
    return run.task.train_metrics(dict(zip(sums, totals[1:])), totals[0])


def _start_phase(
    model: nn.Module, task: Task, cfg: FitConfig, phase: Phase, device: torch.device, resume: dict | None
) -> _PhaseRun:
    if phase.trainable_blocks is not None:
        model.freeze(phase.trainable_blocks)
    net = task.begin_phase(model)
    optimizer = make_optimizer(
        cfg.optimizer, param_groups(net, phase.lr, cfg.backbone_lr_scale), cfg.weight_decay, cfg.momentum, cfg.nesterov
    )
    updates = math.ceil(math.ceil(task.train_size / cfg.batch_size) / cfg.accumulate)  # optimizer steps per epoch
    schedule = SCHEDULERS[cfg.scheduler](
        optimizer,
        [g["lr"] for g in optimizer.param_groups],
        updates,
        phase.epochs,
        cfg.warmup_epochs,
        cfg.step_size,
        cfg.gamma,
    )
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True) if cfg.ema else None
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        schedule.scheduler.load_state_dict(resume["scheduler"])
        if ema is not None:
            ema.load_state_dict(resume["ema"])
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision.name == "fp16")  # a no-op unless fp16
    return _PhaseRun(task, cfg, net, distributed.wrap(net), optimizer, schedule, scaler, ema, device)


def _evaluated_model(model: nn.Module, run: _PhaseRun) -> nn.Module:
    """The weights validation scores and checkpoints hold: the moving average when there is one."""
    if run.ema is None:
        return model
    averaged = copy.deepcopy(model)
    run.task.net_of(averaged).load_state_dict(run.ema.module.state_dict())
    return averaged


def fit(
    model: nn.Module,
    task: Task,
    cfg: FitConfig,
    device: torch.device,
    on_epoch: Callable[[EpochResult, nn.Module], None],
    state_path: Path | None = None,
    fingerprint: str = "",
) -> list[EpochResult]:
    """Train through cfg.phases. on_epoch sees every epoch's result with the model validation
    scored (the weights' average when cfg.ema is on), on rank 0 only."""
    better = MONITORS[cfg.monitor]
    resume = _load_resume(state_path, fingerprint, device)
    history = [EpochResult(**r) for r in resume["history"]] if resume else []
    if resume:
        model.load_state_dict(resume["model"])
    start_phase, start_epoch = (resume["phase"], resume["epoch_in_phase"] + 1) if resume else (0, 0)
    best = None
    for r in history:
        if best is None or better(r.metrics[cfg.monitor], best):
            best = r.metrics[cfg.monitor]
    epoch_no = len(history)
    for phase_no, phase in enumerate(cfg.phases):
        if phase_no < start_phase:
            continue
        resuming = resume is not None and phase_no == start_phase
        run = _start_phase(model, task, cfg, phase, device, resume if resuming else None)
        first, stale = (start_epoch, resume["stale"]) if resuming else (0, 0)
        if resuming:
            torch.set_rng_state(resume["rng"])
        for e in range(first, phase.epochs):
            if cfg.patience and stale >= cfg.patience:
                break
            began = time.perf_counter()
            run.gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch_no)
            metrics = _train_epoch(run, f"epoch {epoch_no + 1}")
            scored = _evaluated_model(model, run)
            metrics |= task.validate(task.net_of(scored), cfg.precision)
            run.schedule.after_epoch(metrics["val_loss"])
            value = metrics[cfg.monitor]
            improved = best is None or better(value, best)
            best, stale = (value, 0) if improved else (best, stale + 1)
            result = EpochResult(
                epoch_no, phase_no, run.optimizer.param_groups[-1]["lr"], time.perf_counter() - began, improved, metrics
            )
            history.append(result)
            if distributed.is_main():  # the other ranks hold the same model: one writer
                on_epoch(result, scored)
                if state_path is not None:
                    atomic_save(
                        {
                            "fingerprint": fingerprint,
                            "phase": phase_no,
                            "epoch_in_phase": e,
                            "stale": stale,
                            "model": model.state_dict(),
                            "optimizer": run.optimizer.state_dict(),
                            "scheduler": run.schedule.scheduler.state_dict(),
                            "rng": torch.get_rng_state(),
                            "ema": run.ema.state_dict() if run.ema is not None else None,
                            "history": [asdict(r) for r in history],
                        },
                        state_path,
                    )
            epoch_no += 1
    return history
