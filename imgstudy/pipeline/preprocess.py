"""preprocess: decode the raw data once into the uint8 array store; report what could not be used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imgstudy.data.prepare import preprocess
from imgstudy.params import Params


@dataclass(frozen=True)
class Files:
    raw: Path  # what download wrote
    store: Path  # images.npy, labels.npy, samples.csv, meta.json (masks.npy)
    reports: Path  # decode_errors.csv and preprocess.json: every file that could not be used, and why


def run(params: Params, files: Files) -> dict:
    spec = params.download
    summary = preprocess(
        spec.dataset, spec.location, spec.checksum, files.raw, files.store, files.reports, params.preprocess,
        params.base.seed,
    )  # fmt: skip
    return {**summary, "size": params.preprocess.size, "store": str(files.store), "reports": str(files.reports)}


def describe(result: dict) -> str:
    skipped = (
        f"; {result['skipped']} skipped, listed in {result['reports']}/decode_errors.csv" if result["skipped"] else ""
    )
    return f"preprocess: {result['decoded']} images at {result['size']}x{result['size']} -> {result['store']}{skipped}"
