"""Datasets that ship arrays: scikit-learn's 8x8 digits and MedMNIST-layout .npz files."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.core.errors import SourceError
from imgstudy.data.fetch import download
from imgstudy.data.raw import SPLIT_NAMES, RawData, write_origin


@dataclass(frozen=True)
class DigitsDataset:
    """scikit-learn's 8x8 digits (1,797 images, values 0-16), shipped with scikit-learn."""

    def fetch(self, dest: Path, source: str) -> dict:
        from sklearn.datasets import load_digits

        dest.mkdir(parents=True, exist_ok=True)
        d = load_digits()
        images = np.rint(d.images / 16 * 255).astype(np.uint8)
        np.savez_compressed(dest / "digits.npz", images=images, labels=d.target.astype(np.int64))
        return write_origin(dest, {"source": "local", "path": "sklearn.datasets.load_digits"})

    def read(self, dest: Path) -> RawData:
        d = np.load(dest / "digits.npz")
        n = len(d["labels"])
        return RawData(
            d["labels"],
            [str(k) for k in range(10)],
            [f"digits.npz#{i}" for i in range(n)],
            np.full(n, ""),
            images=d["images"][..., None],
        )


@dataclass(frozen=True)
class NpzDataset:
    """A MedMNIST-layout .npz: {train,val,test}_{images,labels}, from a URL or a local file."""

    location: str  # http(s) URL or local path
    checksum: str | None = None
    classes: tuple[str, ...] | None = None

    def fetch(self, dest: Path, source: str) -> dict:
        dest.mkdir(parents=True, exist_ok=True)
        if self.location.startswith(("http://", "https://")):
            download(self.location, dest / "data.npz", self.checksum)
        else:
            if not Path(self.location).is_file():
                raise SourceError(f"download.location {self.location!r}: no such .npz file")
            shutil.copyfile(self.location, dest / "data.npz")
        return write_origin(dest, {"source": "url" if "://" in self.location else "local", "location": self.location})

    def read(self, dest: Path) -> RawData:
        d = np.load(dest / "data.npz")
        missing = [f"{s}_{k}" for s in SPLIT_NAMES for k in ("images", "labels") if f"{s}_{k}" not in d]
        if missing:
            raise SourceError(f"{dest / 'data.npz'}: not MedMNIST layout, missing {missing}")
        images, labels, official, sources = [], [], [], []
        for s in SPLIT_NAMES:
            x, y = d[f"{s}_images"], d[f"{s}_labels"].reshape(-1).astype(np.int64)
            images.append(x[..., None] if x.ndim == 3 else x)
            labels.append(y)
            official += [s] * len(y)
            sources += [f"data.npz:{s}#{i}" for i in range(len(y))]
        labels = np.concatenate(labels)
        classes = list(self.classes) if self.classes else [str(k) for k in range(int(labels.max()) + 1)]
        return RawData(labels, classes, sources, np.array(official), images=np.concatenate(images).astype(np.uint8))
