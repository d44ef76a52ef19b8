"""File formats of the built-in datasets: IDX (MNIST layout) and numpy-only pickles."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from imgstudy.core.errors import SourceError


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a pickle can run arbitrary code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")
        if module == "numpy.core.multiarray":  # numpy 2 moved it; the pickle predates that
            from numpy._core import multiarray

            return getattr(multiarray, name)
        return super().find_class(module, name)


def read_idx(path: Path) -> np.ndarray:
    """IDX (LeCun et al.): big-endian magic, dims, then uint8 data; gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or dtype_code != 0x08:
        raise SourceError(f"{path}: not a uint8 IDX file (magic {data[:4].hex()})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise SourceError(f"{path}: header says {shape} but holds {body.size} bytes")
    return body.reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    if array.dtype != np.uint8:
        raise ValueError(f"IDX files here hold uint8, got {array.dtype}")
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())
