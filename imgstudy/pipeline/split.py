"""split: stratified train/val/test index files over the store (and k folds when asked)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.data.split import kfold_assignments, split_indices
from imgstudy.data.store import open_store, read_official
from imgstudy.params import Params


@dataclass(frozen=True)
class Files:
    store: Path
    splits: Path  # train.npy, val.npy, test.npy (cv_pool.npy, cv_folds.npy)


def run(params: Params, files: Files) -> dict:
    spec, seed = params.split, params.base.seed
    labels = open_store(files.store).labels
    official = read_official(files.store)
    parts = split_indices(labels, official, spec.test, spec.val_fraction, spec.test_fraction, seed, spec.val)
    files.splits.mkdir(parents=True, exist_ok=True)
    for name, idx in parts.items():
        np.save(files.splits / f"{name}.npy", idx)
    sizes = {name: len(idx) for name, idx in parts.items()}
    if spec.folds >= 2:  # k-fold over train + val; the test split stays out of it
        pool = np.sort(np.concatenate([parts["train"], parts["val"]]))
        np.save(files.splits / "cv_pool.npy", pool)
        np.save(files.splits / "cv_folds.npy", kfold_assignments(labels[pool], spec.folds, seed))
        sizes["folds"] = spec.folds
    return {"sizes": sizes, "splits": str(files.splits)}


def describe(result: dict) -> str:
    return f"split: {result['sizes']} -> {result['splits']}"
