"""Search: trials scored on validation, the study resumes, the best trial becomes a `dvc exp run`."""

from __future__ import annotations

from pathlib import Path

import optuna
import yaml

from conftest import cnn_params, write_quadrant_store
from stages import split
from tools import search


def test_random_search_saves_resumes_and_writes_the_best(tmp_path: Path) -> None:
    write_quadrant_store(tmp_path / "store", 160, test=40)
    split.run(tmp_path / "store", tmp_path / "splits", "official", 0.25, 0.1, seed=0)
    raw = cnn_params(epochs=1, batch_size=32)
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
