"""train@<variant> and seg_train@<variant>: fit one variant's model (a classifier or a UNet) and keep
its best checkpoint, the params that made it and its per-epoch curves.

A killed run resumes from its last finished epoch: the loop's state lives in a working folder
outside the outputs (training/resume.py), so the stage has no persist output and DVC's run cache
can hold it. What the training took goes to the timings folder, outside every hashed output.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from imgstudy.core.timings import write_timing
from imgstudy.data.store import open_store
from imgstudy.params import Params, dump_yaml
from imgstudy.training import checkpoint, distributed
from imgstudy.training.classify import classifier_setup
from imgstudy.training.fitting import EpochResult
from imgstudy.training.loop import fit
from imgstudy.training.precision import choose_precision
from imgstudy.training.resume import fingerprint, finish, saved_history, work_folder
from imgstudy.training.runtime import select_device, setup_runtime
from imgstudy.training.segment import segmenter_setup
from imgstudy.training.setup import Setup
from imgstudy.training.tracking import Tracker

# kind -> (its set-up, the params section it trains from)
KINDS = {"classifier": (classifier_setup, "train"), "segmenter": (segmenter_setup, "segment")}


@dataclasses.dataclass(frozen=True)
class Files:
    variant: str
    store: Path
    splits: Path
    out: Path  # the model folder: model.pt, params.yaml, summary.json, normalization.json (cv.json)
    live: Path  # DVCLive's per-epoch curves
    timings: Path  # what training took on this machine (not a DVC output)


def run(params: Params, files: Files, kind: str = "classifier") -> dict:
    if params.base.processes > 1 and not distributed.launched_by_torchrun():
        return relaunch(params.base.processes)
    build, section = KINDS[kind]
    device = distributed.init_from_env() or select_device(params.base.device)
    setup_runtime(params.base.seed, threads(params.base.threads))
    precision = choose_precision(getattr(params, section).speed.precision, device)
    resolved = params.model_dump(mode="json")
    store = open_store(files.store)
    setup = build(getattr(params, section), params.base.seed, store, files.splits, device, precision, resolved)
    stamp = fingerprint({key: resolved[key] for key in ("base", section)}, files.store, files.splits)
    work = distributed.from_rank0(lambda: work_folder(files.variant, stamp))
    done = [EpochResult(**r) for r in saved_history(work / "state.pt", stamp)]
    tracker = start_log(params, files, setup, done) if distributed.is_main() else None

    def on_epoch(result: EpochResult, model: torch.nn.Module) -> None:  # rank 0 only
        tracker.epoch(result)
        if result.improved:
            card = dataclasses.replace(setup.card, epoch=result.epoch, scores=validation(result))
            checkpoint.save(work / "model.pt", model, card)
        print(epoch_line(result), flush=True)

    began = time.perf_counter()
    history = fit(setup.model, setup.task, setup.config, device, on_epoch, work / "state.pt", stamp)
    if not distributed.is_main():
        return {"variant": files.variant, "epochs": len(history), "history": [r.metrics for r in history]}
    seconds = time.perf_counter() - began + sum(r.seconds for r in done)  # the resumed epochs too
    summary = write_model_folder(files.out, work / "model.pt", resolved, setup, history)
    write_timing(files.timings, f"{files.variant}.train", seconds, epochs=[round(r.seconds, 2) for r in history])
    tracker.finish([files.out / "model.pt", files.out / "summary.json"])
    finish(work)
    return {"variant": files.variant, **summary, "history": [r.metrics for r in history]}


def threads(asked: int) -> int:
    """Torch threads: as asked; 0 = all cores, shared among the ranks of a data-parallel run."""
    if asked or not distributed.active():
        return asked
    return max(1, (os.cpu_count() or 1) // distributed.world_size())


def relaunch(processes: int) -> dict:
    """This same command under torchrun with `processes` workers: dvc.yaml's command stays one."""
    module = sys.modules["__main__"].__spec__.name
    code = subprocess.call(distributed.relaunch_command(processes, module, sys.argv[1:]))
    if code:
        raise SystemExit(code)
    return {"relaunched": processes}


def start_log(params: Params, files: Files, setup: Setup, done: list[EpochResult]) -> Tracker:
    """DVCLive (and MLflow when tracking asks), with the epochs a resumed state already holds."""
    tracking = params.tracking
    uri = tracking.uri if tracking.mlflow else None
    tracker = Tracker(files.live, params.model_dump(mode="json"), uri, tracking.experiment, files.variant)
    print(setup.banner + (f"\nresuming after epoch {len(done)}" if done else ""), flush=True)
    for result in done:
        tracker.epoch(result)
    return tracker


def validation(result: EpochResult) -> dict[str, float]:
    return {key: value for key, value in result.metrics.items() if key.startswith("val_")}


def epoch_line(result: EpochResult) -> str:
    scores = " ".join(f"{key} {value:.4f}" for key, value in result.metrics.items())
    return (
        f"epoch {result.epoch + 1} (phase {result.phase + 1}) {scores} | lr {result.lr:.2e} | "
        f"{result.seconds:.0f}s" + (" *best" if result.improved else "")
    )


def write_model_folder(out: Path, best: Path, resolved: dict, setup: Setup, history: list[EpochResult]) -> dict:
    """The model folder holds only what the code, params and data determine (no times, no host)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, out / "model.pt")
    (out / "params.yaml").write_text(dump_yaml(resolved))
    for name, content in setup.files.items():
        (out / name).write_text(json.dumps(content, indent=2) + "\n")
    best_epoch = [r for r in history if r.improved][-1]
    summary = {
        "epochs": len(history),
        "best_epoch": best_epoch.epoch + 1,
        **validation(best_epoch),
        "processes": distributed.world_size(),
        "precision": setup.card.precision,
        **setup.card.summary,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def describe(result: dict) -> str:
    if "relaunched" in result:
        return f"train: ran in {result['relaunched']} processes"
    scores = ", ".join(f"{k} {v:.4f}" for k, v in result.items() if k.startswith("val_"))
    return f"train {result['variant']}: best epoch {result.get('best_epoch')} of {result['epochs']} ({scores})"
