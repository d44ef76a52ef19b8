"""The statistics of a comparison: bootstrap intervals, McNemar's and Wilcoxon's paired tests,
groups of seeds, and the segmentation variants' per-image scores."""

from __future__ import annotations

import json
import math
import warnings

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


def resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) indices drawn with replacement, one row per resample. Drawn row by row: numpy's
    bounded integers discard the unused half of a 64-bit word at the end of each call, so one draw of
    (resamples, n) would give other rows for an odd n than the row-by-row draws every published
    interval came from."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, n, n) for _ in range(resamples)]) if n else np.zeros((resamples, 0), int)


def resampled_metrics(y_true: np.ndarray, probs: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """fast_metrics() of every resample (rows of idx) at once: (resamples,) per metric, the same numbers
    (tested against the loop) without a Python loop over resamples."""
    b, (n, k) = len(idx), probs.shape
    pred = probs.argmax(1)
    codes = (y_true * k + pred)[idx] + (np.arange(b) * k * k)[:, None]
    cm = np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)  # (resample, true, predicted)
    tp, predicted, actual = np.diagonal(cm, axis1=1, axis2=2).astype(float), cm.sum(1), cm.sum(2)
    precision = np.divide(tp, predicted, out=np.zeros((b, k)), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros((b, k)), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros((b, k)), where=precision + recall > 0)
    drawn = (idx + (np.arange(b) * n)[:, None]).ravel()
    counts = np.ascontiguousarray(np.bincount(drawn, minlength=b * n).reshape(b, n).T, dtype=float)  # (n, resamples)
    aucs = np.stack([resampled_auc(counts, probs[:, c], y_true == c) for c in ([1] if k == 2 else range(k))], 1)
    with warnings.catch_warnings():  # a resample without two classes has no AUC: NaN, left out below
        warnings.simplefilter("ignore", RuntimeWarning)
        roc_auc = np.nanmean(aucs, axis=1) if aucs.size else np.full(b, math.nan)
    return {
        "accuracy": tp.sum(1) / n,
        "precision_macro": precision.mean(1),
        "recall_macro": recall.mean(1),
        "f1_macro": f1.mean(1),
        "roc_auc": roc_auc,
    }


def resampled_auc(counts: np.ndarray, scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """One-vs-rest AUC of each resample: sum over positives of the negatives scored below them (ties count
    half), over n_pos * n_neg, the Mann-Whitney form of the rank-sum fast_metrics() uses; NaN where a
    resample holds one class only. counts: (sample, resample), times each sample was drawn."""
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    first = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # where each group of tied scores starts
    group = np.cumsum(np.r_[True, ranked[1:] != ranked[:-1]]) - 1
    start, end = first[group], np.r_[first[1:], len(ranked)][group]  # each sample's group: [start, end)
    w, pos = counts[order], positive[order, None]
    cumulative = np.zeros((len(ranked) + 1, w.shape[1]))
    np.cumsum(np.where(pos, 0.0, w), axis=0, out=cumulative[1:])  # negatives drawn, up to each rank
    # a positive beats the negatives below its group and ties with half of those inside it
    u = (np.where(pos, w, 0.0) * (cumulative[start] + cumulative[end]) / 2).sum(0)
    n_pos, n_neg = (w * pos).sum(0), cumulative[-1]
    with np.errstate(all="ignore"):
        auc = u / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, math.nan)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    tail = (1 - confidence) / 2 * 100
    return (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) if len(v) else (math.nan, math.nan)


def bootstrap_ci(
    y_true: np.ndarray, probs: np.ndarray, resamples: int, confidence: float, seed: int
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap over test samples: resample with replacement, recompute each metric."""
    draws = resampled_metrics(y_true, probs, resample_indices(len(y_true), resamples, seed))
    return {name: percentile_interval(values, confidence) for name, values in draws.items()}


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
