"""train and evaluate stages on a synthetic store: learning, determinism, early stopping, checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import (
    classify_task,
    cnn_params,
    evaluate_variant,
    quadrant_images,
    split_store,
    train_variant,
    write_quadrant_store,
)
from imgstudy.params import Params, read_yaml, resolve
from imgstudy.training import checkpoint
from imgstudy.training.fitting import FitConfig, Phase
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import fit
from imgstudy.training.losses import LOSSES


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, Params]:
    root = tmp_path_factory.mktemp("synthetic")
    write_quadrant_store(root / "store", 480, test=80)
    split_store(root, "official", 0.2, 0.1, seed=0)
    return root, resolve(cnn_params(epochs=3, batch_size=32), "F0")


def test_train_learns_and_evaluate_scores_it(study) -> None:
    root, p = study
    history = train_variant(p, root, "m")["history"]
    assert len(history) == 3 and history[-1]["val_acc"] > 0.9
    summary = evaluate_variant(p, root, "m")
    assert summary["accuracy"] > 0.9 and summary["samples"] == 80 and summary["roc_auc"] > 0.9
    written = json.loads((root / "metrics/test.json").read_text())
    assert {"variant": "F0", **written, "robustness": summary["robustness"], "explain": summary["explain"]} == summary
    assert json.loads((root / "metrics/robustness.json").read_text()) == summary["robustness"]
    assert summary["robustness"]["clean_accuracy"] == pytest.approx(summary["accuracy"], abs=0.05)

    # The checkpoint is the best epoch and carries what is needed to use it again.
    model, card = checkpoint.load(root / "m/model.pt", torch.device("cpu"))
    best = min(range(3), key=lambda e: history[e]["val_loss"])
    assert card.epoch == best and card.scores["val_loss"] == pytest.approx(history[best]["val_loss"])
    assert card.kind == "classifier" and set(card.scores) == {"val_loss", "val_acc"}
    assert card.classes == ["tl", "tr", "bl", "br"] and card.image_size == 16
    assert card.params["train"]["lr"] == 0.003
    assert read_yaml(root / "m/params.yaml")["train"]["epochs"] == 3

    result = summary["explain"]
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
        train_variant(p, root, run)
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
    sizes = split_store(tmp_path, "official", 0.2, 0.1, seed=0, folds=3)
    assert sizes["folds"] == 3 and len(np.load(tmp_path / "splits/cv_pool.npy")) == 200
    p = resolve(cnn_params(epochs=2, batch_size=32), "F0")
    train_variant(p, tmp_path, "m")
    cv = json.loads((tmp_path / "m/cv.json").read_text())
    accs = [f["val_acc"] for f in cv["folds"]]
    assert len(accs) == 3 and cv["val_acc_mean"] == pytest.approx(np.mean(accs))
    assert cv["val_acc_std"] == pytest.approx(np.std(accs, ddof=1))
    summary = evaluate_variant(p, tmp_path, "m")
    assert summary["val_acc_mean"] == cv["val_acc_mean"]


def test_evaluate_takes_the_binary_threshold_from_validation(tmp_path) -> None:
    from imgstudy.data.store import load_split, open_store, write_store
    from imgstudy.evaluation.inference import predict_probs
    from imgstudy.evaluation.metrics import youden_threshold

    images, labels = quadrant_images(240, seed=5)
    top = (labels < 2).astype(np.int64)  # binary: the square in the top half or not
    official = np.where(np.arange(240) < 180, "train", "test")
    write_store(tmp_path / "store", images, top, ["bottom", "top"], [f"s#{i}" for i in range(240)], official, {})
    split_store(tmp_path, "official", 0.3, 0.1, seed=0)
    p = resolve(cnn_params(epochs=1, batch_size=32, lr=0.0005), "F0")
    train_variant(p, tmp_path, "m")
    summary = evaluate_variant(p, tmp_path, "m")
    model, card = checkpoint.load(tmp_path / "m/model.pt", torch.device("cpu"))
    st = open_store(tmp_path / "store")
    thresholds = {}
    for name in ("val", "test"):
        x, y = load_split(st, tmp_path / "splits", name)
        probs = predict_probs(model, x, card.inputs, 64, torch.device("cpu")).numpy()
        thresholds[name] = youden_threshold(y.numpy(), probs[:, 1])
    assert thresholds["val"] != thresholds["test"]  # the two splits disagree: the test can tell them apart
    assert summary["threshold"] == pytest.approx(thresholds["val"])


def test_evaluate_logs_test_scores_and_a_model_version_to_mlflow(study, tmp_path) -> None:
    """With tracking on, evaluate logs the test metrics and the classification report to MLflow and
    registers the model as a new version of `<experiment>-<variant>` (a local sqlite store here)."""
    import mlflow

    root, p = study
    if not (root / "m/model.pt").is_file():
        train_variant(p, root, "m")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(tracking_uri=store)
    client.create_experiment("quadrants", artifact_location=(tmp_path / "artifacts").as_uri())
    tracked = p.model_copy(update={"tracking": p.tracking.model_copy(update={"mlflow": True, "uri": store,
                                                                            "experiment": "quadrants"})})  # fmt: skip
    summary = evaluate_variant(tracked, root, "m")
    (run,) = client.search_runs([client.get_experiment_by_name("quadrants").experiment_id])
    assert run.data.metrics["test_accuracy"] == pytest.approx(summary["accuracy"])
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"classification_report.json", "model"}
    (version,) = client.search_model_versions("name = 'quadrants-F0'")
    assert version.run_id == run.info.run_id and int(version.version) == 1
