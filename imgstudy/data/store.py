"""The preprocessed array store: one memory-mappable uint8 array, written once.

Layout of a store folder:
  images.npy   (N, H, W, C) uint8, opened with mmap so no stage copies it again
  labels.npy   (N,) int64
  samples.csv  index, label, class, official split, source of every sample
  meta.json    class names, image size, channels, dataset name
  masks.npy    (N, H, W) uint8 class indices, for datasets with segmentation masks (meta: mask_classes)
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
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
    masks: np.ndarray | None = None  # (N, H, W) uint8, memory-mapped, when the dataset has masks

    @property
    def mask_classes(self) -> list[str]:
        return self.meta.get("mask_classes", [])

    @property
    def channels(self) -> int:
        return self.images.shape[-1]

    @property
    def size(self) -> int:
        return self.images.shape[1]


def write_store(
    folder: Path,
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    sources: list[str],
    official: np.ndarray,
    meta: dict,
    masks: np.ndarray | None = None,
    mask_classes: list[str] | None = None,
) -> None:
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"store images must be (N, H, W, C) uint8, got {images.shape} {images.dtype}")
    if not len(images) == len(labels) == len(sources) == len(official):
        raise ValueError("images, labels, sources and official split differ in length")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "masks.npy").unlink(missing_ok=True)
    if masks is not None:
        if masks.shape != images.shape[:3] or masks.dtype != np.uint8:
            raise ValueError(f"store masks must be {images.shape[:3]} uint8, got {masks.shape} {masks.dtype}")
        np.save(folder / "masks.npy", masks)
        meta = {**meta, "mask_classes": mask_classes}
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
        masks=np.load(folder / "masks.npy", mmap_mode="r") if (folder / "masks.npy").is_file() else None,
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


def take_masks(store: Store, idx: np.ndarray) -> torch.Tensor:
    """Masks of samples `idx` in memory as (N, H, W) int64 class indices."""
    if store.masks is None:
        raise ValueError(
            f"the store of {store.meta.get('dataset')!r} has no masks; segmentation needs a dataset "
            "with masks (download.dataset masks, masks_csv or covid_ct_seg)"
        )
    return torch.from_numpy(np.ascontiguousarray(store.masks[idx]).astype(np.int64))


def load_pairs(store: Store, splits: Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of a mask dataset in memory: (uint8 NHWC images, (N, H, W) int64 masks)."""
    images, _ = load_split(store, splits, name)
    return images, take_masks(store, np.load(Path(splits) / f"{name}.npy"))


def save_npz(path: Path, **arrays: object) -> None:
    """np.savez_compressed, byte for byte the same for the same arrays: numpy stamps each member with
    the time of writing, which would make every rebuild of an output hash differently."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(value), allow_pickle=False)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, buffer.getvalue())
