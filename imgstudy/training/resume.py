"""Where a killed training run resumes from: a state outside the stage's outputs.

The state (weights, optimizer, schedule, random state and history after each epoch, and the best
checkpoint so far) lives in a working folder keyed by the variant and a fingerprint of what decides
the training: its params sections, the data (store and split indices) and the library's code. DVC
then sees train@<variant> as a plain stage with cached outputs, which its run cache can hold and
`dvc push --run-cache` can share, while a run killed at epoch k, started again with the same
fingerprint, continues from epoch k and ends with the weights of a run never interrupted. The folder
is removed once the model is written. It is $IMGSTUDY_RESUME, else ~/.cache/imgstudy/resume: outside
the workspace, so a queued experiment's temporary workspace finds it when the queue runs it again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch

LIBRARY = Path(__file__).resolve().parents[1]  # imgstudy/
_HELD: list = []  # the open lock files of this process's working folders


def atomic_save(obj: dict, path: Path) -> None:
    """torch.save to a temporary file renamed into place: a kill never leaves a torn file."""
    tmp = Path(str(path) + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def resume_root() -> Path:
    if os.environ.get("IMGSTUDY_RESUME"):
        return Path(os.environ["IMGSTUDY_RESUME"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imgstudy" / "resume"


def fingerprint(sections: dict, store: Path, splits: Path) -> str:
    """Same params sections, data and code -> same fingerprint: only then may a saved state be resumed."""
    h = hashlib.sha256(json.dumps(sections, sort_keys=True).encode())
    for path in sorted(LIBRARY.rglob("*.py")):
        h.update(path.relative_to(LIBRARY).as_posix().encode() + path.read_bytes())
    h.update((store / "meta.json").read_bytes())
    for name in ("train", "val"):
        h.update((splits / f"{name}.npy").read_bytes())
    return h.hexdigest()


def work_folder(variant: str, stamp: str) -> Path:
    """The variant's working folder for this fingerprint, locked for this process while it lives (the
    lock goes with the process, killed or not). When another live process trains the same variant and
    fingerprint (two queue workers, two test processes), this one works in a folder of its own and
    does not resume."""
    folder = resume_root() / f"{variant or 'model'}-{stamp[:20]}"
    for candidate in (folder, folder.with_name(f"{folder.name}-{os.getpid()}")):
        candidate.mkdir(parents=True, exist_ok=True)
        handle = open(candidate / "lock", "w")  # noqa: SIM115 - held open for the process's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _HELD.append(handle)
        return candidate
    raise RuntimeError(f"{folder}: locked by another process twice")


def saved_history(state: Path, stamp: str) -> list[dict]:
    """The epochs a resumable state holds ([] when there is none for this fingerprint)."""
    if not state.is_file():
        return []
    saved = torch.load(state, map_location="cpu", weights_only=True)
    return saved["history"] if saved.get("fingerprint") == stamp else []


def finish(folder: Path) -> None:
    """The model is written: the working folder goes."""
    shutil.rmtree(folder, ignore_errors=True)
