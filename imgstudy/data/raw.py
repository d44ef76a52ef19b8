"""What a dataset source gives the preprocess stage: RawData, and the helpers every source shares.

A source's fetch() writes raw files once (download stage) and records where they came from
in SOURCE.json; read() turns them into arrays or a list of image files (preprocess stage).
Nothing modifies raw files afterwards.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from imgstudy.core.errors import DownloadError, SourceError
from imgstudy.data.fetch import download

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
SPLIT_NAMES = ("train", "val", "test")  # folder names of an official split (also "valid", "validation")
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
FROM_MASKS = ["empty", "foreground"]  # image classes of a mask dataset without class folders


@dataclass(frozen=True)
class RawData:
    labels: np.ndarray  # (N,) int64
    classes: list[str]
    sources: list[str]  # where each sample came from: a file, or "<file>#<index>"
    official: np.ndarray  # (N,) "train" | "val" | "test" | "": the dataset's own split
    images: np.ndarray | None = None  # (N, H, W, C) uint8 when the source ships arrays...
    files: list[Path] | None = None  # ...else the image files to decode
    # Segmentation sources: a mask file per image file, or (volume, mask volume) NIfTI pairs
    # whose slices become the samples (labels, sources and official are then filled by preprocess).
    mask_files: list[Path] | None = None
    volumes: list[tuple[Path, Path]] | None = None
    mask_classes: tuple[str, ...] | None = None  # names of the mask classes, when the source knows them
    labels_from_masks: bool = False  # image classes "empty" / "foreground", from each mask
    unmatched: tuple[tuple[str, str], ...] = ()  # (path, reason): files without a partner, reported

    @property
    def has_masks(self) -> bool:
        return self.mask_files is not None or self.volumes is not None


class Dataset(Protocol):
    def fetch(self, dest: Path, source: str) -> dict: ...
    def read(self, dest: Path) -> RawData: ...


def write_origin(dest: Path, origin: dict) -> dict:
    """SOURCE.json: where the raw files came from. Only values that are the same on every machine
    (URLs, package names, the user's own location param): data/raw hashes the same everywhere."""
    (dest / "SOURCE.json").write_text(json.dumps(origin, indent=2) + "\n")
    return origin


def package_file(package: str, inner: str) -> Path | None:
    """A data file shipped inside an installed Python package, or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / inner
    return path if path.is_file() else None


def download_any(urls: list[str], dest: Path, checksum: str | None) -> str:
    """Try each mirror in turn; returns the URL that worked."""
    errors = []
    for url in urls:
        try:
            download(url, dest, checksum)
            return url
        except DownloadError as e:
            errors.append(str(e))
    raise SourceError(f"{dest.name}: every mirror failed:\n  " + "\n  ".join(errors))
