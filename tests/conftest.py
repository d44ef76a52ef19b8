"""Shared test helpers: the project root, and a copy of the project in a temporary git repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

# pytest-xdist runs several tests at once: each gets its share of the cores (before torch is imported, and
# inherited by the stages tests start). Torch's default of one thread per core in every worker puts two busy
# threads on each core, and OpenMP's spin-waiting then slows small models several-fold.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault(
        "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    )

ROOT = Path(__file__).resolve().parents[1]
# Killed trainings resume from states kept outside the workspace (training/resume.py): the tests' go to
# a folder of their own, never the user's cache.
os.environ.setdefault("IMGSTUDY_RESUME", tempfile.mkdtemp(prefix="imgstudy-resume-"))
PROJECT_FILES = [
    "dvc.yaml",
    "params.yaml",
    "imgstudy",
    "stages",
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvc/plots",
    ".dvcignore",
    ".gitignore",
]


def pytest_collection_modifyitems(items: list) -> None:
    """The tests marked heavy (they run `dvc repro` or train for many steps) first: the two workers then
    share the long ones and finish together on the short ones, instead of one long test running alone
    at the end while the other worker waits."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


def require(available: bool, what: str) -> None:
    """Skip a test whose tool or package is missing, locally; under CI (CI=true) fail instead: a
    missing browser or offline package must not turn a red check into a silent skip."""
    if available:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is missing under CI: the run installs it (make test), so this is a setup failure")
    pytest.skip(f"{what} is not installed (make test installs it)")


def browser(tmp_path: Path, size: str):
    """Debian's Chromium, headless, driven by Selenium (no browser download at run time)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    require(bool(chromium and driver), "Debian chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={size}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def project_env() -> dict:
    """The environment stages run in: this interpreter's bin first, DVC offline and quiet."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    return env


def train_cmd(tmp: Path, out: str, params: Path | None = None, variant: str = "F0") -> list[str]:
    """The train stage's command line, reading tmp/store, tmp/splits and params (default tmp/params.yaml),
    writing tmp/out, tmp/live_out and tmp/timings."""
    paths = {
        "params": params or tmp / "params.yaml",
        "store": tmp / "store",
        "splits": tmp / "splits",
        "out": tmp / out,
        "live": tmp / f"live_{out}",
        "timings": tmp / "timings",
    }
    args = [a for key, path in paths.items() for a in (f"--{key}", str(path))]
    return [sys.executable, "-m", "stages.train", "--variant", variant, *args]


def split_store(
    root: Path,
    test: str = "official",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    folds: int = 0,
) -> dict:
    """The split stage's work on root/store, written to root/splits; returns the split sizes."""
    from imgstudy.params import resolve
    from imgstudy.pipeline import split

    raw = cnn_params()
    raw["split"].update(test=test, val_fraction=val_fraction, test_fraction=test_fraction, folds=folds)
    raw["base"]["seed"] = seed
    return split.run(resolve(raw), split.Files(root / "store", root / "splits"))["sizes"]


def train_variant(params, root: Path, out: str, variant: str = "F0", kind: str = "classifier") -> dict:
    """The train stage's work in this process: root/store and root/splits in, root/out and root/live_out out."""
    from imgstudy.pipeline import train

    files = train.Files(variant, root / "store", root / "splits", root / out, root / f"live_{out}", root / "timings")
    return train.run(params, files, kind)


