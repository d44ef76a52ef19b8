"""Comparison plots across variants (matplotlib, written as PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_metric_bars(path: Path, variants: dict[str, dict], metrics: list[str]) -> None:
    """Grouped bars per variant, one colour per metric, whiskers = the bootstrap interval."""
    names = list(variants)
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(min(14, max(6.0, 1.2 * len(names) + 2)), 4))
    for i, m in enumerate(metrics):
        values = np.array([variants[n]["metrics"][m] for n in names])
        lo = np.array([variants[n]["ci"][m][0] for n in names])
        hi = np.array([variants[n]["ci"][m][1] for n in names])
        x = np.arange(len(names)) + (i - (len(metrics) - 1) / 2) * width
        ax.bar(x, values, width, label=m, yerr=np.vstack([values - lo, hi - values]), capsize=3)
    ax.set_xticks(np.arange(len(names)), names)
    low = min(min(variants[n]["ci"][m][0] for n in names) for m in metrics)
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_ylabel("test score")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("test metrics per variant (95% bootstrap intervals)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_learning_curves(path: Path, curves: dict[str, dict[str, list[float]]]) -> None:
    """Loss and accuracy per epoch on the training set (dashed) and the validation set (solid), every
    variant in its colour on the same axes: where a variant over- or under-fits shows as the gap."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, c) in enumerate(curves.items()):
        colour = colours[i % len(colours)]
        for ax, key in zip(axes, ("loss", "acc")):
            ax.plot(range(1, len(c[f"val_{key}"]) + 1), c[f"val_{key}"], marker="o", ms=3, color=colour, label=name)
            ax.plot(range(1, len(c[f"train_{key}"]) + 1), c[f"train_{key}"], ls="--", color=colour, alpha=0.7)
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(f"{key}: validation (solid), training (dashed)")
        ax.grid(alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.tight_layout()
    # Beside the axes, not on them: a study's 35 variants would cover the curves.
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, ncol=1 + len(labels) // 20)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_robustness(path: Path, table: dict[str, dict[str, float]], clean: float) -> None:
    """Accuracy per corruption against severity; the dashed line is the clean accuracy."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, row in table.items():
        ax.plot([int(s) for s in row], list(row.values()), marker="o", label=name)
    ax.axhline(clean, color="k", ls="--", lw=1, label="clean")
    ax.set(
        xlabel="severity",
        ylabel="test accuracy",
        xticks=[1, 2, 3],
        ylim=(0, 1.02),
        title="accuracy on corrupted test images",
    )
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_robustness_overview(path: Path, per_corruption: dict[str, dict[str, float]]) -> None:
    """Accuracy per corruption (mean over severities) for every variant: a variants x corruptions heat map."""
    names = list(per_corruption)
    corruptions = list(next(iter(per_corruption.values()), {}))
    values = np.array([[per_corruption[n].get(c, np.nan) for c in corruptions] for n in names])
    fig, ax = plt.subplots(figsize=(1.1 * len(corruptions) + 2.5, 0.45 * len(names) + 1.5))
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(corruptions)), corruptions, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(corruptions)):
            ax.text(
                j,
                i,
                f"{values[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if values[i, j] < 0.6 else "black",
            )
    fig.colorbar(image, ax=ax, label="test accuracy")
    ax.set_title("accuracy on corrupted test images (mean over 3 severities)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_tiles(path: Path, tiles: list[list[np.ndarray | None]], titles: list[list[str]], heading: str) -> None:
    """Rows of equally sized (H, W, 3) uint8 tiles (None: an empty place) as one image, a title above each:
    one axes however many tiles, where a subplot per tile costs a tenth of a second each to draw."""
    h, w = next(t for row in tiles for t in row if t is not None).shape[:2]
    gap, band = max(2, w // 16), h // 2  # between tiles; above each row, for the titles
    cols = max(len(row) for row in tiles)
    canvas = np.full((len(tiles) * (band + h) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            if tile is not None:
                top, left = r * (band + h) + band, gap + c * (w + gap)
                canvas[top : top + h, left : left + w] = tile
    fig, ax = plt.subplots(figsize=(max(3.0, 1.6 * cols), 1.9 * len(tiles) + 0.3))
    ax.imshow(canvas, interpolation="nearest")
    ax.axis("off")
    for r, row in enumerate(titles):
        for c, title in enumerate(row):
            ax.text(gap + c * (w + gap) + w / 2, r * (band + h) + band - 1, title, ha="center", va="bottom", fontsize=7)
    ax.set_title(heading, fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def rgb_tile(image: np.ndarray, side: int = 96) -> np.ndarray:
    """(H, W, 1 or 3) uint8 -> (side', side', 3), enlarged by whole pixels (nearest) to about `side`."""
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    factor = max(1, side // max(image.shape[:2]))
    return np.kron(rgb, np.ones((factor, factor, 1), np.uint8)) if factor > 1 else rgb
