"""Image files in class folders: from an archive URL, a Kaggle dataset, a local folder or a CSV."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.core.errors import SourceError
from imgstudy.data.archive import extract, is_archive
from imgstudy.data.fetch import download
from imgstudy.data.raw import IMAGE_SUFFIXES, SPLIT_ALIASES, RawData, write_origin
from imgstudy.data.sources.kaggle import kaggle_download


def read_folder(root: Path) -> RawData:
    """Images in class sub-folders, optionally under train/val/test folders (the official split).

    Files that are not images by name are ignored; files that are images by name but do
    not decode are reported by preprocess.
    """
    if not root.is_dir():
        raise SourceError(f"{root}: no such folder")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_dirs = {SPLIT_ALIASES[p.name.lower()]: p for p in subdirs if p.name.lower() in SPLIT_ALIASES}
    groups = split_dirs.items() if split_dirs else [("", root)]
    classes = sorted(
        {c.name for _, base in groups for c in base.iterdir() if c.is_dir() and not c.name.startswith(".")}
    )
    if not classes:
        raise SourceError(f"{root}: expected one sub-folder per class (or train/ val/ test/ folders holding them)")
    files, labels, official = [], [], []
    for split, base in groups:
        for k, name in enumerate(classes):
            folder = base / name
            if not folder.is_dir():
                continue
            for f in sorted(folder.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                    files.append(f)
                    labels.append(k)
                    official.append(split)
    if not files:
        raise SourceError(f"{root}: no image files found under the class folders {classes}")
    return RawData(
        np.array(labels, np.int64), classes, [str(f.relative_to(root)) for f in files], np.array(official), files=files
    )


def read_csv_listing(listing: Path) -> RawData:
    """A CSV with columns path,label[,split]; paths relative to the CSV's folder."""
    with open(listing, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise SourceError(f"{listing}: expected a header with columns path,label[,split]")
    classes = sorted({r["label"] for r in rows})
    files = [listing.parent / r["path"] for r in rows]
    official = [SPLIT_ALIASES.get((r.get("split") or "").lower(), "") for r in rows]
    return RawData(
        np.array([classes.index(r["label"]) for r in rows], np.int64),
        classes,
        [r["path"] for r in rows],
        np.array(official),
        files=files,
    )


def copy_folder(src: Path, dest: Path) -> None:
    """Copy a folder into place whole: a temporary copy renamed at the end."""
    tmp = dest.parent / f".{dest.name}.copy"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


@dataclass(frozen=True)
class FilesDataset:
    """Image files from an archive URL, a Kaggle dataset, a local folder or a CSV listing."""

    kind: str  # url | kaggle | folder | csv
    location: str
    checksum: str | None = None
    subdir: str = ""  # where the class folders start inside the archive / download

    def fetch(self, dest: Path, source: str) -> dict:
        dest.parent.mkdir(parents=True, exist_ok=True)
        FETCHERS[self.kind](self, dest)
        return write_origin(dest, {"source": self.kind, "location": self.location, "checksum": self.checksum})

    def read(self, dest: Path) -> RawData:
        if self.kind == "csv":
            return read_csv_listing(dest / "listing.csv")
        return read_folder(dest / self.subdir if self.subdir else dest)


def _fetch_url(d: FilesDataset, dest: Path) -> None:
    name = d.location.split("?")[0].rstrip("/").split("/")[-1] or "download"
    archive = download(d.location, dest.parent / f".{dest.name}.{name}", d.checksum)
    if not is_archive(archive):
        raise SourceError(f"{d.location}: expected a .zip/.tar/.tar.gz archive")
    extract(archive, dest)
    archive.unlink()


def _fetch_folder(d: FilesDataset, dest: Path) -> None:
    if not Path(d.location).is_dir():
        raise SourceError(f"download.location {d.location!r}: no such folder")
    copy_folder(Path(d.location), dest)


def _fetch_csv(d: FilesDataset, dest: Path) -> None:
    listing = Path(d.location)
    if not listing.is_file():
        raise SourceError(f"download.location {d.location!r}: no such CSV file")
    raw = read_csv_listing(listing)
    dest.mkdir(parents=True, exist_ok=True)
    for f, rel in zip(raw.files, raw.sources):  # copy the listed files under data/raw
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest / rel)
    shutil.copyfile(listing, dest / "listing.csv")


FETCHERS = {
    "url": _fetch_url,
    "folder": _fetch_folder,
    "csv": _fetch_csv,
    "kaggle": lambda d, dest: kaggle_download(d.location, dest),
}
