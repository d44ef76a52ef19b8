"""Segmentation masks: pair image and mask files, decode masks to class indices, resize them
with nearest neighbour on the same letterbox geometry as their images, and slice NIfTI
volumes (CT windowed to a Hounsfield range) into 2D image/mask pairs.

A mask in the store is (H, W) uint8 of class indices, 0 = background.
"""

from __future__ import annotations

import csv
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from imgstudy.data.images import letterbox_pad
from imgstudy.params.choices import MASKS

MASK_MODES = MASKS
MASK_SUFFIXES = ("_mask", "_seg", "_label", "-mask")  # common mask file name endings, besides the same name


@dataclass(frozen=True)
class MaskSpec:
    mode: str  # binary: any bright pixel is the object | labels: pixel values are class indices | colors
    colors: tuple[tuple[int, int, int], ...]  # colors mode: the RGB of class 0, 1, ...
    size: int
    resize: str  # letterbox | stretch, as the images


def to_classes(mask: np.ndarray, spec: MaskSpec) -> np.ndarray:
    """A decoded mask array -> (H, W) uint8 class indices; ValueError names what does not fit."""
    if spec.mode == "binary":
        gray = mask if mask.ndim == 2 else mask.max(axis=2)
        # An 8-bit picture of the mask (0/255, antialiased edges) splits at mid-gray; a label image
        # (0/1, 0/2: nothing above 127) has every nonzero class as the object.
        return (gray > (127 if gray.max() > 127 else 0)).astype(np.uint8)
    if spec.mode == "labels":
        if mask.ndim != 2:
            raise ValueError(f"labels mask has {mask.shape[2]} channels; expected one band of class indices")
        if mask.max() > 255:
            raise ValueError(f"labels mask holds value {int(mask.max())}; class indices must be below 256")
        return mask.astype(np.uint8)
    rgb = np.broadcast_to(mask[..., None], (*mask.shape, 3)) if mask.ndim == 2 else mask[..., :3]
    out = np.full(rgb.shape[:2], 255, np.uint8)
    for index, color in enumerate(spec.colors):
        out[(rgb == np.array(color, rgb.dtype)).all(axis=2)] = index
    if (out == 255).any():
        stray = rgb[out == 255][0]
        raise ValueError(f"color {tuple(int(v) for v in stray)} is not in preprocess.mask_colors {list(spec.colors)}")
    return out


def resize_masks(masks: np.ndarray, size: int, resize: str) -> np.ndarray:
    """(N, H, W) class indices -> (N, size, size) by nearest neighbour (no invented classes),
    padded like their images so both keep the same geometry."""
    if resize == "letterbox" and masks.shape[1] != masks.shape[2]:
        masks = letterbox_pad(masks[..., None])[..., 0]
    if masks.shape[1:] == (size, size):
        return np.ascontiguousarray(masks)
    x = torch.from_numpy(np.ascontiguousarray(masks))[:, None].float()
    # nearest-exact samples pixel centres, as the images' bilinear resize does (align_corners=False)
    return F.interpolate(x, size=(size, size), mode="nearest-exact")[:, 0].to(torch.uint8).numpy()


def _decode_pair(job: tuple[str, str, MaskSpec]) -> np.ndarray | str:
    image_path, mask_path, spec = job
    try:
        with Image.open(image_path) as img:
            image_size = img.size  # the header only: the image itself is decoded with the others
        with Image.open(mask_path) as m:
            if m.size != image_size:
                return f"mask {m.size[0]}x{m.size[1]} but image {image_size[0]}x{image_size[1]}: sizes differ"
            mask = np.asarray(m if m.mode in ("L", "P", "I", "I;16", "RGB") else m.convert("RGB"))
        return resize_masks(to_classes(mask, spec)[None], spec.size, spec.resize)[0]
    except Exception as e:  # noqa: BLE001 - every unusable pair is reported with its reason
        return f"{type(e).__name__}: {e}"


