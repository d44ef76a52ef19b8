"""The statistics of a comparison: bootstrap intervals, McNemar's and Wilcoxon's paired tests,
groups of seeds, and the segmentation variants' per-image scores."""

from __future__ import annotations

import json
import math

import numpy as np
from scipy.stats import binomtest, rankdata, wilcoxon

from imgstudy.params.choices import METRICS


def fast_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """summary_metrics() computed from one confusion matrix and one ranking: the same numbers
    (tested against scikit-learn) at a fraction of the cost, for thousands of resamples."""
    n, k = probs.shape
    pred = probs.argmax(1)
    cm = np.bincount(y_true * k + pred, minlength=k * k).reshape(k, k)  # rows: true, columns: predicted
    tp, predicted, actual = np.diag(cm).astype(float), cm.sum(0), cm.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=precision + recall > 0)
    # One-vs-rest AUC per class by the rank-sum (Mann-Whitney) formula, ties at average rank.
    columns = [1] if k == 2 else range(k)
    aucs = []
    for c in columns:
        positive = y_true == c
        n_pos = positive.sum()
        if 0 < n_pos < n:
            ranks = rankdata(probs[:, c])
            aucs.append((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos)))
    return {
        "accuracy": float(tp.sum() / n),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "roc_auc": float(np.mean(aucs)) if aucs else math.nan,
    }


def bootstrap_ci(
    y_true: np.ndarray, probs: np.ndarray, resamples: int, confidence: float, seed: int
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap over test samples: resample with replacement, recompute each metric."""
    rng = np.random.default_rng(seed)
    n = len(y_true)
    draws = {m: [] for m in METRICS}
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        for name, value in fast_metrics(y_true[idx], probs[idx]).items():
            draws[name].append(value)
    tail = (1 - confidence) / 2 * 100
    out = {}
    for name, values in draws.items():
        v = np.asarray(values, dtype=np.float64)
        v = v[~np.isnan(v)]
        out[name] = (
            (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) if len(v) else (math.nan, math.nan)
        )
    return out


def mcnemar(correct_ref: np.ndarray, correct_other: np.ndarray) -> dict[str, float]:
    """McNemar's test on paired predictions of the same test samples.

    b: the reference right and the other wrong; c: the reverse. The statistic is the
    continuity-corrected chi-square (|b - c| - 1)^2 / (b + c); the p-value is the exact
    binomial one (b ~ Binomial(b + c, 1/2)), valid for any b + c.
    """
    b = int(np.sum(correct_ref & ~correct_other))
    c = int(np.sum(~correct_ref & correct_other))
    if b + c == 0:
        return {"b": 0, "c": 0, "statistic": 0.0, "p_value": 1.0}
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return {"b": b, "c": c, "statistic": float(statistic), "p_value": float(binomtest(b, b + c, 0.5).pvalue)}


def seed_groups(resolved: dict[str, dict], metrics: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Variants whose resolved params differ only in base.seed form a group: the same
    configuration trained with several seeds. Returns, per group of two or more (named by
    its first variant), its variants, seeds and the mean and sample std of each metric."""
    groups: dict[str, list[str]] = {}
    for name, params in resolved.items():
        key = json.dumps({**params, "base": {**params["base"], "seed": None}}, sort_keys=True)
        groups.setdefault(key, []).append(name)
    out = {}
    for names in groups.values():
        if len(names) < 2:
            continue
        stats = {}
        for m in METRICS:
            values = np.array([metrics[n][m] for n in names if m in metrics[n]], dtype=float)
            if len(values) == len(names):
                stats[m] = {"mean": float(values.mean()), "std": float(values.std(ddof=1))}
        out[names[0]] = {"variants": names, "seeds": [resolved[n]["base"]["seed"] for n in names], **stats}
    return out


def mean_ci(values: np.ndarray, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-image scores (NaNs, undefined scores, left out)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (resamples, len(v)))].mean(1)
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_wilcoxon(reference: np.ndarray, other: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of per-image scores of two models on the same images
    (1.0 when they never differ)."""
    diff = np.asarray(reference, float) - np.asarray(other, float)
    diff = diff[~np.isnan(diff)]
    if not np.any(diff != 0):
        return 1.0
    return float(wilcoxon(diff, zero_method="wilcox").pvalue)


SEG_METRICS = ("dice", "iou", "hd95")


def seg_report(per_image: dict[str, dict[str, np.ndarray]], resamples: int, confidence: float, seed: int) -> dict:
    """The segmentation variants side by side: the mean of each per-image score with its bootstrap
    interval over test images, and Wilcoxon's paired test of per-image Dice against the best."""
    variants = {
        name: {
            m: {
                "mean": float(np.nanmean(s[m])) if np.any(~np.isnan(s[m])) else math.nan,
                "ci": mean_ci(s[m], resamples, confidence, seed),
            }
            for m in SEG_METRICS
        }
        for name, s in per_image.items()
    }
    best = max(variants, key=lambda n: variants[n]["dice"]["mean"])
    for name, v in variants.items():
        v["p_value"] = paired_wilcoxon(per_image[best]["dice"], per_image[name]["dice"])
        v["images"] = int(len(per_image[name]["dice"]))
    return {"best": best, "confidence": confidence, "bootstrap": resamples, "variants": variants}
