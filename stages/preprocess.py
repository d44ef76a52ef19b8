"""preprocess: decode the raw data once into the uint8 array store; report what could not be used."""
from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from imgstudy import params as P
from imgstudy.decode import DecodeSpec, decode_many
from imgstudy.images import equalize, resize_batch
from imgstudy.inputs import CHANNELS, to_unit
from imgstudy.sources import RawData, SourceError, dataset
from imgstudy.split import stratified_subset
from imgstudy.store import write_store


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


def array_images(data: RawData, keep: np.ndarray, channels: int, pre: P.Preprocess) -> np.ndarray:
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
    summary = {"decoded": decoded, "skipped": len(bad),
               "skipped_fraction": len(bad) / max(1, decoded + len(bad))}
    (reports / "preprocess.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def run(name: str, location: str, checksum: str, raw: Path, store: Path, reports: Path, pre: P.Preprocess,
        seed: int) -> dict:
    folder = raw / name
    data = dataset(name, location, checksum).read(folder)
    keep = stratified_subset(data.labels, data.official, pre.max_samples or len(data.labels), seed)
    bad: list[tuple[str, str]] = []
    if data.images is not None:
        channels = CHANNELS[pre.channels] or data.images.shape[-1]
        images = array_images(data, keep, channels, pre)
    else:
        files = [data.files[i] for i in keep]
        channels = CHANNELS[pre.channels] or native_channels(files)
        spec = DecodeSpec(channels, pre.size, pre.resize, pre.equalize, pre.clahe_clip)
        images, kept, bad = decode_many([str(f) for f in files], spec, pre.workers or os.cpu_count() or 1)
        bad = [(str(Path(p).relative_to(folder)) if Path(p).is_relative_to(folder) else p, r) for p, r in bad]
        keep = keep[kept]
    summary = write_report(reports, bad, len(keep))
    if summary["skipped_fraction"] > pre.max_bad_fraction:
        raise SourceError(f"{summary['skipped']} of {summary['decoded'] + summary['skipped']} images could not be "
                          f"used ({summary['skipped_fraction']:.1%} > preprocess.max_bad_fraction "
                          f"{pre.max_bad_fraction:.1%}); see {reports / 'decode_errors.csv'}")
    write_store(store, images, data.labels[keep], data.classes, [data.sources[i] for i in keep],
                data.official[keep], meta={"dataset": name, "resize": pre.resize, "equalize": pre.equalize})
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--reports", type=Path, required=True)
    args = parser.parse_args()
    p = P.load(args.params)
    d, pre = p.download, p.preprocess
    summary = run(d.dataset, d.location, d.checksum, args.raw, args.store, args.reports, pre, p.base.seed)
    print(f"preprocess: {summary['decoded']} images at {pre.size}x{pre.size} -> {args.store}"
          + (f"; {summary['skipped']} skipped, listed in {args.reports / 'decode_errors.csv'}"
             if summary["skipped"] else ""))


if __name__ == "__main__":
    main()
