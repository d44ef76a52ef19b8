"""train and evaluate stages on a synthetic store: learning, determinism, early stopping, checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT
from imgstudy import checkpoint
from imgstudy import params as P
from imgstudy.engine import FitConfig, Normalizer, fit
from imgstudy.store import write_store
from stages import evaluate, explain, split, train


def quadrant_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """16x16 noise with a bright 4x4 square in one quadrant; the class is the quadrant."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    images = rng.integers(0, 60, (n, 16, 16, 1), dtype=np.uint8)
    for i, c in enumerate(labels):
        top, left = 8 * (c // 2) + rng.integers(0, 5), 8 * (c % 2) + rng.integers(0, 5)
        images[i, top:top + 4, left:left + 4] = 255
    return images, labels


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, P.Params]:
    root = tmp_path_factory.mktemp("synthetic")
    images, labels = quadrant_images(480, seed=0)
    official = np.where(np.arange(480) < 400, "train", "test")
    write_store(root / "store", images, labels, ["tl", "tr", "bl", "br"],
                [f"synthetic#{i}" for i in range(480)], official, meta={"dataset": "synthetic"})
    split.run(root / "store", root / "splits", "official", 0.2, 0.1, seed=0)
    raw = P.read_yaml(ROOT / "params.yaml")
    raw["train"].update(epochs=3, batch_size=32, lr=0.003)
    return root, P.resolve(raw, "default")


def test_train_learns_and_evaluate_scores_it(study) -> None:
    root, p = study
    history = train.run(p, root / "store", root / "splits", root / "m", root / "live")
    assert len(history) == 3 and history[-1].val_acc > 0.9
    summary = evaluate.run(p, root / "store", root / "splits", root / "m", root / "metrics", root / "plots")
    assert summary["accuracy"] > 0.9 and summary["samples"] == 80
    assert json.loads((root / "metrics/test.json").read_text()) == summary

    # The checkpoint is the best epoch and carries what is needed to use it again.
    model, card = checkpoint.load(root / "m/model.pt", torch.device("cpu"))
    best = min(history, key=lambda r: r.val_loss)
    assert card.epoch == best.epoch and card.val_loss == pytest.approx(best.val_loss)
    assert card.classes == ["tl", "tr", "bl", "br"] and card.image_size == 16
    assert card.params["train"]["lr"] == 0.003
    assert P.read_yaml(root / "m/params.yaml")["train"]["epochs"] == 3

    written = explain.run(p, root / "store", root / "splits", root / "m", root / "cam")
    assert [w.name for w in written] == ["class_000_tl.png", "class_001_tr.png", "class_002_bl.png",
                                         "class_003_br.png"]
    assert all(w.stat().st_size > 1000 for w in written)


def test_same_seed_same_weights(study) -> None:
    root, p = study
    for run in ("a", "b"):
        train.run(p, root / "store", root / "splits", root / run, root / f"live_{run}")
    a = torch.load(root / "a/model.pt", weights_only=True)["state_dict"]
    b = torch.load(root / "b/model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_early_stopping_waits_patience_epochs() -> None:
    images, labels = quadrant_images(64, seed=1)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 4))
    # lr 0 keeps the val loss exactly constant, so only epoch 1 improves: stop after 1 + patience.
    cfg = FitConfig(epochs=10, batch_size=32, optimizer="sgd", lr=0.0, weight_decay=0.0, scheduler="none",
                    loss="cross_entropy", patience=2, channels_last=False, seed=0)
    seen = []
    history = fit(model, (x, y), (x, y), Normalizer.fit(x), cfg, torch.device("cpu"),
                  lambda r, m: seen.append(r.improved))
    assert len(history) == 3 and seen == [True, False, False]


def test_normalizer_standardizes_per_channel() -> None:
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (50, 8, 8, 3), dtype=np.uint8))
    norm = Normalizer.fit(images)
    x = norm(images, channels_last=True)
    assert x.shape == (50, 3, 8, 8) and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
