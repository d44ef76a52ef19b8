"""Images with segmentation masks: folders (images/ + masks/), a CSV manifest, NIfTI volumes."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.core.errors import SourceError
from imgstudy.data.archive import extract
from imgstudy.data.fetch import download
from imgstudy.data.masks import pair_folders, pair_manifest
from imgstudy.data.raw import FROM_MASKS, IMAGE_SUFFIXES, SPLIT_ALIASES, RawData, write_origin
from imgstudy.data.sources.files import copy_folder


@dataclass(frozen=True)
class PairsDataset:
    """A folder holding images/ and masks/ with matching names (class sub-folders optional),
    or a CSV manifest with columns image,mask[,split]."""

    kind: str  # masks | masks_csv
    location: str

    def fetch(self, dest: Path, source: str) -> dict:
        if self.kind == "masks":
            if not Path(self.location).is_dir():
                raise SourceError(f"download.location {self.location!r}: no such folder")
            copy_folder(Path(self.location), dest)
            return write_origin(dest, {"source": self.kind, "location": self.location})
        listing = Path(self.location)
        if not listing.is_file():
            raise SourceError(f"download.location {self.location!r}: no such CSV file")
        pairs = pair_manifest(listing)
        tmp = dest.parent / f".{dest.name}.copy"
        shutil.rmtree(tmp, ignore_errors=True)
        for f in pairs.images + pairs.masks:  # copy the listed files under data/raw
            (tmp / f.relative_to(listing.parent)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, tmp / f.relative_to(listing.parent))
        shutil.copyfile(listing, tmp / "listing.csv")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return write_origin(dest, {"source": self.kind, "location": self.location})

    def read(self, dest: Path) -> RawData:
        if self.kind == "masks":
            pairs = pair_folders(dest / "images", dest / "masks", IMAGE_SUFFIXES)
            split = [SPLIT_ALIASES.get(g.lower(), "") for g in pairs.groups]
            classes = sorted(set(pairs.groups))
            by_folder = all(g and not s for g, s in zip(pairs.groups, split)) and len(classes) > 1
        else:
            pairs = pair_manifest(dest / "listing.csv")
            split, classes, by_folder = [SPLIT_ALIASES.get(g.lower(), "") for g in pairs.groups], [], False
        if not pairs.images:
            raise SourceError(
                f"{dest}: no image/mask pairs found"
                + (f"; e.g. {pairs.unmatched[0][0]}: {pairs.unmatched[0][1]}" if pairs.unmatched else "")
            )
        labels = [classes.index(g) for g in pairs.groups] if by_folder else [0] * len(pairs.images)
        return RawData(
            np.array(labels, np.int64),
            classes if by_folder else FROM_MASKS,
            [str(f.relative_to(dest)) for f in pairs.images],
            np.array(split),
            files=pairs.images,
            mask_files=pairs.masks,
            labels_from_masks=not by_folder,
            unmatched=tuple(pairs.unmatched),
        )


@dataclass(frozen=True)
class NiftiSegDataset:
    """CT volumes and label volumes (NIfTI) from two archives; axial slices are the samples."""

    volumes_url: str
    masks_url: str
    mask_classes: tuple[str, ...]

    def fetch(self, dest: Path, source: str) -> dict:
        dest.mkdir(parents=True, exist_ok=True)
        for sub, url in (("volumes", self.volumes_url), ("masks", self.masks_url)):
            if (dest / sub).is_dir():
                continue  # extracted by an earlier, interrupted run
            archive = download(url, dest / f".{sub}.zip", None)
            extract(archive, dest / sub)
            archive.unlink()
        return write_origin(dest, {"source": "url", "location": [self.volumes_url, self.masks_url]})

    def read(self, dest: Path) -> RawData:
        volumes = {p.name: p for p in sorted((dest / "volumes").rglob("*.nii*"))}
        masks = {p.name: p for p in sorted((dest / "masks").rglob("*.nii*"))}
        if not volumes.keys() & masks.keys():
            raise SourceError(f"{dest}: no NIfTI volume under volumes/ has a mask of the same name under masks/")
        unmatched = tuple(
            (str(volumes[n]), "no mask volume with this name") for n in sorted(volumes.keys() - masks.keys())
        )
        return RawData(
            np.zeros(0, np.int64),
            FROM_MASKS,
            [],
            np.array([], dtype=str),
            volumes=[(volumes[n], masks[n]) for n in sorted(volumes.keys() & masks.keys())],
            mask_classes=self.mask_classes,
            labels_from_masks=True,
            unmatched=unmatched,
        )
