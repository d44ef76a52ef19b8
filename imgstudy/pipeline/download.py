"""download: write the raw files of the dataset named in params under the raw folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imgstudy.data.catalog import dataset
from imgstudy.params import Params


@dataclass(frozen=True)
class Files:
    raw: Path  # raw/<dataset>/: the files as published, and SOURCE.json


def run(params: Params, files: Files) -> dict:
    spec = params.download
    origin = dataset(spec.dataset, spec.location, spec.checksum).fetch(files.raw / spec.dataset, spec.source)
    return {"dataset": spec.dataset, "source": origin["source"], "folder": str(files.raw / spec.dataset)}


def describe(result: dict) -> str:
    return f"download: {result['dataset']} from {result['source']} -> {result['folder']}"
