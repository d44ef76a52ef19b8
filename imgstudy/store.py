"""The preprocessed array store: one memory-mappable uint8 array, written once.

Layout of a store folder:
  images.npy   (N, H, W, C) uint8, opened with mmap so no stage copies it again
  labels.npy   (N,) int64
  samples.csv  index, label, class, official split, source of every sample
  meta.json    class names, image size, channels, dataset name
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True)
class Store:
    images: np.ndarray  # (N, H, W, C) uint8, memory-mapped
    labels: np.ndarray  # (N,) int64
    classes: list[str]
    meta: dict

    @property
    def channels(self) -> int:
        return self.images.shape[-1]

    @property
    def size(self) -> int:
        return self.images.shape[1]


def write_store(folder: Path, images: np.ndarray, labels: np.ndarray, classes: list[str],
                sources: list[str], official: np.ndarray, meta: dict) -> None:
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"store images must be (N, H, W, C) uint8, got {images.shape} {images.dtype}")
    if not len(images) == len(labels) == len(sources) == len(official):
        raise ValueError("images, labels, sources and official split differ in length")
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "images.npy", images)
    np.save(folder / "labels.npy", labels.astype(np.int64))
    with open(folder / "samples.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "label", "class", "official", "source"])
        for i, (label, split, source) in enumerate(zip(labels.tolist(), official.tolist(), sources)):
            writer.writerow([i, label, classes[label], split, source])
    meta = {**meta, "classes": classes, "count": len(labels), "shape": list(images.shape[1:])}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def read_official(folder: Path) -> np.ndarray:
    """The dataset's own split of every sample ("train", "test", ...)."""
    with open(folder / "samples.csv", newline="") as f:
        return np.array([row["official"] for row in csv.DictReader(f)])


def open_store(folder: Path) -> Store:
    folder = Path(folder)
    missing = [n for n in ("images.npy", "labels.npy", "meta.json") if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: not a preprocessed store, missing {missing}; run preprocess")
    meta = json.loads((folder / "meta.json").read_text())
    return Store(
        images=np.load(folder / "images.npy", mmap_mode="r"),
        labels=np.load(folder / "labels.npy"),
        classes=meta["classes"],
        meta=meta,
    )


def load_split(store: Store, splits: Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One split in memory as (uint8 NHWC, int64 labels); sorted indices read the memmap in order."""
    path = Path(splits) / f"{name}.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {name} split; run the split stage")
    return take(store, np.load(path))


def take(store: Store, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples `idx` in memory as (uint8 NHWC, int64 labels); sorted indices read the memmap in order."""
    return torch.from_numpy(np.ascontiguousarray(store.images[idx])), torch.from_numpy(store.labels[idx])
