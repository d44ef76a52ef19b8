"""train: fit one variant's model; keep the best checkpoint and the params that made it.

An interrupted run resumes: models/<variant>/state.pt holds the last finished epoch and
a fingerprint of the params and data, and dvc.yaml marks the folder `persist`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from imgstudy import checkpoint, distributed
from imgstudy.checkpoint import finished_epochs, fingerprint
from imgstudy import params as P
from imgstudy.augment import Augment
from imgstudy.engine import EpochResult, FitConfig, Phase, fast_bf16, fit, select_device, setup_runtime
from imgstudy.inputs import Inputs
from imgstudy.losses import LOSSES, class_weights
from imgstudy.models import MODELS, build_model
from imgstudy.store import Store, load_split, open_store, take
from imgstudy.tracking import Tracker
from stages import variant_parser


def model_options(t: P.Train) -> dict:
    group = MODELS[t.model].options
    return getattr(t, group).model_dump() if group else {}


def fit_config(t: P.Train, seed: int, bf16: bool) -> FitConfig:
    phases = [Phase(t.epochs, t.lr)]
    if t.finetune.epochs:
        phases.append(Phase(t.finetune.epochs, t.finetune.lr, t.finetune.unfreeze_blocks))
    return FitConfig(tuple(phases), t.batch_size, t.optimizer, t.weight_decay, t.momentum, t.nesterov,
                     t.scheduler, t.warmup_epochs, t.step_size, t.gamma, t.grad_clip, t.monitor, t.patience,
                     seed, bf16, t.speed.feature_cache, Augment(**t.augment.model_dump()))


def prepare(t: P.Train, st: Store, train: tuple[torch.Tensor, torch.Tensor], device: torch.device, seed: int):
    """Inputs fitted on `train` only, a freshly seeded model, and the loss with its class weights."""
    inputs = Inputs.fit(train[0], t.channels, t.normalize, t.speed.channels_last, t.zca_epsilon)
    torch.manual_seed(seed)
    model = build_model(t.model, inputs.channels, len(st.classes), st.size, **model_options(t))
    weights = class_weights(t.class_weights, train[1].numpy(), len(st.classes))
    loss_fn = LOSSES[t.loss](None if weights is None else weights.to(device), t.label_smoothing, t.focal_gamma)
    return inputs, model, loss_fn


def cross_validate(p: P.Params, st: Store, splits: Path, device: torch.device, bf16: bool) -> dict | None:
    """k-fold over train+val when split wrote folds: a fresh model per fold, scored on its held-out
    fold at its best epoch. Returns per-fold results with their mean and std."""
    if not (splits / "cv_folds.npy").is_file():
        return None
    pool, folds = np.load(splits / "cv_pool.npy"), np.load(splits / "cv_folds.npy")
    results = []
    for fold in range(int(folds.max()) + 1):
        train, val = take(st, pool[folds != fold]), take(st, pool[folds == fold])
        inputs, model, loss_fn = prepare(p.train, st, train, device, p.base.seed)
        history = fit(model, train, val, inputs, loss_fn, fit_config(p.train, p.base.seed, bf16), device,
                      lambda r, m: None)
        best = [r for r in history if r.improved][-1]
        results.append({"fold": fold, "val_loss": best.val_loss, "val_acc": best.val_acc, "best_epoch": best.epoch + 1})
        if distributed.is_main():
            print(f"fold {fold + 1}/{int(folds.max()) + 1}: val loss {best.val_loss:.4f} acc {best.val_acc:.4f}",
                  flush=True)
    summary = {"folds": results}
    for key in ("val_loss", "val_acc"):
        values = np.array([r[key] for r in results])
        summary[f"{key}_mean"], summary[f"{key}_std"] = float(values.mean()), float(values.std(ddof=1))
    return summary


def run(p: P.Params, store: Path, splits: Path, out: Path, live_dir: Path, variant: str = "") -> list[EpochResult]:
    device = distributed.init_from_env() or select_device(p.base.device)
    threads = p.base.threads or (max(1, (os.cpu_count() or 1) // distributed.world_size())
                                 if distributed.active() else 0)  # ranks share the cores
    setup_runtime(p.base.seed, threads)
    main = distributed.is_main()  # rank 0 alone writes files and logs
    st, t = open_store(store), p.train
    bf16 = t.speed.precision == "bf16" or (t.speed.precision == "auto" and fast_bf16(device))
    fp16 = t.speed.precision == "fp16"
    out.mkdir(parents=True, exist_ok=True)
    cv = cross_validate(p, st, splits, device, bf16)
    train, val = load_split(st, splits, "train"), load_split(st, splits, "val")
    inputs, model, loss_fn = prepare(t, st, train, device, p.base.seed)
    resolved = p.model_dump(mode="json")
    state, stamp = out / "state.pt", fingerprint(resolved, store, splits)
    done = finished_epochs(state, stamp)
    if main:
        write_run_files(out, resolved, inputs, cv, fresh=done is None)
        print(f"train: {t.model} on {device} x{distributed.world_size()}{' bf16' if bf16 else ''}, "
              f"{len(train[1])} train / {len(val[1])} val images{', resuming' if done is not None else ''}")
    tracker = Tracker(live_dir, done, resolved, p.tracking.uri if p.tracking.mlflow else None,
                      p.tracking.experiment, variant or out.name) if main else None

    def on_epoch(r: EpochResult, model: torch.nn.Module) -> None:  # called on rank 0 only
        tracker.epoch(r)
        if r.improved:
            card = checkpoint.ModelCard(t.model, model_options(t), st.size, st.channels, st.classes, inputs, bf16,
                                        resolved, r.epoch, r.val_loss, r.val_acc)
            checkpoint.save(out / "model.pt", model, card)
        print(f"epoch {r.epoch + 1} (phase {r.phase + 1}) train loss {r.train_loss:.4f} acc {r.train_acc:.4f} | "
              f"val loss {r.val_loss:.4f} acc {r.val_acc:.4f} | lr {r.lr:.2e} | {r.seconds:.0f}s"
              + (" *best" if r.improved else ""), flush=True)

    began = time.perf_counter()
    config = dataclasses.replace(fit_config(t, p.base.seed, bf16), fp16=fp16)
    history = fit(model, train, val, inputs, loss_fn, config, device, on_epoch, state, stamp)
    if main:
        # Wall time of the fit (feature caching included) plus the epochs done before a resume.
        seconds = time.perf_counter() - began + sum(r.seconds for r in history[:done or 0])
        summary = {"seconds": round(seconds, 1), "epochs": len(history), "processes": distributed.world_size(),
                   "parameters": sum(w.numel() for w in model.parameters()),
                   "trainable": sum(w.numel() for w in model.parameters() if w.requires_grad)}
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        tracker.finish([out / "model.pt", out / "summary.json"])
    return history


def write_run_files(out: Path, resolved: dict, inputs: Inputs, cv: dict | None, fresh: bool) -> None:
    """The params that made the model, its fitted normalization and k-fold results; a fresh
    run first removes the state and checkpoint another configuration left behind."""
    if fresh:
        for stale in (out / "state.pt", out / "model.pt"):
            stale.unlink(missing_ok=True)
    (out / "params.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    (out / "normalization.json").write_text(json.dumps(inputs.card(), indent=2) + "\n")
    (out / "cv.json").unlink(missing_ok=True)
    if cv is not None:
        (out / "cv.json").write_text(json.dumps(cv, indent=2) + "\n")


def main() -> None:
    parser = variant_parser(__doc__, out="model folder of this variant", live="DVCLive folder of this variant")
    args = parser.parse_args()
    p = P.load(args.params, args.variant)
    if p.base.processes > 1 and not distributed.launched_by_torchrun():
        # the same stage under torchrun: dvc.yaml's command stays the same for any number of processes
        raise SystemExit(subprocess.call(distributed.relaunch_command(p.base.processes, "stages.train",
                                                                      sys.argv[1:])))
    run(p, args.store, args.splits, args.out, args.live, args.variant)


if __name__ == "__main__":
    main()
