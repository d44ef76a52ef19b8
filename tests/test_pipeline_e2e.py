"""The real `dvc repro` and `dvc exp run` on a tiny copy of the study, in a temporary git repo."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from conftest import TINY, edit_params, sh

STAGES = ["download", "preprocess", "split", "train@default", "evaluate@default", "explain@default"]


def ran(output: str) -> set[str]:
    """Stages that `dvc repro` ran (it prints "Running stage 'name':")."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_repro_builds_caches_and_reruns_only_what_changed(tiny_repo: Path) -> None:
    first = sh(tiny_repo, "dvc", "repro")
    assert ran(first.stdout) == set(STAGES), first.stdout

    # evaluate: summary metrics in [0, 1] that show learning (10 classes: chance is 0.1).
    test = json.loads((tiny_repo / "metrics/default/test.json").read_text())
    assert set(test) >= {"accuracy", "precision_macro", "recall_macro", "f1_macro"}
    assert 0.6 < test["accuracy"] <= 1.0, test
    assert 0.0 < test["f1_macro"] <= 1.0
    classes = json.loads((tiny_repo / "metrics/default/classes.json").read_text())
    assert sum(classes[str(d)]["support"] for d in range(10)) == test["samples"]
    assert abs(classes["accuracy"] - test["accuracy"]) < 1e-12

    # The confusion CSV holds one row per test sample and agrees with the accuracy.
    with open(tiny_repo / "plots/default/confusion.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == test["samples"]
    assert sum(r["actual"] == r["predicted"] for r in rows) / len(rows) == test["accuracy"]
    assert (tiny_repo / "plots/default/confusion.png").stat().st_size > 1000

    # train: DVCLive logged one row per epoch; the checkpoint sits with its params.
    loss_rows = (tiny_repo / "dvclive/default/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert len(loss_rows) == 1 + TINY["train.epochs"]  # header + one row per epoch
    assert (tiny_repo / "models/default/model.pt").is_file()
    assert "mnist_cnn" in (tiny_repo / "models/default/params.yaml").read_text()

    # explain: one overlay PNG per class.
    assert len(list((tiny_repo / "plots/default/gradcam").glob("class_*.png"))) == 10

    # `dvc plots show` renders the declared plots, the confusion template among them.
    html = sh(tiny_repo, "dvc", "plots", "show", "-o", "plots_html")
    page = (tiny_repo / "plots_html/index.html").read_text()
    assert "confusion.csv" in page and "loss.tsv" in page, html.stdout

    # Nothing changed: nothing runs.
    assert ran(sh(tiny_repo, "dvc", "repro").stdout) == set()

    # A train parameter changes: only the model and what depends on it run again.
    edit_params(tiny_repo, {"train.lr": 0.002})
    assert ran(sh(tiny_repo, "dvc", "repro").stdout) == {"train@default", "evaluate@default", "explain@default"}


def test_exp_run_is_listed_beside_the_baseline(tiny_repo: Path) -> None:
    # The experiment builds the whole pipeline itself from the committed baseline.
    sh(tiny_repo, "dvc", "exp", "run", "-n", "lr-low", "-S", "train.lr=0.001")
    rows = json.loads(sh(tiny_repo, "dvc", "exp", "show", "--json").stdout)
    experiments = {exp["name"]: exp for baseline in rows for exp in (baseline.get("experiments") or [])}
    assert "lr-low" in experiments, rows
    data = experiments["lr-low"]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["train"]["lr"] == 0.001
    metrics = data["metrics"]["metrics/default/test.json"]["data"]
    assert 0.0 < metrics["accuracy"] <= 1.0
