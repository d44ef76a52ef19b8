"""Search: trials scored on validation, the study resumes, the best trial becomes a `dvc exp run`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import yaml

from conftest import cnn_params, quadrant_images, split_store
from imgstudy.data.store import write_store
from tools import search


def store_with_a_meaningless_test_split(folder: Path) -> None:
    """Quadrant images whose test labels are shuffled: a trial scored on the test split would be near
    chance (0.25), one scored on validation well above it."""
    images, labels = quadrant_images(400, seed=0)
    official = np.where(np.arange(400) < 320, "train", "test")
    labels = labels.copy()
    labels[320:] = np.random.default_rng(1).permutation(labels[320:] + 1) % 4
    write_store(folder, images, labels, ["tl", "tr", "bl", "br"], [f"s#{i}" for i in range(400)], official, {})


def test_random_search_saves_resumes_and_writes_the_best(tmp_path: Path) -> None:
    store_with_a_meaningless_test_split(tmp_path / "store")
    split_store(tmp_path, "official", 0.25, 0.1, seed=0)
    raw = cnn_params(epochs=3, batch_size=32)
    raw["search"].update(
        sampler="random",
        trials=3,
        variant="F0",
        metric="val_acc",
        space={"train.lr": {"low": 1e-4, "high": 1e-2, "log": True}, "train.optimizer": {"choices": ["adam", "sgd"]}},
    )
    study = search.run(raw, tmp_path / "store", tmp_path / "splits", tmp_path / "search")
    assert len(study.trials) == 3 and (tmp_path / "search/study.db").is_file()
    assert all(1e-4 <= t.params["train.lr"] <= 1e-2 for t in study.trials)
    assert all(0.0 <= t.value <= 1.0 for t in study.trials)
    assert max(t.value for t in study.trials) > 0.6  # scored on validation: far above the test split's chance

    raw["search"]["trials"] = 5  # continues the saved study: 2 more, not 5
    study = search.run(raw, tmp_path / "store", tmp_path / "splits", tmp_path / "search")
    assert len(study.trials) == 5
    best = yaml.safe_load((tmp_path / "search/best.yaml").read_text())
    assert best["value"] == max(t.value for t in study.trials)
    assert best["command"] == (
        f"dvc exp run -S variants.F0.train.lr={best['params']['train.lr']} "
        f"-S variants.F0.train.optimizer={best['params']['train.optimizer']}"
    )
    reloaded = optuna.load_study(study_name="search", storage=f"sqlite:///{tmp_path / 'search/study.db'}")
    assert reloaded.best_trial.number == best["trial"]


def test_tpe_search_minimizes_the_validation_loss(tmp_path: Path) -> None:
    store_with_a_meaningless_test_split(tmp_path / "store")
    split_store(tmp_path, "official", 0.25, 0.1, seed=0)
    raw = cnn_params(epochs=3, batch_size=32)
    raw["search"].update(
        sampler="tpe",
        trials=2,
        variant="F0",
        metric="val_loss",
        space={"train.lr": {"low": 1e-3, "high": 1e-2, "log": True}},
    )
    study = search.run(raw, tmp_path / "store", tmp_path / "splits", tmp_path / "search")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    assert all(0.0 < t.value < 1.3 for t in study.trials)  # learned: below ln 4 = 1.386, chance's loss
    best = yaml.safe_load((tmp_path / "search/best.yaml").read_text())
    assert best["value"] == min(t.value for t in study.trials) and best["metric"] == "val_loss"
