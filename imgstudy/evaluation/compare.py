"""Comparing variants: bootstrap confidence intervals, McNemar's paired test, the study table."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import numpy as np
from scipy.stats import binomtest, rankdata, wilcoxon

TABLE_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")


def display_name(variant: str) -> str:
    """Variant keys cannot hold dots (DVC reads them as nesting): A0 is printed A.0."""
    m = re.fullmatch(r"([A-Za-z]+)(\d+)", variant)
    return f"{m.group(1)}.{m.group(2)}" if m else variant


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
    draws = {m: [] for m in TABLE_METRICS}
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


def column_value(params: dict, dotted: str) -> str:
    """A study-table cell from a variant's resolved params; a switch group reads yes/no."""
    node = params
    for key in dotted.split("."):
        node = node[key]
    if isinstance(node, dict):  # a group of switches (augment): "yes" if any is on
        return "yes" if any(bool(v) and v != "none" for v in node.values()) else "no"
    if isinstance(node, bool):
        return "yes" if node else "no"
    return str(node)


# Optional columns: title -> (where in a variant's report, format); shown when any variant has the value.
EXTRA_COLUMNS = {
    "k-fold val acc": None,  # mean ± std, from metrics val_acc_mean / val_acc_std
    "mean corruption acc": (("robustness", "mean_corruption_accuracy"), "{:.4f}"),
    "altered acc": (("robustness", "altered_accuracy"), "{:.4f}"),
    "ms/image b1": (("metrics", "latency_ms_b1"), "{:.2f}"),
    "ms/image b256": (("metrics", "latency_ms_b256"), "{:.3f}"),
}


def _extra(v: dict, title: str) -> str | None:
    if title == "k-fold val acc":
        m = v["metrics"]
        return f"{m['val_acc_mean']:.4f} ± {m['val_acc_std']:.4f}" if "val_acc_mean" in m else None
    (group, key), fmt = EXTRA_COLUMNS[title]
    value = (v.get(group) or {}).get(key)
    return None if value is None else fmt.format(value)


def table_rows(report: dict, columns: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table, one row per variant, in grid order."""
    variants = report["variants"]
    extras = [t for t in EXTRA_COLUMNS if any(_extra(v, t) is not None for v in variants.values())]
    header = [
        "variant",
        *columns,
        *TABLE_METRICS,
        *extras,
        "train s",
        "parameters",
        f"p vs {display_name(report['best'])}",
    ]
    rows = []
    for name, v in variants.items():
        cells = [display_name(name), *v["columns"].values()]
        for m in TABLE_METRICS:
            lo, hi = v["ci"][m]
            cells.append(f"{v['metrics'][m]:.4f} [{lo:.4f}, {hi:.4f}]")
        cells += [_extra(v, t) or "" for t in extras]
        cells += [
            f"{v['metrics']['train_seconds']:.0f}",
            f"{v['metrics']['parameters']:,}",
            "best" if name == report["best"] else f"{v['mcnemar']['p_value']:.3g}",
        ]
        rows.append(cells)
    return header, rows


def to_markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


SEED_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")


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
        for m in SEED_METRICS:
            values = np.array([metrics[n][m] for n in names if m in metrics[n]], dtype=float)
            if len(values) == len(names):
                stats[m] = {"mean": float(values.mean()), "std": float(values.std(ddof=1))}
        out[names[0]] = {"variants": names, "seeds": [resolved[n]["base"]["seed"] for n in names], **stats}
    return out


def seeds_markdown(groups: dict[str, dict]) -> str:
    """The across-seeds table: mean ± std of each metric per group."""
    if not groups:
        return ""
    metrics = [m for m in SEED_METRICS if all(m in g for g in groups.values())]
    header = ["configuration", "variants", "seeds", *metrics]
    rows = [
        [
            display_name(name),
            ", ".join(display_name(v) for v in g["variants"]),
            ", ".join(str(s) for s in g["seeds"]),
            *(f"{g[m]['mean']:.4f} ± {g[m]['std']:.4f}" for m in metrics),
        ]
        for name, g in groups.items()
    ]
    return "\n\nAcross seeds (variants identical but for base.seed): mean ± sample std.\n\n" + to_markdown(header, rows)


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


def seg_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the segmentation table, one row per segmentation variant."""
    header = ["variant", "Dice", "IoU", "HD95 (px)", "test images", f"p vs {display_name(report['best'])}"]
    rows = []
    for name, v in report["variants"].items():
        cells = [display_name(name)]
        for m in SEG_METRICS:
            lo, hi = v[m]["ci"]
            digits = 2 if m == "hd95" else 4
            cells.append(f"{v[m]['mean']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]")
        cells += [str(v["images"]), "best" if name == report["best"] else f"{v['p_value']:.3g}"]
        rows.append(cells)
    return header, rows


def seg_caption(report: dict) -> str:
    return (
        f"Segmentation, best by Dice: {display_name(report['best'])}. Brackets: {report['confidence']:.0%} "
        f"bootstrap intervals over test images ({report['bootstrap']} resamples); last column: Wilcoxon "
        "signed-rank test of per-image Dice against the best."
    )


def seg_markdown(report: dict) -> str:
    return seg_caption(report) + "\n\n" + to_markdown(*seg_rows(report))