def decode_masks(
    images: list[str], masks: list[str], spec: MaskSpec, workers: int
) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Decode the masks of image/mask pairs. Returns (masks (N_ok, S, S), indices of the usable
    pairs, [(mask path, reason)] of the others)."""
    jobs = [(i, m, spec) for i, m in zip(images, masks)]
    if workers > 1 and len(jobs) > 64:
        with ProcessPoolExecutor(workers) as pool:
            outcomes = list(pool.map(_decode_pair, jobs, chunksize=64))
    else:
        outcomes = [_decode_pair(j) for j in jobs]
    kept = [i for i, o in enumerate(outcomes) if not isinstance(o, str)]
    bad = [(masks[i], o) for i, o in enumerate(outcomes) if isinstance(o, str)]
    out = np.stack([outcomes[i] for i in kept]) if kept else np.empty((0, spec.size, spec.size), np.uint8)
    return out, kept, bad


def _key(path: Path, root: Path) -> str:
    """Pairing key: the path below its root without suffix and without a mask ending."""
    stem = str(path.relative_to(root).with_suffix(""))
    for ending in MASK_SUFFIXES:
        if stem.endswith(ending):
            return stem[: -len(ending)]
    return stem


@dataclass(frozen=True)
class Pairs:
    images: list[Path]
    masks: list[Path]
    groups: list[str]  # the first folder under images/ ("" when the images lie directly in it)
    unmatched: list[tuple[str, str]]  # (path, reason): files without a partner


def pair_folders(images_dir: Path, masks_dir: Path, suffixes: set[str]) -> Pairs:
    """Images and masks with the same relative name (a mask may end in _mask, _seg, _label)."""
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: no such folder; a mask dataset holds images/ and masks/ side by side")
    images = {_key(p, images_dir): p for p in sorted(images_dir.rglob("*")) if p.suffix.lower() in suffixes}
    masks = {_key(p, masks_dir): p for p in sorted(masks_dir.rglob("*")) if p.suffix.lower() in suffixes}
    both = sorted(images.keys() & masks.keys())
    unmatched = [(str(images[k]), "no mask with this name") for k in sorted(images.keys() - masks.keys())]
    unmatched += [(str(masks[k]), "no image with this name") for k in sorted(masks.keys() - images.keys())]
    groups = [k.split("/")[0] if "/" in k else "" for k in both]
    return Pairs([images[k] for k in both], [masks[k] for k in both], groups, unmatched)


def pair_manifest(listing: Path) -> Pairs:
    """A CSV with columns image,mask (paths relative to the CSV) and optionally split."""
    with open(listing, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image", "mask"} <= set(rows[0]):
        raise ValueError(f"{listing}: expected a header with columns image,mask[,split]")
    images, masks, unmatched = [], [], []
    for row in rows:
        image, mask = listing.parent / row["image"], listing.parent / row["mask"]
        missing = [p for p in (image, mask) if not p.is_file()]
        if missing:
            unmatched.append((str(missing[0]), f"listed in {listing.name} but missing"))
        else:
            images.append(image)
            masks.append(mask)
    groups = [
        row.get("split") or ""
        for row in rows
        if (listing.parent / row["image"]).is_file() and (listing.parent / row["mask"]).is_file()
    ]
    return Pairs(images, masks, groups, unmatched)


def window(volume: np.ndarray, low: float, high: float) -> np.ndarray:
    """Hounsfield units -> uint8: `low` and below black, `high` and above white."""
    return (np.clip((volume - low) / (high - low), 0, 1) * 255 + 0.5).astype(np.uint8)


def nifti_slices(
    volume: Path, mask: Path, low: float, high: float, size: int, resize: str
) -> tuple[np.ndarray, np.ndarray]:
    """One CT volume and its label volume -> axial slices (Z, S, S, 1) uint8 and (Z, S, S) masks."""
    import nibabel as nib

    from imgstudy.data.images import resize_batch

    ct, labels = nib.load(str(volume)), nib.load(str(mask))
    if ct.shape != labels.shape:
        raise ValueError(f"volume {ct.shape} but mask {labels.shape}: shapes differ")
    # (X, Y, Z) -> (Z, Y, X): axial slices in the usual radiological view, image and mask alike
    images = window(np.asarray(ct.dataobj, dtype=np.float32), low, high).transpose(2, 1, 0)[:, ::-1]
    masks = np.asarray(labels.dataobj).round().astype(np.int64).transpose(2, 1, 0)[:, ::-1]
    if masks.min() < 0 or masks.max() > 255:
        raise ValueError(f"mask values {masks.min()}..{masks.max()}: class indices must lie in 0..255")
    return (
        resize_batch(np.ascontiguousarray(images[..., None]), size, resize),
        resize_masks(masks.astype(np.uint8), size, resize),
    )
