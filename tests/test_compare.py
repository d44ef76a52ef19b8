"""Comparison statistics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imgstudy.evaluation.compare import bootstrap_ci, column_value, display_name, fast_metrics, mcnemar
from imgstudy.evaluation.metrics import summary_metrics


def probs_for(pred: np.ndarray, k: int) -> np.ndarray:
    p = np.full((len(pred), k), 0.1 / (k - 1))
    p[np.arange(len(pred)), pred] = 0.9
    return p


def test_mcnemar_by_hand() -> None:
    ref = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 1], bool)
    other = np.array([0, 0, 0, 0, 1, 1, 0, 1, 1, 1], bool)
    result = mcnemar(ref, other)
    # b = 4 (ref right, other wrong), c = 1; (|4 - 1| - 1)^2 / 5 = 0.8; exact p = 2 * (1 + 5) / 2^5
    assert (result["b"], result["c"]) == (4, 1)
    assert result["statistic"] == pytest.approx(0.8)
    assert result["p_value"] == pytest.approx(0.375)
    assert mcnemar(ref, ref) == {"b": 0, "c": 0, "statistic": 0.0, "p_value": 1.0}


def test_bootstrap_intervals_cover_the_true_accuracy_at_their_confidence() -> None:
    """A classifier that is right with probability 0.8, on 60 simulated test sets of 150 samples:
    a 90% interval must hold 0.8 about 90% of the time (an independent check of the bootstrap)."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(60):
        y = rng.integers(0, 3, 150)
        right = rng.random(150) < 0.8
        pred = np.where(right, y, (y + 1) % 3)
        lo, hi = bootstrap_ci(y, probs_for(pred, 3), resamples=300, confidence=0.9, seed=int(rng.integers(1 << 30)))[
            "accuracy"
        ]
        covered += lo <= 0.8 <= hi
    assert 0.78 <= covered / 60 <= 0.98, covered  # 90% nominal; binomial spread over 60 sets


def test_bootstrap_accuracy_interval_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    pred = np.where(np.arange(400) % 4 == 0, (y + 1) % 3, y)  # exactly 75% right
    ci = bootstrap_ci(y, probs_for(pred, 3), resamples=1000, confidence=0.95, seed=1)
    half = 1.96 * math.sqrt(0.75 * 0.25 / 400)  # 0.0424
    assert ci["accuracy"][0] == pytest.approx(0.75 - half, abs=0.01)
    assert ci["accuracy"][1] == pytest.approx(0.75 + half, abs=0.01)
    perfect = bootstrap_ci(y, probs_for(y, 3), resamples=50, confidence=0.95, seed=1)
    assert perfect["accuracy"] == (1.0, 1.0) and perfect["f1_macro"] == (1.0, 1.0)


def test_table_cells() -> None:
    params = {"train": {"channels": "gray", "augment": {"rotation": 0, "zoom": 0.0}, "lr": 0.001, "flag": True}}
    assert column_value(params, "train.channels") == "gray"
    assert column_value(params, "train.augment") == "no"
    params["train"]["augment"]["zoom"] = 0.1
    assert column_value(params, "train.augment") == "yes"
    assert column_value(params, "train.lr") == "0.001" and column_value(params, "train.flag") == "yes"
    assert [display_name(v) for v in ("A0", "F12", "mnist_cnn")] == ["A.0", "F.12", "mnist_cnn"]


@pytest.mark.parametrize("k", [2, 3, 10])
def test_fast_metrics_equal_scikit_learn(k: int) -> None:
    rng = np.random.default_rng(k)
    for n in (7, 50, 300):
        y = rng.integers(0, k, n)
        probs = rng.integers(1, 4, (n, k)).astype(float)  # few distinct values: ties AUC must handle
        probs /= probs.sum(1, keepdims=True)
        fast, reference = fast_metrics(y, probs), summary_metrics(y, probs)
        for name, value in reference.items():
            assert fast[name] == pytest.approx(value, nan_ok=True), (name, n)


def test_variants_that_differ_only_in_seed_are_summarized_across_seeds() -> None:
    from imgstudy.evaluation.compare import seed_groups, seeds_markdown

    def params(seed: int, lr: float) -> dict:
        return {"base": {"seed": seed, "device": "cpu"}, "train": {"lr": lr}}

    resolved = {"F0": params(1, 1e-4), "F0s2": params(2, 1e-4), "F0s3": params(3, 1e-4), "F4": params(1, 1e-3)}
    metrics = {"F0": {"accuracy": 0.8}, "F0s2": {"accuracy": 0.9}, "F0s3": {"accuracy": 0.7}, "F4": {"accuracy": 0.5}}
    groups = seed_groups(resolved, metrics)
    assert list(groups) == ["F0"]  # F4 differs in lr: not a seed of F0
    g = groups["F0"]
    assert g["variants"] == ["F0", "F0s2", "F0s3"] and g["seeds"] == [1, 2, 3]
    assert g["accuracy"]["mean"] == pytest.approx(0.8) and g["accuracy"]["std"] == pytest.approx(0.1)
    assert "| F.0 | F.0, F0s2, F0s3 | 1, 2, 3 | 0.8000 ± 0.1000 |" in seeds_markdown(groups)
