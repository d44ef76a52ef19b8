"""Training a classifier from its typed train settings: the model, its inputs and loss, the loop's
configuration, k-fold cross-validation and the model summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from imgstudy.data.store import Store, load_split, take
from imgstudy.models import build_model
from imgstudy.params import Train
from imgstudy.training import distributed
from imgstudy.training.augment import Augment
from imgstudy.training.checkpoint import ModelCard
from imgstudy.training.fitting import FitConfig, Phase, fit_config
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import fit
from imgstudy.training.losses import LOSSES, Loss, class_weights
from imgstudy.training.mixing import Mixing
from imgstudy.training.precision import Precision
from imgstudy.training.setup import Setup
from imgstudy.training.tasks import ClassifyTask

Pair = tuple[torch.Tensor, torch.Tensor]


def classifier_config(train: Train, seed: int, precision: Precision) -> FitConfig:
    """One phase, or two when train.finetune asks to unfreeze the last blocks at a lower rate."""
    phases = [Phase(epochs=train.epochs, lr=train.lr)]
    if train.finetune.epochs:
        phases.append(
            Phase(epochs=train.finetune.epochs, lr=train.finetune.lr, trainable_blocks=train.finetune.unfreeze_blocks)
        )
    return fit_config(train, seed, precision, train.monitor, tuple(phases))


def prepare(
    train: Train, store: Store, train_split: Pair, device: torch.device, seed: int
) -> tuple[Inputs, nn.Module, Loss]:
    """Inputs fitted on the train split only, a freshly seeded model, and the loss with its class weights."""
    inputs = Inputs.fit(
        train_split[0],
        train.channels,
        train.normalize,
        train.speed.channels_last,
        train.zca_epsilon,
        train.equalize,
        train.clahe_clip,
    )
    torch.manual_seed(seed)
    model = build_model(train.model, inputs.channels, len(store.classes), store.size, **train.model_options)
    weights = class_weights(train.class_weights, train_split[1].numpy(), len(store.classes))
    loss_fn = LOSSES[train.loss](
        None if weights is None else weights.to(device), train.label_smoothing, train.focal_gamma
    )
    return inputs, model, loss_fn


def make_task(
    train: Train, train_split: Pair, val_split: Pair, inputs: Inputs, loss_fn: Loss, device, precision
) -> ClassifyTask:
    """The task on the splits as stored; their equalization (when the variant asks for one) happens here, once."""
    return ClassifyTask(
        (inputs.prepare(train_split[0]), train_split[1]),
        (inputs.prepare(val_split[0]), val_split[1]),
        inputs,
        loss_fn,
        device,
        augment=Augment(**train.augment.model_dump()),
        mixing=Mixing(mixup=train.mixup, cutmix=train.cutmix, prob=train.mix_prob),
        batch_size=train.batch_size,
        feature_cache=train.speed.feature_cache,
        sampling=train.sampling,
        precision=precision,
    )


def cross_validate(train: Train, seed: int, store: Store, splits: Path, device, precision) -> dict | None:
    """k-fold over train+val when split wrote folds: a fresh model per fold, scored on its held-out
    fold at its best epoch. Returns per-fold results with their mean and std."""
    if not (splits / "cv_folds.npy").is_file():
        return None
    pool, folds = np.load(splits / "cv_pool.npy"), np.load(splits / "cv_folds.npy")
    results = []
    for fold in range(int(folds.max()) + 1):
        fold_train, fold_val = take(store, pool[folds != fold]), take(store, pool[folds == fold])
        inputs, model, loss_fn = prepare(train, store, fold_train, device, seed)
        task = make_task(train, fold_train, fold_val, inputs, loss_fn, device, precision)
        history = fit(model, task, classifier_config(train, seed, precision), device, lambda r, m: None)
        best = [r for r in history if r.improved][-1]
        scores = {key: best.metrics[key] for key in ("val_loss", "val_acc")}
        results.append({"fold": fold, **scores, "best_epoch": best.epoch + 1})
        if distributed.is_main():
            print(f"fold {fold + 1}/{int(folds.max()) + 1}: val loss {scores['val_loss']:.4f} "
                  f"acc {scores['val_acc']:.4f}", flush=True)  # fmt: skip
    summary = {"folds": results}
    for key in ("val_loss", "val_acc"):
        values = np.array([r[key] for r in results])
        summary[f"{key}_mean"], summary[f"{key}_std"] = float(values.mean()), float(values.std(ddof=1))
    return summary


def model_summary(model: nn.Module, inputs: Inputs, size: int) -> tuple[dict, str]:
    """Layers, parameters and mult-adds of one (1, C, size, size) forward pass (torchinfo), as a dict
    for the model card and as the text table for the log."""
    from torchinfo import summary  # on use: it imports slowly

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
    counts = {
        "layers": len(stats.summary_list),
        "parameters": int(stats.total_params),
        "trainable": int(stats.trainable_params),
        "mult_adds": int(stats.total_mult_adds),
    }
    return counts, str(stats)


def classifier_setup(
    train: Train, seed: int, store: Store, splits: Path, device, precision: Precision, resolved: dict
) -> Setup:
    """A classifier's training: k-fold scores first when split made folds, then the model on train/val."""
    cv = cross_validate(train, seed, store, splits, device, precision)
    train_split, val_split = load_split(store, splits, "train"), load_split(store, splits, "val")
    inputs, model, loss_fn = prepare(train, store, train_split, device, seed)
    summary, table = model_summary(model, inputs, store.size)
    card = ModelCard(
        kind="classifier",
        model=train.model,
        model_options=train.model_options,
        image_size=store.size,
        stored_channels=store.channels,
        classes=store.classes,
        inputs=inputs,
        precision=precision.name,
        params=resolved,
        summary=summary,
    )
    banner = (
        f"train: {train.model} on {device} x{distributed.world_size()}, precision {precision}, "
        f"{len(train_split[1])} train / {len(val_split[1])} val images\n{table}"
    )
    files = {"normalization.json": inputs.card(), **({"cv.json": cv} if cv is not None else {})}
    task = make_task(train, train_split, val_split, inputs, loss_fn, device, precision)
    return Setup(model, task, classifier_config(train, seed, precision), card, banner, files)
