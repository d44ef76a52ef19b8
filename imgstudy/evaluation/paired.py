"""Is a change between two runs of a study real? Paired statistics on the same test images.

Two revisions (commits, experiments, the workspace) of a variant predicted the same test images: the
difference of a metric gets a paired bootstrap interval (the same resampled images for both), the
errors McNemar's exact test, and the p-values of all variants Holm's step-down adjustment. A variant
trained with several seeds (variants identical but for base.seed) is compared by its seed means, its
interval drawn over seeds as well as images.
"""

from __future__ import annotations

import math

import numpy as np

from imgstudy.evaluation.statistics import mcnemar, percentile_interval, resample_indices, resampled_metrics


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (in the input's order): the i-th smallest of m is multiplied by
    m - i, and the adjusted values are made non-decreasing in that order, capped at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [1.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def paired_difference(
    y_true: np.ndarray,
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    metric: str,
    resamples: int,
    confidence: float,
    seed: int,
) -> dict:
    """metric of A and of B on the same images, B - A with its paired bootstrap interval, McNemar's test."""
    idx = resample_indices(len(y_true), resamples, seed)
    a, b = resampled_metrics(y_true, probs_a, idx)[metric], resampled_metrics(y_true, probs_b, idx)[metric]
    full = np.arange(len(y_true))[None]
    value_a, value_b = (resampled_metrics(y_true, p, full)[metric][0] for p in (probs_a, probs_b))
    test = mcnemar(probs_a.argmax(1) == y_true, probs_b.argmax(1) == y_true)
    return {
        "a": float(value_a),
        "b": float(value_b),
        "difference": float(value_b - value_a),
        "interval": percentile_interval(b - a, confidence),
        "p_value": test["p_value"],
        "test": f"McNemar exact (b={test['b']}, c={test['c']})",
        "seeds": (1, 1),
    }


def seed_mean_difference(
    y_true: np.ndarray,
    runs_a: list[np.ndarray],
    runs_b: list[np.ndarray],
    metric: str,
    resamples: int,
    confidence: float,
    seed: int,
) -> dict:
    """Seed means of A and B; the interval of B - A resamples the seeds of each side (with replacement) and
    the test images (the same for both), so it holds the seed-to-seed spread as well as the test set's;
    its two-sided p-value is twice the smaller tail of that distribution at 0."""
    idx = resample_indices(len(y_true), resamples, seed)
    per_run = {
        side: np.stack([resampled_metrics(y_true, probs, idx)[metric] for probs in runs])  # (seeds, resamples)
        for side, runs in (("a", runs_a), ("b", runs_b))
    }
    rng = np.random.default_rng(seed + 1)
    means = {
        side: values[rng.integers(0, len(values), (resamples, len(values))), np.arange(resamples)[:, None]].mean(1)
        for side, values in per_run.items()
    }
    differences = means["b"] - means["a"]
    full = np.arange(len(y_true))[None]
    value = {side: float(np.mean([resampled_metrics(y_true, p, full)[metric][0] for p in runs]))
             for side, runs in (("a", runs_a), ("b", runs_b))}  # fmt: skip
    valid = differences[~np.isnan(differences)]
    tail = min((valid <= 0).mean(), (valid >= 0).mean()) if len(valid) else math.nan
    return {
        "a": value["a"],
        "b": value["b"],
        "difference": value["b"] - value["a"],
        "interval": percentile_interval(differences, confidence),
        "p_value": float(min(1.0, 2 * tail)),
        "test": f"bootstrap over seeds and images ({len(runs_a)} vs {len(runs_b)} seeds)",
        "seeds": (len(runs_a), len(runs_b)),
    }


def verdict(row: dict, alpha: float) -> str:
    """better | worse | no detectable change, at alpha after Holm's adjustment."""
    low, high = row["interval"]
    if row["p_adjusted"] < alpha and not (low <= 0 <= high):
        return "better" if row["difference"] > 0 else "worse"
    return "no detectable change"
