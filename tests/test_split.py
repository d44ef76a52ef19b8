"""Stratified splits and subsets: disjoint, complete, proportional, reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from imgstudy.data.split import split_indices, stratified_subset

LABELS = np.repeat(np.arange(4), [400, 300, 200, 100])  # imbalanced on purpose
OFFICIAL = np.where(np.arange(1000) % 5 == 0, "test", "train")


def test_official_test_is_kept_and_val_is_stratified() -> None:
    parts = split_indices(LABELS, OFFICIAL, "official", 0.25, 0.1, seed=1)
    assert np.array_equal(parts["test"], np.flatnonzero(OFFICIAL == "test"))
    assert len(parts["val"]) == 200 and len(parts["train"]) == 600
    assert np.bincount(LABELS[parts["val"]]).tolist() == [80, 60, 40, 20]
    every = np.concatenate(list(parts.values()))
    assert sorted(every.tolist()) == list(range(1000))  # disjoint and complete


def test_fraction_mode_cuts_a_stratified_test_set() -> None:
    parts = split_indices(LABELS, OFFICIAL, "fraction", 0.1, 0.2, seed=1)
    assert np.bincount(LABELS[parts["test"]]).tolist() == [80, 60, 40, 20]
    assert len(np.intersect1d(parts["test"], parts["train"])) == 0


def test_same_seed_same_split_other_seed_other_split() -> None:
    a = split_indices(LABELS, OFFICIAL, "official", 0.1, 0.1, seed=7)
    b = split_indices(LABELS, OFFICIAL, "official", 0.1, 0.1, seed=7)
    c = split_indices(LABELS, OFFICIAL, "official", 0.1, 0.1, seed=8)
    assert np.array_equal(a["val"], b["val"]) and not np.array_equal(a["val"], c["val"])


def test_official_mode_without_a_test_split_is_a_clear_error() -> None:
    with pytest.raises(
        ValueError, match="^split.test is 'official' but the dataset has no official test split; use 'fraction'$"
    ):
        split_indices(LABELS, np.full(1000, "train"), "official", 0.1, 0.1, seed=0)
    with pytest.raises(
        ValueError, match=r"^split modes test 'random' / val 'fraction'; choose from \('official', 'fraction'\)$"
    ):
        split_indices(LABELS, OFFICIAL, "random", 0.1, 0.1, seed=0)
    with pytest.raises(ValueError, match="^split.val is 'official' but the dataset has no official validation split"):
        split_indices(LABELS, OFFICIAL, "official", 0.1, 0.1, seed=0, val="official")


def test_an_official_validation_set_is_kept_when_asked_for() -> None:
    """A train/ val/ test/ folder layout (the chest X-ray study's): val="official" validates on val/, whole."""
    official = np.where(np.arange(1000) < 700, "train", np.where(np.arange(1000) < 800, "val", "test"))
    parts = split_indices(LABELS, official, "official", 0.1, 0.1, seed=0, val="official")
    assert parts["val"].tolist() == list(range(700, 800)) and parts["test"].tolist() == list(range(800, 1000))
    assert parts["train"].tolist() == list(range(700))
    merged = split_indices(LABELS, official, "official", 0.1, 0.1, seed=0)  # val/ joins train/, a new val is cut
    assert len(merged["val"]) == 80 and len(merged["train"]) == 720


def test_fraction_splits_and_subsets_repeat_with_their_seed() -> None:
    a, b = (split_indices(LABELS, OFFICIAL, "fraction", 0.1, 0.2, seed=3) for _ in range(2))
    assert all(np.array_equal(a[k], b[k]) for k in ("train", "val", "test"))
    assert len(a["val"]) == 80 and len(a["test"]) == 200  # val is the fraction of what the test cut leaves
    assert np.array_equal(stratified_subset(LABELS, OFFICIAL, 100, 4), stratified_subset(LABELS, OFFICIAL, 100, 4))


def test_subset_keeps_label_and_official_proportions() -> None:
    keep = stratified_subset(LABELS, OFFICIAL, 100, seed=0)
    assert len(keep) == 100 and np.all(np.diff(keep) > 0)
    assert np.bincount(LABELS[keep]).tolist() == [40, 30, 20, 10]
    assert (OFFICIAL[keep] == "test").sum() == 20


def test_kfold_folds_are_stratified_and_cover_the_pool() -> None:
    from imgstudy.data.split import kfold_assignments

    folds = kfold_assignments(LABELS, 5, seed=0)
    assert sorted(np.unique(folds).tolist()) == [0, 1, 2, 3, 4]
    for f in range(5):
        assert np.bincount(LABELS[folds == f]).tolist() == [80, 60, 40, 20]
    assert np.array_equal(folds, kfold_assignments(LABELS, 5, seed=0))
    three = kfold_assignments(LABELS, 3, seed=0)
    assert three.dtype == np.int64 and np.bincount(three).tolist() == [334, 333, 333]
