"""train and evaluate stages on a synthetic store: learning, determinism, early stopping, checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import classify_task, cnn_params, quadrant_images, write_quadrant_store
from imgstudy import params as P
from imgstudy.training import checkpoint
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import FitConfig, Phase, fit
from imgstudy.training.losses import LOSSES
from stages import evaluate, explain, split, train


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, P.Params]:
    root = tmp_path_factory.mktemp("synthetic")
    write_quadrant_store(root / "store", 480, test=80)
    split.run(root / "store", root / "splits", "official", 0.2, 0.1, seed=0)
    return root, P.resolve(cnn_params(epochs=3, batch_size=32), "F0")


def test_train_learns_and_evaluate_scores_it(study) -> None:
    root, p = study
    history = train.run(p, root / "store", root / "splits", root / "m", root / "live")
    assert len(history) == 3 and history[-1].metrics["val_acc"] > 0.9
    summary = evaluate.run(
        p, "F0", root / "store", root / "splits", root / "m", root / "metrics", root / "plots", root / "pred.npz"
    )
    assert summary["accuracy"] > 0.9 and summary["samples"] == 80 and summary["roc_auc"] > 0.9
    assert json.loads((root / "metrics/test.json").read_text()) == summary

    # The checkpoint is the best epoch and carries what is needed to use it again.
    model, card = checkpoint.load(root / "m/model.pt", torch.device("cpu"))
    best = min(history, key=lambda r: r.metrics["val_loss"])
    assert card.epoch == best.epoch and card.val_loss == pytest.approx(best.metrics["val_loss"])
    assert card.classes == ["tl", "tr", "bl", "br"] and card.image_size == 16
    assert card.params["train"]["lr"] == 0.003
    assert P.read_yaml(root / "m/params.yaml")["train"]["epochs"] == 3

    result = explain.run(p, root / "store", root / "splits", root / "m", root / "cam", root / "metrics")
    written = sorted(w.name for w in (root / "cam").glob("*.png"))
    assert written == [
        "class_000_tl.png",
        "class_001_tr.png",
        "class_002_bl.png",
        "class_003_br.png",
        "deletion.png",
        "mean_maps.png",
    ]
    # the model found the bright square: deleting what Grad-CAM highlights hurts more than random pixels
    assert result["faithfulness_gap"] > 0, result


def test_same_seed_same_weights(study) -> None:
    root, p = study
    for run in ("a", "b"):
        train.run(p, root / "store", root / "splits", root / run, root / f"live_{run}")
    a = torch.load(root / "a/model.pt", weights_only=True)["state_dict"]
    b = torch.load(root / "b/model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def tiny_config(**changes) -> FitConfig:
    base = dict(
        phases=(Phase(epochs=10, lr=0.0),), batch_size=32, optimizer="sgd", monitor="val_loss", patience=2, seed=0
    )
    return FitConfig(**{**base, **changes})


def test_early_stopping_waits_patience_epochs() -> None:
    images, labels = quadrant_images(64, seed=1)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 4))
    # lr 0 keeps the val loss exactly constant, so only epoch 1 improves: stop after 1 + patience.
    seen = []
    task = classify_task(
        (x, y), (x, y), Inputs.fit(x, "native", "dataset", False), LOSSES["cross_entropy"](None, 0.0, 0.0)
    )
    history = fit(model, task, tiny_config(), torch.device("cpu"), lambda r, m: seen.append(r.improved))
    assert len(history) == 3 and seen == [True, False, False]


def test_inputs_standardize_per_channel_and_convert_channels() -> None:
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (50, 8, 8, 3), dtype=np.uint8))
    inputs = Inputs.fit(images, "native", "dataset", channels_last=True)
    x = inputs(images)
    assert x.shape == (50, 3, 8, 8) and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    gray = Inputs.fit(images, "gray", "dataset", channels_last=False)
    g = gray(images)
    assert g.shape == (50, 1, 8, 8) and abs(g.mean().item()) < 1e-5
    # gray -> rgb replicates the channel; ImageNet statistics are the fixed published ones.
    rgb = Inputs.fit(images[..., :1], "rgb", "imagenet", channels_last=False)
    assert rgb.mean == (0.485, 0.456, 0.406) and rgb(images[..., :1]).shape == (50, 3, 8, 8)


def test_kfold_trains_one_model_per_fold_and_reports_mean_and_std(tmp_path) -> None:
    write_quadrant_store(tmp_path / "store", 240, test=40)
    sizes = split.run(tmp_path / "store", tmp_path / "splits", "official", 0.2, 0.1, seed=0, folds=3)
    assert sizes["folds"] == 3 and len(np.load(tmp_path / "splits/cv_pool.npy")) == 200
    p = P.resolve(cnn_params(epochs=2, batch_size=32), "F0")
    train.run(p, tmp_path / "store", tmp_path / "splits", tmp_path / "m", tmp_path / "live")
    cv = json.loads((tmp_path / "m/cv.json").read_text())
    accs = [f["val_acc"] for f in cv["folds"]]
    assert len(accs) == 3 and cv["val_acc_mean"] == pytest.approx(np.mean(accs))
    assert cv["val_acc_std"] == pytest.approx(np.std(accs, ddof=1))
    summary = evaluate.run(
        p,
        "F0",
        tmp_path / "store",
        tmp_path / "splits",
        tmp_path / "m",
        tmp_path / "metrics",
        tmp_path / "plots",
        tmp_path / "pred.npz",
    )
    assert summary["val_acc_mean"] == cv["val_acc_mean"]


def test_evaluate_takes_the_binary_threshold_from_validation(tmp_path) -> None:
    from imgstudy.data.store import load_split, open_store, write_store
    from imgstudy.evaluation.inference import predict_probs
    from imgstudy.evaluation.metrics import youden_threshold

    images, labels = quadrant_images(240, seed=5)
    top = (labels < 2).astype(np.int64)  # binary: the square in the top half or not
    official = np.where(np.arange(240) < 180, "train", "test")
    write_store(tmp_path / "store", images, top, ["bottom", "top"], [f"s#{i}" for i in range(240)], official, {})
    split.run(tmp_path / "store", tmp_path / "splits", "official", 0.3, 0.1, seed=0)
    p = P.resolve(cnn_params(epochs=1, batch_size=32, lr=0.0005), "F0")
    train.run(p, tmp_path / "store", tmp_path / "splits", tmp_path / "m", tmp_path / "live")
    summary = evaluate.run(
        p,
        "F0",
        tmp_path / "store",
        tmp_path / "splits",
        tmp_path / "m",
        tmp_path / "metrics",
        tmp_path / "plots",
        tmp_path / "pred.npz",
    )
    model, card = checkpoint.load(tmp_path / "m/model.pt", torch.device("cpu"))
    st = open_store(tmp_path / "store")
    thresholds = {}
    for name in ("val", "test"):
        x, y = load_split(st, tmp_path / "splits", name)
        probs = predict_probs(model, x, card.inputs, 64, torch.device("cpu")).numpy()
        thresholds[name] = youden_threshold(y.numpy(), probs[:, 1])
    assert thresholds["val"] != thresholds["test"]  # the two splits disagree: the test can tell them apart
    assert summary["threshold"] == pytest.approx(thresholds["val"])
