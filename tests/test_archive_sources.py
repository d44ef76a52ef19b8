"""Archive datasets from a loopback HTTP server: extraction, checksums, resume, retry, unsafe paths."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from httpserver import Faults, Server
from imgstudy.core.errors import SourceError, UnsafeArchive
from imgstudy.data.archive import extract
from imgstudy.data.sources.files import FilesDataset, read_csv_listing, read_folder
from imgstudy.data.sources.kaggle import kaggle_download


def png_bytes(value: int, size: tuple[int, int] = (12, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, value).save(buf, "PNG")
    return buf.getvalue()


CLASS_FILES = {f"pets/{cls}/{i}.png": png_bytes(40 * k + i) for k, cls in enumerate(["cat", "dog"]) for i in range(3)}


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def make_tgz(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            t.addfile(info)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_archive_download_extracts_a_class_folder_dataset(tmp_path: Path, fmt: str) -> None:
    body = make_zip(CLASS_FILES) if fmt == "zip" else make_tgz(CLASS_FILES)
    with Server({f"/pets.{fmt}": body}) as server:
        ds = FilesDataset("url", f"{server.url}/pets.{fmt}", sha(body), subdir="pets")
        ds.fetch(tmp_path / "raw" / "pets", "auto")
    data = ds.read(tmp_path / "raw" / "pets")
    assert data.classes == ["cat", "dog"] and data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.sources[0] == "cat/0.png" and all(f.is_file() for f in data.files)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["pets"]  # no archive, no temp folder left


def test_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    body = make_zip(CLASS_FILES)
    with Server({"/pets.zip": body}) as server:
        ds = FilesDataset("url", f"{server.url}/pets.zip", sha(b"something else"))
        with pytest.raises(Exception, match="sha256 mismatch"):
            ds.fetch(tmp_path / "raw" / "pets", "auto")
    assert list((tmp_path / "raw").iterdir()) == []


def test_dropped_connection_and_server_error_still_give_the_right_archive(tmp_path: Path) -> None:
    body = make_tgz({**CLASS_FILES, "pets/big.bin": os.urandom(200_000)})
    faults = Faults(errors_500=1, drop_after=50_000)
    with Server({"/pets.tgz": body}, faults) as server:
        FilesDataset("url", f"{server.url}/pets.tgz", sha(body)).fetch(tmp_path / "raw" / "pets", "auto")
    assert faults.log[0].endswith("range=None")  # 500
    assert faults.log[-1] == "GET /pets.tgz range=bytes=50000-"  # resumed after the drop
    assert (tmp_path / "raw/pets/pets/dog/2.png").read_bytes() == CLASS_FILES["pets/dog/2.png"]


@pytest.mark.parametrize("member", ["../evil.png", "/tmp/evil.png", "pets/../../evil.png"])
def test_paths_escaping_the_target_are_refused(tmp_path: Path, member: str) -> None:
    for fmt, body in (
        ("zip", make_zip({**CLASS_FILES, member: b"x"})),
        ("tgz", make_tgz({**CLASS_FILES, member: b"x"})),
    ):
        archive = tmp_path / f"a.{fmt}"
        archive.write_bytes(body)
        with pytest.raises(UnsafeArchive, match="outside"):
            extract(archive, tmp_path / "out" / fmt)
        assert not (tmp_path / "out" / fmt).exists() and not (tmp_path / "evil.png").exists()
        assert [p.name for p in (tmp_path / "out").iterdir()] == []  # no half-extracted temp folder


def test_symlink_escaping_the_target_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.tgz"
    archive.write_bytes(make_tgz(CLASS_FILES, links={"pets/link": "../../../etc"}))
    with pytest.raises(UnsafeArchive):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_folder_with_official_split_and_csv_listing(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            (tmp_path / "xray" / split / cls).mkdir(parents=True)
            (tmp_path / "xray" / split / cls / "a.png").write_bytes(png_bytes(9))
    (tmp_path / "xray" / "train" / "NORMAL" / "notes.txt").write_text("not an image")
    data = read_folder(tmp_path / "xray")
    assert data.classes == ["NORMAL", "PNEUMONIA"] and data.official.tolist() == ["test", "test", "train", "train"]
    (tmp_path / "list.csv").write_text(
        "path,label,split\nxray/train/NORMAL/a.png,healthy,train\nxray/test/PNEUMONIA/a.png,sick,test\n"
    )
    listing = read_csv_listing(tmp_path / "list.csv")
    assert listing.classes == ["healthy", "sick"] and listing.labels.tolist() == [0, 1]
    assert listing.official.tolist() == ["train", "test"] and listing.files[1].is_file()


def test_kaggle_without_credentials_names_the_missing_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle"))
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    with pytest.raises(SourceError, match=str(tmp_path / "kaggle" / "kaggle.json")):
        kaggle_download("someone/some-data", tmp_path / "raw")


def test_medmnist_npz_layout(tmp_path: Path) -> None:
    from imgstudy.data.sources.arrays import NpzDataset

    rng = np.random.default_rng(0)
    arrays = {
        f"{s}_images": rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        for s, n in (("train", 6), ("val", 2), ("test", 3))
    }
    arrays.update({f"{s}_labels": rng.integers(0, 2, (n, 1)) for s, n in (("train", 6), ("val", 2), ("test", 3))})
    np.savez(tmp_path / "pneumonia.npz", **arrays)
    ds = NpzDataset(str(tmp_path / "pneumonia.npz"), None, ("normal", "pneumonia"))
    ds.fetch(tmp_path / "raw", "auto")
    data = ds.read(tmp_path / "raw")
    assert data.images.shape == (11, 28, 28, 1) and data.official.tolist() == ["train"] * 6 + ["val"] * 2 + ["test"] * 3
    assert (
        data.labels.tolist()
        == arrays["train_labels"].ravel().tolist()
        + arrays["val_labels"].ravel().tolist()
        + arrays["test_labels"].ravel().tolist()
    )
