"""Kaggle datasets through the official client, with clear errors before any work."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from imgstudy.core.errors import SourceError
from imgstudy.data.archive import extract, is_archive


def kaggle_download(slug: str, dest: Path) -> None:
    """A Kaggle dataset through the official client; credentials from ~/.kaggle/kaggle.json
    or KAGGLE_USERNAME/KAGGLE_KEY, checked before anything else so the error is clear."""
    config = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle")) / "kaggle.json"
    if not config.is_file() and not (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")):
        raise SourceError(
            f"Kaggle dataset {slug!r}: no credentials; put your API token at {config} "
            "(kaggle.com > Settings > API > Create New Token) or set KAGGLE_USERNAME and KAGGLE_KEY"
        )
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise SourceError(f"Kaggle dataset {slug!r}: the kaggle client is not installed; pip install kaggle") from None
    api = KaggleApi()
    api.authenticate()
    staging = dest.parent / f".{dest.name}.kaggle"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    api.dataset_download_files(slug, path=str(staging), unzip=False, quiet=False)
    archives = [p for p in staging.iterdir() if is_archive(p)]
    if len(archives) != 1:
        raise SourceError(f"Kaggle dataset {slug!r}: expected one archive, got {[p.name for p in staging.iterdir()]}")
    extract(archives[0], dest)
    shutil.rmtree(staging)
