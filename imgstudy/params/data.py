"""The data sections of params.yaml: paths, base, download, preprocess, split."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from imgstudy.params.choices import (
    CHANNELS,
    CHECKSUMS,
    DATASETS,
    DEVICES,
    EQUALIZE,
    GENERIC_DATASETS,
    MASKS,
    RESIZES,
    SOURCES,
    TEST_SPLITS,
)
from imgstudy.params.section import Section


class Paths(Section):
    raw: str
    store: str
    splits: str
    models: str
    live: str
    metrics: str
    plots: str
    predictions: str
    best: str
    reports: str
    seg: str
    compare: str
    timings: str


class Base(Section):
    seed: int = Field(ge=0)
    device: Literal[DEVICES]
    threads: int = Field(ge=0)
    processes: int = Field(ge=1)


def checksum_parts(checksum: str) -> tuple[str, str]:
    """'sha256:<hex>', 'md5:<hex>' or a bare sha256 hex -> (algorithm, hex)."""
    algorithm, _, value = checksum.rpartition(":")
    algorithm = algorithm or "sha256"
    if algorithm not in CHECKSUMS or not value:
        raise ValueError(f"checksum {checksum!r}: expected sha256:<hex> or md5:<hex>")
    return algorithm, value.lower()


class Download(Section):
    dataset: str
    source: Literal[SOURCES]
    location: str
    checksum: str

    @model_validator(mode="after")
    def _dataset(self) -> Download:
        if self.dataset not in DATASETS and self.dataset not in GENERIC_DATASETS:
            raise ValueError(
                f"unknown dataset {self.dataset!r}; choose a catalog name {sorted(DATASETS)} "
                f"or a generic kind {sorted(GENERIC_DATASETS)}"
            )
        if self.dataset in GENERIC_DATASETS and not self.location:
            raise ValueError(f"dataset {self.dataset!r} needs download.location (a URL, Kaggle slug or path)")
        if self.checksum:
            checksum_parts(self.checksum)
        return self


class Preprocess(Section):
    size: int = Field(ge=8, le=1024)
    resize: Literal[RESIZES]
    channels: Literal[CHANNELS]
    equalize: Literal[EQUALIZE]
    clahe_clip: float = Field(gt=0)
    max_samples: int = Field(ge=0)
    max_bad_fraction: float = Field(ge=0, le=1)
    workers: int = Field(ge=0)
    masks: Literal[MASKS]
    mask_colors: list[list[int]]
    mask_classes: list[str]
    hu_window: list[float] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _masks(self) -> Preprocess:
        if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in self.mask_colors):
            raise ValueError(f"mask_colors {self.mask_colors}: each entry is [R, G, B] with values 0..255")
        if self.masks == "colors" and len(self.mask_colors) < 2:
            raise ValueError("masks: colors needs preprocess.mask_colors, the [R, G, B] of each class (at least 2)")
        if self.hu_window[0] >= self.hu_window[1]:
            raise ValueError(f"hu_window {self.hu_window}: low must be below high")
        return self


class Split(Section):
    test: Literal[TEST_SPLITS]
    val: Literal[TEST_SPLITS]
    val_fraction: float = Field(gt=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    folds: int = Field(ge=0)
