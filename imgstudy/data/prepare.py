"""preprocess's work: decode the raw data once into the uint8 array store (images, and masks for
segmentation datasets) and report every file that could not be used, with the reason."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from imgstudy.core.errors import SourceError
from imgstudy.data.catalog import dataset
from imgstudy.data.decode import DecodeSpec, decode_many
from imgstudy.data.images import CHANNELS, equalize, resize_batch, to_unit
from imgstudy.data.masks import MaskSpec, decode_masks, nifti_slices
from imgstudy.data.raw import RawData
from imgstudy.data.split import stratified_subset
from imgstudy.data.store import write_store
from imgstudy.params import Preprocess


def native_channels(files: list[Path], probe: int = 50) -> int:
    """1 when the first files are all single-band (gray, 16-bit, 1-bit), else 3."""
    for f in files[:probe]:
        try:
            with Image.open(f) as img:
                if img.mode not in ("L", "I;16", "I;16B", "I;16L", "I", "F", "1", "LA"):
                    return 3
        except Exception:  # noqa: BLE001 - unreadable files are reported when decoded
            continue
    return 1


def array_images(data: RawData, keep: np.ndarray, channels: int, pre: Preprocess) -> np.ndarray:
    images = data.images[keep]
    if images.shape[-1] != channels:  # same conversion as at train time (ITU-R 601 luma)
        import torch

        unit = to_unit(torch.from_numpy(np.ascontiguousarray(images)), channels)
        images = (unit * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    if pre.equalize != "none":
        images = np.stack([equalize(im, pre.equalize, pre.clahe_clip) for im in images])
    return resize_batch(images, pre.size, pre.resize)


def write_report(reports: Path, bad: list[tuple[str, str]], decoded: int) -> dict:
    reports.mkdir(parents=True, exist_ok=True)
    with open(reports / "decode_errors.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "reason"])
        writer.writerows(bad)
    summary = {"decoded": decoded, "skipped": len(bad), "skipped_fraction": len(bad) / max(1, decoded + len(bad))}
    (reports / "preprocess.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def mask_class_names(pre: Preprocess, data: RawData, masks: np.ndarray) -> list[str]:
    """preprocess.mask_classes when given, else the source's names, else generic ones."""
    names = list(pre.mask_classes) or list(data.mask_classes or ())
    if not names:
        count = len(pre.mask_colors) if pre.masks == "colors" else int(masks.max(initial=0)) + 1
        names = ["background"] + ["foreground" if count == 2 else f"class {k}" for k in range(1, max(count, 2))]
    if masks.size and masks.max() >= len(names):
        raise SourceError(
            f"masks hold class {int(masks.max())} but only {len(names)} mask classes are named: {names}; "
            "set preprocess.mask_classes"
        )
    return names


def segmentation(data: RawData, folder: Path, pre: Preprocess, seed: int, workers: int):
    """Images and masks of a mask dataset, the pairs that could not be used, and its image labels."""
    spec = MaskSpec(pre.masks, tuple(tuple(c) for c in pre.mask_colors), pre.size, pre.resize)
    bad = list(data.unmatched)
    if data.volumes is not None:  # NIfTI: every axial slice is a sample
        images, masks, sources = [], [], []
        for volume, mask in data.volumes:
            try:
                x, m = nifti_slices(volume, mask, *pre.hu_window, pre.size, pre.resize)
            except Exception as e:  # noqa: BLE001 - a bad volume is reported, the others still count
                bad.append((str(volume), f"{type(e).__name__}: {e}"))
                continue
            images.append(x)
            masks.append(m)
            sources += [f"{volume.name}#z{z}" for z in range(len(x))]
        if not images:
            raise SourceError(f"{folder}: none of {len(data.volumes)} NIfTI volumes could be read")
        images, masks = np.concatenate(images), np.concatenate(masks)
        official = np.full(len(images), "")
    else:
        keep = stratified_subset(data.labels, data.official, pre.max_samples or len(data.labels), seed)
        files, mask_files = [str(data.files[i]) for i in keep], [str(data.mask_files[i]) for i in keep]
        masks, kept, bad_masks = decode_masks(files, mask_files, spec, workers)
        channels = CHANNELS[pre.channels] or native_channels([Path(f) for f in files])
        images, kept_images, bad_images = decode_many(
            [files[i] for i in kept], DecodeSpec(channels, pre.size, pre.resize, pre.equalize, pre.clahe_clip), workers
        )
        bad += bad_masks + bad_images
        keep, masks = keep[kept][kept_images], masks[kept_images]
        sources, official = [data.sources[i] for i in keep], data.official[keep]
    labels = (
        (masks.reshape(len(masks), -1).max(1) > 0).astype(np.int64) if data.labels_from_masks else data.labels[keep]
    )
    if data.volumes is not None and pre.max_samples and pre.max_samples < len(labels):
        sub = stratified_subset(labels, official, pre.max_samples, seed)
        images, masks, labels, official = images[sub], masks[sub], labels[sub], official[sub]
        sources = [sources[i] for i in sub]
    return images, masks, labels, sources, official, bad


def check_bad(summary: dict, pre: Preprocess, reports: Path) -> None:
    if summary["skipped_fraction"] > pre.max_bad_fraction:
        raise SourceError(
            f"{summary['skipped']} of {summary['decoded'] + summary['skipped']} images could not be "
            f"used ({summary['skipped_fraction']:.1%} > preprocess.max_bad_fraction "
            f"{pre.max_bad_fraction:.1%}); see {reports / 'decode_errors.csv'}"
        )


def preprocess(
    name: str, location: str, checksum: str, raw: Path, store: Path, reports: Path, pre: Preprocess, seed: int
) -> dict:
    folder = raw / name
    data = dataset(name, location, checksum).read(folder)
    workers = pre.workers or os.cpu_count() or 1
    if data.has_masks:
        images, masks, labels, sources, official, bad = segmentation(data, folder, pre, seed, workers)
        bad = [(str(Path(p).relative_to(folder)) if Path(p).is_relative_to(folder) else p, r) for p, r in bad]
        summary = write_report(reports, bad, len(labels))
        check_bad(summary, pre, reports)
        write_store(
            store,
            images,
            labels,
            data.classes,
            sources,
            official,
            meta={"dataset": name, "resize": pre.resize, "equalize": pre.equalize},
            masks=masks,
            mask_classes=mask_class_names(pre, data, masks),
        )
        return summary
    keep = stratified_subset(data.labels, data.official, pre.max_samples or len(data.labels), seed)
    bad: list[tuple[str, str]] = []
    if data.images is not None:
        channels = CHANNELS[pre.channels] or data.images.shape[-1]
        images = array_images(data, keep, channels, pre)
    else:
        files = [data.files[i] for i in keep]
        channels = CHANNELS[pre.channels] or native_channels(files)
        spec = DecodeSpec(channels, pre.size, pre.resize, pre.equalize, pre.clahe_clip)
        images, kept, bad = decode_many([str(f) for f in files], spec, workers)
        bad = [(str(Path(p).relative_to(folder)) if Path(p).is_relative_to(folder) else p, r) for p, r in bad]
        keep = keep[kept]
    summary = write_report(reports, bad, len(keep))
    check_bad(summary, pre, reports)
    write_store(
        store,
        images,
        data.labels[keep],
        data.classes,
        [data.sources[i] for i in keep],
        data.official[keep],
        meta={"dataset": name, "resize": pre.resize, "equalize": pre.equalize},
    )
    return summary
