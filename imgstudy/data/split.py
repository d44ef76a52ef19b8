"""Stratified train/val/test index splits with a fixed seed."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from imgstudy.params.choices import TEST_SPLITS

TEST_MODES = TEST_SPLITS


def stratified_subset(labels: np.ndarray, groups: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a random subset of `size`, keeping label x group proportions."""
    if size >= len(labels):
        return np.arange(len(labels))
    strata = np.char.add(groups.astype(str), labels.astype(str))
    keep, _ = train_test_split(np.arange(len(labels)), train_size=size, stratify=strata, random_state=seed)
    return np.sort(keep)


def split_indices(
    labels: np.ndarray,
    official: np.ndarray,
    test: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    val: str = "fraction",
) -> dict[str, np.ndarray]:
    """Return sorted train/val/test indices; stratified on the label.

    test="official" keeps the dataset's own test set, test="fraction" cuts one from all samples;
    val="official" keeps the dataset's own validation set (a folder train/ val/ test/ layout), val="fraction"
    cuts one from what the test set left, and an official val set not asked for joins the training set.
    """
    if test not in TEST_MODES or val not in TEST_MODES:
        raise ValueError(f"split modes test {test!r} / val {val!r}; choose from {TEST_MODES}")
    everything = np.arange(len(labels))
    if test == "official":
        is_test = official == "test"
        if not is_test.any():
            raise ValueError("split.test is 'official' but the dataset has no official test split; use 'fraction'")
        rest, test_idx = everything[~is_test], everything[is_test]
    else:
        rest, test_idx = train_test_split(everything, test_size=test_fraction, stratify=labels, random_state=seed)
    if val == "official":
        is_val = official[rest] == "val"
        if not is_val.any():
            raise ValueError("split.val is 'official' but the dataset has no official validation split; use 'fraction'")
        train_idx, val_idx = rest[~is_val], rest[is_val]
    else:
        train_idx, val_idx = train_test_split(rest, test_size=val_fraction, stratify=labels[rest], random_state=seed)
    return {name: np.sort(idx) for name, idx in {"train": train_idx, "val": val_idx, "test": test_idx}.items()}


def kfold_assignments(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id (0..k-1) of every sample, stratified on the label."""
    folds = np.empty(len(labels), np.int64)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[held_out] = fold
    return folds
