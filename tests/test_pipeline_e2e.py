"""The real `dvc repro`, `dvc exp run` and `dvc queue` on a tiny copy of the study, in a temporary git repo."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from conftest import TINY, edit_params, sh

GRID = ["A0", "B0", "C0", "D0", "E0", "F0", "F1", "F2", "F3", "F4"]
TRAIN_EVAL = [f"{stage}@{v}" for v in GRID for stage in ("train", "evaluate")]


def ran(output: str) -> set[str]:
    """Stages that `dvc repro` ran (it prints "Running stage 'name':")."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def check_variant_outputs(repo: Path, v: str) -> dict:
    test = json.loads((repo / f"metrics/{v}/test.json").read_text())
    assert set(test) >= {"accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "parameters"}
    assert all(0.0 <= test[m] <= 1.0 for m in ("accuracy", "precision_macro", "recall_macro", "f1_macro"))
    classes = json.loads((repo / f"metrics/{v}/classes.json").read_text())["classes"]
    assert sum(classes[str(d)]["support"] for d in range(10)) == test["samples"]
    with open(repo / f"plots/{v}/confusion.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == test["samples"]
    assert sum(r["actual"] == r["predicted"] for r in rows) / len(rows) == test["accuracy"]
    rows = (repo / f"dvclive/{v}/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert len(rows) == 1 + TINY["train.epochs"]
    for name in ("confusion.png", "curves.png", "reliability.png", "mistakes.png", "roc.csv", "pr.csv"):
        assert (repo / f"plots/{v}/{name}").stat().st_size > 100, name
    if v == "F1":  # the variant whose robustness and explanations were built
        assert len(list((repo / f"plots/{v}/gradcam").glob("class_*.png"))) == 10
        assert (repo / f"plots/{v}/gradcam/mean_maps.png").is_file()
        explained = json.loads((repo / f"metrics/{v}/explain.json").read_text())
        assert explained["samples"] > 0 and 0 <= explained["deletion_auc"] <= 1
        robust = json.loads((repo / f"metrics/{v}/robustness.json").read_text())
        assert set(robust["corruptions"]) == {"shift", "rotate", "zoom", "contrast", "brightness", "noise", "blur",
                                              "imperfect"}
        assert 0 <= robust["mean_corruption_accuracy"] <= 1 and robust["samples"] == min(100, test["samples"])
        assert (repo / f"plots/{v}/robustness.png").stat().st_size > 100
    return test


def test_grid_repro_compare_and_selective_rebuild(tiny_repo: Path) -> None:
    # The comparison of all 10 variants (compare needs train and evaluate of each), then the
    # robustness and explanation stages of one variant: the same stage code for every variant,
    # and running all 40 per-variant stages would double this test's time.
    first = sh(tiny_repo, "dvc", "repro", "compare")
    assert ran(first.stdout) == {"download", "preprocess", "split", *TRAIN_EVAL, "compare"}, first.stdout
    extra = sh(tiny_repo, "dvc", "repro", "robustness@F1", "explain@F1")
    assert ran(extra.stdout) == {"robustness@F1", "explain@F1"}, extra.stdout

    tests = {v: check_variant_outputs(tiny_repo, v) for v in GRID}
    assert tests["F1"]["parameters"] == tests["F0"]["parameters"]  # same net, one more block trained
    # Learning happened where it should: the pretrained RGB variant beats chance (0.1) clearly.
    assert tests["B0"]["accuracy"] > 0.2, tests["B0"]  # twice chance after one tiny epoch

    # compare: one row per variant, the same numbers as each variant's own metrics file.
    report = json.loads((tiny_repo / "metrics/compare.json").read_text())
    assert list(report["variants"]) == GRID
    for v in GRID:
        for m in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"):
            assert report["variants"][v]["metrics"][m] == tests[v][m]
            lo, hi = report["variants"][v]["ci"][m]
            assert lo <= tests[v][m] <= hi
    best = max(GRID, key=lambda v: tests[v]["f1_macro"])
    assert report["best"] == best and report["variants"][best]["mcnemar"]["p_value"] == 1.0
    table = (tiny_repo / "metrics/compare.md").read_text()
    assert all(f"| {v[0]}.{v[1]} |" in table for v in GRID) and f"{tests['F3']['accuracy']:.4f}" in table
    assert "| A.0 | gray | no | 0.0 | 0 | adam | 0.001 |" in table  # the tiny base lr
    assert json.loads((tiny_repo / "best_model/variant.json").read_text())["variant"] == best
    assert (tiny_repo / "best_model/model.pt").read_bytes() == (tiny_repo / f"models/{best}/model.pt").read_bytes()

    # `dvc plots show` renders the declared plots into one page.
    sh(tiny_repo, "dvc", "plots", "show", "-o", "plots_html")
    page = (tiny_repo / "plots_html/index.html").read_text()
    for name in ("confusion.csv", "confusion_normalized.csv", "roc.csv", "loss.tsv", "val_curves.png",
                 "reliability.png", "F1/robustness.png", "F1/gradcam/deletion.png"):
        assert name in page, name

    # Nothing changed: nothing runs. F.3's learning rate changes: only F.3 and compare run.
    assert ran(sh(tiny_repo, "dvc", "repro", "compare").stdout) == set()
    edit_params(tiny_repo, {"variants.F3.train.lr": 0.0005})
    assert ran(sh(tiny_repo, "dvc", "repro", "compare").stdout) == {"train@F3", "evaluate@F3", "compare"}

    # Experiments (one test with the above: the first build is the slow part, done once).
    sh(tiny_repo, "git", "add", "-A")
    sh(tiny_repo, "git", "commit", "-qm", "baseline")
    experiments_run_and_queue_and_show(tiny_repo)


def wait_for_queue(repo: Path, timeout: float = 600) -> None:
    """`dvc queue start` returns at once; its workers run in the background."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = sh(repo, "dvc", "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            assert "Failed" not in status, status
            return
        time.sleep(2)
    raise AssertionError(f"queue still busy after {timeout}s:\n{status}")


def experiments_run_and_queue_and_show(tiny_repo: Path) -> None:
    out = sh(tiny_repo, "dvc", "exp", "run", "compare", "-n", "f4-low", "-S", "variants.F4.train.lr=0.0003").stdout
    assert ran(out) == {"train@F4", "evaluate@F4", "compare"}, out
    sh(tiny_repo, "dvc", "exp", "run", "compare", "--queue", "-S", "variants.F4.train.lr=0.002,0.0002,0.005")
    sh(tiny_repo, "dvc", "queue", "start", "-j", "2")  # two workers in parallel
    wait_for_queue(tiny_repo)
    rows = json.loads(sh(tiny_repo, "dvc", "exp", "show", "--json").stdout)
    exps = [e for baseline in rows for e in (baseline.get("experiments") or [])]
    lrs = {}
    for e in exps:
        data = e["revs"][0]["data"]
        lrs[data["params"]["params.yaml"]["data"]["variants"]["F4"]["train"]["lr"]] = data
    assert {0.0003, 0.002, 0.0002, 0.005} <= set(lrs), lrs.keys()
    for data in lrs.values():
        assert 0.0 <= data["metrics"]["metrics/F4/test.json"]["data"]["accuracy"] <= 1.0
    md = sh(tiny_repo, "dvc", "exp", "show", "--md").stdout
    assert "f4-low" in md and all(lr in md for lr in ("0.0003", "0.002", "0.0002", "0.005")), md
