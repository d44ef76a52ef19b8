"""A folder of labelled images through the stages and the real `dvc repro` (up to the comparison), then
shared via a DVC remote."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, copy_project, edit_params, sh
from imgstudy.core.errors import SourceError
from imgstudy.data.store import open_store
from imgstudy.params import Params, read_yaml, resolve
from imgstudy.pipeline import download, preprocess


def shapes_folder(root: Path, per_class: int = 30) -> Path:
    """Two classes a model can tell apart: a bright disc vs a bright bar, on noisy photos of varied sizes."""
    rng = np.random.default_rng(0)
    for cls in ["bar", "disc"]:
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            h, w = rng.integers(40, 70), rng.integers(40, 70)
            img = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
            yy, xx = np.mgrid[:h, :w]
            mask = (
                ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 4) ** 2)
                if cls == "disc"
                else (np.abs(yy - h / 2) < 4)
            )
            img[mask] = 255
            Image.fromarray(img).save(root / cls / f"{i:03d}.jpg")
    (root / "disc" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def folder_params(location: Path, **preprocess_changes) -> Params:
    raw = read_yaml(ROOT / "params.yaml")
    raw["download"].update(dataset="folder", location=str(location))
    raw["preprocess"].update(size=32, max_samples=0, **preprocess_changes)
    return resolve(raw)


def test_preprocess_reports_bad_files_and_enforces_the_threshold(tmp_path: Path) -> None:
    images = shapes_folder(tmp_path / "photos", per_class=10)
    download.run(folder_params(images), download.Files(tmp_path / "raw"))
    files = preprocess.Files(tmp_path / "raw", tmp_path / "store", tmp_path / "reports")
    summary = preprocess.run(folder_params(images, max_bad_fraction=0.1), files)
    assert {k: summary[k] for k in ("decoded", "skipped", "skipped_fraction")} == {
        "decoded": 20,
        "skipped": 1,
        "skipped_fraction": 1 / 21,
    }
    with open(tmp_path / "reports/decode_errors.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == ["disc/broken.jpg"] and "unreadable" in rows[0]["reason"]
    store = open_store(tmp_path / "store")
    assert store.images.shape == (20, 32, 32, 3) and store.classes == ["bar", "disc"]
    with pytest.raises(SourceError, match=r"1 of 21 images could not be used .*reports2/decode_errors.csv"):
        files = preprocess.Files(tmp_path / "raw", tmp_path / "store2", tmp_path / "reports2")
        preprocess.run(folder_params(images, max_bad_fraction=0.0), files)
    assert (tmp_path / "reports2/decode_errors.csv").read_text().count("broken.jpg") == 1  # listed before failing


@pytest.mark.heavy
def test_folder_dataset_repro_then_push_clone_pull_has_nothing_to_rebuild(tmp_path: Path) -> None:
    images = shapes_folder(tmp_path / "photos")
    repo = tmp_path / "study"
    copy_project(repo)
    edit_params(
        repo,
        {
            "download.dataset": "folder",
            "download.location": str(images),
            "preprocess.size": 32,
            "preprocess.max_samples": 0,
            "preprocess.max_bad_fraction": 0.05,
            "split.test": "fraction",
            "split.val_fraction": 0.2,
            "split.test_fraction": 0.2,
            "grid": ["B0"],
            "train.model": "cnn",
            "train.normalize": "dataset",
            "train.epochs": 3,
            "train.batch_size": 16,
            "train.lr": 0.003,
            "train.cnn.widths": [16, 32],
            "train.cnn.dense": [32],
            "compare.bootstrap": 50,
        },
    )
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "dvc", "remote", "add", "-d", "team", str(tmp_path / "remote"))
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "folder study")
    sh(repo, "dvc", "repro", "compare")  # up to the comparison: explain and report are test_pipeline_e2e's

    report = json.loads((repo / "reports/preprocess.json").read_text())
    assert report["skipped"] == 1 and "broken.jpg" in (repo / "reports/decode_errors.csv").read_text()
    test = json.loads((repo / "metrics/B0/test.json").read_text())
    assert test["accuracy"] > 0.8, test  # discs vs bars is easy

    sh(repo, "dvc", "push")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "results")
    clone = tmp_path / "teammate"
    sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    sh(clone, "dvc", "pull", "--with-deps", "compare")  # what was built: up to the comparison
    assert (clone / "data/store/images.npy").read_bytes() == (repo / "data/store/images.npy").read_bytes()
    out = sh(clone, "dvc", "repro", "compare").stdout
    assert "Running stage" not in out and "Data and pipelines are up to date" in out, out
