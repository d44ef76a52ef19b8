"""split: stratified train/val/test index files over the store."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from imgstudy import params as P
from imgstudy.data.split import kfold_assignments, split_indices
from imgstudy.data.store import open_store, read_official
from stages import cli


def run(
    store: Path, splits: Path, test: str, val_fraction: float, test_fraction: float, seed: int, folds: int = 0
) -> dict[str, int]:
    labels = open_store(store).labels
    parts = split_indices(labels, read_official(store), test, val_fraction, test_fraction, seed)
    splits.mkdir(parents=True, exist_ok=True)
    for name, idx in parts.items():
        np.save(splits / f"{name}.npy", idx)
    sizes = {name: len(idx) for name, idx in parts.items()}
    if folds >= 2:  # k-fold over train + val; the test split stays out of it
        pool = np.sort(np.concatenate([parts["train"], parts["val"]]))
        np.save(splits / "cv_pool.npy", pool)
        np.save(splits / "cv_folds.npy", kfold_assignments(labels[pool], folds, seed))
        sizes["folds"] = folds
    return sizes


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--splits", type=Path, required=True)
    args = parser.parse_args()
    p = P.load(args.params)
    s = p.split
    sizes = run(args.store, args.splits, s.test, s.val_fraction, s.test_fraction, p.base.seed, s.folds)
    print(f"split: {sizes} -> {args.splits}")


if __name__ == "__main__":
    main()
