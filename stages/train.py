"""train: fit one variant's model; keep the best checkpoint and the params that made it.

An interrupted run resumes: models/<variant>/state.pt holds the last finished epoch and
a fingerprint of the params and data, and dvc.yaml marks the folder `persist`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from imgstudy import params as P
from imgstudy.data.store import load_split, open_store
from imgstudy.training import checkpoint, distributed
from imgstudy.training.checkpoint import fingerprint, finished_epochs
from imgstudy.training.classify import cross_validate, fit_config, make_task, model_options, model_summary, prepare
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import EpochResult, fit
from imgstudy.training.precision import choose_precision
from imgstudy.training.runtime import select_device, setup_runtime
from imgstudy.training.tracking import Tracker
from stages import cli, variant_parser


def run(p: P.Params, store: Path, splits: Path, out: Path, live_dir: Path, variant: str = "") -> list[EpochResult]:
    device = distributed.init_from_env() or select_device(p.base.device)
    threads = p.base.threads or (
        max(1, (os.cpu_count() or 1) // distributed.world_size()) if distributed.active() else 0
    )  # ranks share the cores
    setup_runtime(p.base.seed, threads)
    main = distributed.is_main()  # rank 0 alone writes files and logs
    st, t = open_store(store), p.train
    precision = choose_precision(t.speed.precision, device)
    out.mkdir(parents=True, exist_ok=True)
    cv = cross_validate(t, p.base.seed, st, splits, device, precision)
    train, val = load_split(st, splits, "train"), load_split(st, splits, "val")
    inputs, model, loss_fn = prepare(t, st, train, device, p.base.seed)
    summary, table = model_summary(model, inputs, st.size)
    resolved = p.model_dump(mode="json")
    state, stamp = out / "state.pt", fingerprint(resolved, store, splits)
    done = finished_epochs(state, stamp)
    if main:
        write_run_files(out, resolved, inputs, cv, fresh=done is None)
        print(
            f"train: {t.model} on {device} x{distributed.world_size()}, precision {precision}, "
            f"{len(train[1])} train / {len(val[1])} val images{', resuming' if done is not None else ''}\n{table}",
            flush=True,
        )
    tracker = (
        Tracker(
            live_dir,
            done,
            resolved,
            p.tracking.uri if p.tracking.mlflow else None,
            p.tracking.experiment,
            variant or out.name,
        )
        if main
        else None
    )

    def on_epoch(r: EpochResult, model: torch.nn.Module) -> None:  # called on rank 0 only
        tracker.epoch(r)
        m = r.metrics
        if r.improved:
            card = checkpoint.ModelCard(
                model=t.model,
                model_options=model_options(t),
                image_size=st.size,
                stored_channels=st.channels,
                classes=st.classes,
                inputs=inputs,
                precision=precision.name,
                params=resolved,
                epoch=r.epoch,
                val_loss=m["val_loss"],
                val_acc=m["val_acc"],
                summary=summary,
            )
            checkpoint.save(out / "model.pt", model, card)
        print(
            f"epoch {r.epoch + 1} (phase {r.phase + 1}) train loss {m['train_loss']:.4f} acc {m['train_acc']:.4f} | "
            f"val loss {m['val_loss']:.4f} acc {m['val_acc']:.4f} | lr {r.lr:.2e} | {r.seconds:.0f}s"
            + (" *best" if r.improved else ""),
            flush=True,
        )

    began = time.perf_counter()
    task = make_task(t, train, val, inputs, loss_fn, device, precision)
    history = fit(model, task, fit_config(t, p.base.seed, precision), device, on_epoch, state, stamp)
    if main:
        # Wall time of the fit (feature caching included) plus the epochs done before a resume.
        seconds = time.perf_counter() - began + sum(r.seconds for r in history[: done or 0])
        (out / "summary.json").write_text(
            json.dumps(
                {
                    "seconds": round(seconds, 1),
                    "epochs": len(history),
                    "processes": distributed.world_size(),
                    "precision": precision.name,
                    **summary,
                },
                indent=2,
            )
            + "\n"
        )
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


@cli
def main() -> None:
    parser = variant_parser(__doc__, out="model folder of this variant", live="DVCLive folder of this variant")
    args = parser.parse_args()
    p = P.load(args.params, args.variant)
    if p.base.processes > 1 and not distributed.launched_by_torchrun():
        # the same stage under torchrun: dvc.yaml's command stays the same for any number of processes
        raise SystemExit(subprocess.call(distributed.relaunch_command(p.base.processes, "stages.train", sys.argv[1:])))
    run(p, args.store, args.splits, args.out, args.live, args.variant)


if __name__ == "__main__":
    main()
