"""Training a classifier from its typed train settings: the model, its inputs and loss, the loop's
configuration, k-fold cross-validation and the model summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from imgstudy.data.store import Store, take
from imgstudy.models import MODELS, build_model
from imgstudy.params import Train
from imgstudy.training import distributed
from imgstudy.training.augment import Augment
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import FitConfig, Phase, fit
from imgstudy.training.losses import LOSSES, Loss, class_weights
from imgstudy.training.mixing import Mixing
from imgstudy.training.precision import Precision
from imgstudy.training.tasks import ClassifyTask


def model_options(t: Train) -> dict:
    group = MODELS[t.model].options
    return getattr(t, group).model_dump() if group else {}


def fit_config(t: Train, seed: int, precision: Precision) -> FitConfig:
    phases = [Phase(epochs=t.epochs, lr=t.lr)]
    if t.finetune.epochs:
        phases.append(Phase(epochs=t.finetune.epochs, lr=t.finetune.lr, trainable_blocks=t.finetune.unfreeze_blocks))
    return FitConfig(
        phases=tuple(phases),
        batch_size=t.batch_size,
        optimizer=t.optimizer,
        monitor=t.monitor,
        patience=t.patience,
        seed=seed,
        precision=precision,
        weight_decay=t.weight_decay,
        momentum=t.momentum,
        nesterov=t.nesterov,
        scheduler=t.scheduler,
        warmup_epochs=t.warmup_epochs,
        step_size=t.step_size,
        gamma=t.gamma,
        grad_clip=t.grad_clip,
        accumulate=t.accumulate,
        ema=t.ema,
        backbone_lr_scale=t.backbone_lr_scale,
    )


def prepare(
    t: Train, st: Store, train: tuple[torch.Tensor, torch.Tensor], device: torch.device, seed: int
) -> tuple[Inputs, nn.Module, Loss]:
    """Inputs fitted on `train` only, a freshly seeded model, and the loss with its class weights."""
    inputs = Inputs.fit(
        train[0], t.channels, t.normalize, t.speed.channels_last, t.zca_epsilon, t.equalize, t.clahe_clip
    )
    torch.manual_seed(seed)
    model = build_model(t.model, inputs.channels, len(st.classes), st.size, **model_options(t))
    weights = class_weights(t.class_weights, train[1].numpy(), len(st.classes))
    loss_fn = LOSSES[t.loss](None if weights is None else weights.to(device), t.label_smoothing, t.focal_gamma)
    return inputs, model, loss_fn


def make_task(
    t: Train,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    inputs: Inputs,
    loss_fn: Loss,
    device: torch.device,
    precision: Precision,
) -> ClassifyTask:
    """The task on the splits as stored; their equalization (when the variant asks for one) happens here, once."""
    train, val = (inputs.prepare(train[0]), train[1]), (inputs.prepare(val[0]), val[1])
    return ClassifyTask(
        train,
        val,
        inputs,
        loss_fn,
        device,
        augment=Augment(**t.augment.model_dump()),
        mixing=Mixing(mixup=t.mixup, cutmix=t.cutmix, prob=t.mix_prob),
        batch_size=t.batch_size,
        feature_cache=t.speed.feature_cache,
        sampling=t.sampling,
        precision=precision,
    )


def cross_validate(
    t: Train, seed: int, st: Store, splits: Path, device: torch.device, precision: Precision
) -> dict | None:
    """k-fold over train+val when split wrote folds: a fresh model per fold, scored on its held-out
    fold at its best epoch. Returns per-fold results with their mean and std."""
    if not (splits / "cv_folds.npy").is_file():
        return None
    pool, folds = np.load(splits / "cv_pool.npy"), np.load(splits / "cv_folds.npy")
    results = []
    for fold in range(int(folds.max()) + 1):
        train, val = take(st, pool[folds != fold]), take(st, pool[folds == fold])
        inputs, model, loss_fn = prepare(t, st, train, device, seed)
        task = make_task(t, train, val, inputs, loss_fn, device, precision)
        history = fit(model, task, fit_config(t, seed, precision), device, lambda r, m: None)
        best = [r for r in history if r.improved][-1]
        results.append(
            {
                "fold": fold,
                "val_loss": best.metrics["val_loss"],
                "val_acc": best.metrics["val_acc"],
                "best_epoch": best.epoch + 1,
            }
        )
        if distributed.is_main():
            print(
                f"fold {fold + 1}/{int(folds.max()) + 1}: val loss {best.metrics['val_loss']:.4f} "
                f"acc {best.metrics['val_acc']:.4f}",
                flush=True,
            )
    summary = {"folds": results}
    for key in ("val_loss", "val_acc"):
        values = np.array([r[key] for r in results])
        summary[f"{key}_mean"], summary[f"{key}_std"] = float(values.mean()), float(values.std(ddof=1))
    return summary


def model_summary(model: nn.Module, inputs: Inputs, size: int) -> tuple[dict, str]:
    """Layers, parameters and mult-adds of one (1, C, size, size) forward pass (torchinfo), as a dict
    for the model card and as the text table for the log."""
    from torchinfo import summary

    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[]):  # its random input must not shift the training's draws
        stats = summary(
            model,
            input_size=(1, inputs.channels, size, size),
            device=device,
            verbose=0,
            mode="eval",
            col_names=("output_size", "num_params", "mult_adds"),
            depth=2,
        )
    return (
        {
            "layers": len(stats.summary_list),
            "parameters": int(stats.total_params),
            "trainable": int(stats.trainable_params),
            "mult_adds": int(stats.total_mult_adds),
        },
        str(stats),
    )