def sh(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=project_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def edit_params(repo: Path, changes: dict[str, object]) -> None:
    """Set dotted keys (e.g. 'train.epochs') in the repo's params.yaml."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


# The default grid, shrunk: 600 digits at 32 px, one short epoch per variant.
TINY = {
    "preprocess.max_samples": 600,
    "preprocess.size": 32,
    "train.epochs": 1,
    "train.batch_size": 32,
    "train.lr": 0.001,
    "evaluate.batch_size": 256,
    "explain.per_class": 1,
    "explain.mean_map_samples": 5,
    "robustness.max_samples": 100,
    "compare.bootstrap": 100,
    "base.threads": 1,  # tests run two at a time (pytest-xdist): one thread each
    "base.device": "cpu",  # results compared across runs: the same device and arithmetic everywhere
    "train.speed.precision": "fp32",
}


def copy_project(repo: Path) -> None:
    """What a study needs (dvc.yaml, params, stages, library, DVC config) copied into `repo`."""
    repo.mkdir(parents=True)
    for name in PROJECT_FILES:
        src, dst = ROOT / name, repo / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dst)


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    """The project copied into a fresh git repo with shrunk params, committed."""
    repo = tmp_path / "study"
    copy_project(repo)
    edit_params(repo, TINY)
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny study")
    return repo


def quadrant_images(n: int, seed: int, side: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Noise with a bright square in one quadrant; the class is the quadrant (learnable fast)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    images = rng.integers(0, 60, (n, side, side, 1), dtype=np.uint8)
    half, sq = side // 2, side // 4
    for i, c in enumerate(labels):
        top = half * (c // 2) + rng.integers(0, half - sq + 1)
        left = half * (c % 2) + rng.integers(0, half - sq + 1)
        images[i, top : top + sq, left : left + sq] = 255
    return images, labels


def write_quadrant_store(folder: Path, n: int, test: int, side: int = 16) -> None:
    from imgstudy.data.store import write_store

    images, labels = quadrant_images(n, seed=0, side=side)
    official = np.where(np.arange(n) < n - test, "train", "test")
    write_store(
        folder,
        images,
        labels,
        ["tl", "tr", "bl", "br"],
        [f"synthetic#{i}" for i in range(n)],
        official,
        meta={"dataset": "synthetic"},
    )


def classify_task(
    train,
    val,
    inputs,
    loss_fn,
    *,
    batch_size: int = 32,
    augment=None,
    feature_cache: bool = False,
    sampling: str = "uniform",
    mixing=None,
):
    """A ClassifyTask on the CPU in fp32, with everything but the data off unless asked for."""
    import torch

    from imgstudy.training.augment import Augment
    from imgstudy.training.mixing import Mixing
    from imgstudy.training.precision import Precision
    from imgstudy.training.tasks import ClassifyTask

    return ClassifyTask(
        train,
        val,
        inputs,
        loss_fn,
        torch.device("cpu"),
        augment=augment or Augment(),
        mixing=mixing or Mixing(),
        batch_size=batch_size,
        feature_cache=feature_cache,
        sampling=sampling,
        precision=Precision("fp32", "test"),
    )


def cnn_params(**train: object) -> dict:
    """params.yaml with the small MNIST CNN and no augmentation: quick unit-level training."""
    from imgstudy.params import read_yaml

    raw = read_yaml(ROOT / "params.yaml")
    raw["train"].update(
        {
            "model": "mnist_cnn",
            "channels": "native",
            "normalize": "dataset",
            "scheduler": "onecycle",
            "optimizer": "adamw",
            "lr": 0.003,
            **train,
        }
    )
    raw["train"]["augment"].update(rotation=0, zoom=0.0, shift=0.0)
    raw["search"]["space"] = {"train.lr": {"low": 1e-4, "high": 1e-2, "log": True}}  # what mnist_cnn has
    raw["base"]["device"] = "cpu"  # tests compare weights and metrics: the same device and arithmetic everywhere
    raw["train"]["speed"]["precision"] = "fp32"
    return raw


def evaluate_variant(params, root: Path, model: str, variant: str = "F0") -> dict:
    """The evaluate stage's work in this process on root/<model>: root/metrics, root/plots, root/pred.npz."""
    from imgstudy.pipeline import evaluate

    files = evaluate.Files(
        variant, root / "store", root / "splits", root / model, root / "metrics", root / "plots",
        root / "robustness_plots", root / "cam", root / "pred.npz", root / "pred.robustness.json",
    )  # fmt: skip
    return evaluate.run(params, files)
