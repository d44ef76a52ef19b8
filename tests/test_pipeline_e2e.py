"""The real `dvc repro`, `dvc exp run`, `dvc queue` and a teammate's push/pull on a tiny copy of the
study, in a temporary git repo."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, TINY, browser, edit_params, project_env, sh

pytestmark = pytest.mark.heavy  # every test here runs `dvc repro` (conftest runs them first)

# A slice of the A.0-F.4 grid (one unfrozen block, a 10x larger lr): every stage runs per variant the
# same way, so two variants test what ten would (gray inputs: the sperm_morphology preset's build in
# test_presets_e2e; augmentation: test_train). Each stage is a process of several seconds.
GRID = ["F1", "F4"]
PER_VARIANT = [f"{stage}@{v}" for v in GRID for stage in ("train", "evaluate")]


def ran(output: str) -> set[str]:
    """Stages that `dvc repro` ran (it prints "Running stage 'name':")."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def name_of(v: str) -> str:
    return f"{v[0]}.{v[1]}"


def check_variant_outputs(repo: Path, v: str) -> dict:
    test = json.loads((repo / f"metrics/{v}/test.json").read_text())
    assert set(test) >= {
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "roc_auc",
        "parameters",
    }
    assert not {"train_seconds", "latency_ms_b1"} & set(test)  # times are no hashed output
    assert all(0.0 <= test[m] <= 1.0 for m in ("accuracy", "precision_macro", "recall_macro", "f1_macro"))
    classes = json.loads((repo / f"metrics/{v}/classes.json").read_text())["classes"]
    assert sum(classes[str(d)]["support"] for d in range(10)) == test["samples"]
    with open(repo / f"plots/{v}/evaluate/confusion.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == test["samples"]
    assert sum(r["actual"] == r["predicted"] for r in rows) / len(rows) == test["accuracy"]
    rows = (repo / f"dvclive/{v}/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert len(rows) == 1 + TINY["train.epochs"]
    for name in ("confusion.png", "curves.png", "reliability.png", "mistakes.png", "roc.csv", "pr.csv"):
        assert (repo / f"plots/{v}/evaluate/{name}").stat().st_size > 100, name
    robust = json.loads((repo / f"metrics/{v}/robustness.json").read_text())
    assert set(robust["corruptions"]) == {
        "shift",
        "rotate",
        "zoom",
        "contrast",
        "brightness",
        "noise",
        "blur",
        "imperfect",
    }
    assert 0 <= robust["mean_corruption_accuracy"] <= 1 and robust["samples"] == min(100, test["samples"])
    assert (repo / f"plots/{v}/robustness/robustness.png").stat().st_size > 100
    return test


@pytest.mark.timeout(600)  # the whole workflow: repro, report, experiments, a queue, push and pull
def test_grid_repro_compare_experiments_and_a_teammate(tiny_repo: Path, tmp_path: Path) -> None:
    edit_params(tiny_repo, {"grid": GRID})
    sh(tiny_repo, "git", "commit", "-qam", "two variants")
    # The comparison (it needs train and evaluate of each variant), then the report.
    first = sh(tiny_repo, "dvc", "repro", "compare")
    assert ran(first.stdout) == {"download", "preprocess", "split", *PER_VARIANT, "compare"}, first.stdout
    extra = sh(tiny_repo, "dvc", "repro", "report")
    assert ran(extra.stdout) == {"report"}, extra.stdout
    check_report(tiny_repo, tmp_path)
    assert len(list((tiny_repo / "plots/F1/gradcam").glob("class_*.png"))) == 10
    explained = json.loads((tiny_repo / "metrics/F1/explain.json").read_text())
    assert explained["samples"] > 0 and 0 <= explained["deletion_auc"] <= 1

    tests = {v: check_variant_outputs(tiny_repo, v) for v in GRID}
    assert tests["F1"]["parameters"] == tests["F4"]["parameters"]  # same net, one more block trained
    assert tests["F1"]["accuracy"] > 0.2, tests["F1"]  # twice chance after one tiny epoch

    # compare: one row per variant, the same numbers as each variant's own metrics file.
    report = json.loads((tiny_repo / "compare/compare.json").read_text())
    assert list(report["variants"]) == GRID
    for v in GRID:
        for m in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"):
            assert report["variants"][v]["metrics"][m] == tests[v][m]
            lo, hi = report["variants"][v]["ci"][m]
            assert lo <= tests[v][m] <= hi
        robust = json.loads((tiny_repo / f"metrics/{v}/robustness.json").read_text())
        assert report["variants"][v]["robustness"]["mean_corruption_accuracy"] == robust["mean_corruption_accuracy"]
    best = max(GRID, key=lambda v: tests[v]["f1_macro"])
    assert report["best"] == best and report["variants"][best]["mcnemar"]["p_value"] == 1.0
    table = (tiny_repo / "compare/compare.md").read_text()
    assert all(f"| {name_of(v)} |" in table for v in GRID) and f"{tests['F4']['accuracy']:.4f}" in table
    assert "| F.1 | rgb | yes | 0.5 | 1 | adam | 0.001 |" in table  # the study's columns; the tiny base lr
    assert "mean corruption acc" in table and "ms/image" not in table and "train s" not in table
    assert json.loads((tiny_repo / "best_model/variant.json").read_text())["variant"] == best
    assert (tiny_repo / "best_model/model.pt").read_bytes() == (tiny_repo / f"models/{best}/model.pt").read_bytes()

    check_dvc_views(tiny_repo, best)

    # Nothing changed: nothing runs (a changed param re-runs only what reads it: the experiments below).
    assert ran(sh(tiny_repo, "dvc", "repro", "compare").stdout) == set()
    sh(tiny_repo, "git", "add", "-A")
    sh(tiny_repo, "git", "commit", "-qm", "baseline")
    experiments_run_and_queue_and_show(tiny_repo)
    a_teammate_pulls_data_models_and_experiments(tiny_repo, tmp_path)


def check_report(repo: Path, tmp_path: Path) -> None:
    """reports/study.html stands alone (every image inline, nothing fetched) and renders in a browser
    with every variant in its table."""
    page = (repo / "reports/study.html").read_text()
    assert page.count('<img src="data:image/png;base64,') >= 5 and "http" not in page.replace("http-equiv", "")
    from selenium.webdriver.common.by import By

    driver = browser(tmp_path, "1300,2000")
    try:
        driver.get((repo / "reports/study.html").as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "table")[0].find_elements(By.CSS_SELECTOR, "tbody tr")
        assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [name_of(v) for v in GRID]
        loaded = driver.execute_script(
            "return [...document.images].filter(i => i.complete && i.naturalWidth > 0).length"
        )
        assert loaded >= 5
        sections = [h.text for h in driver.find_elements(By.TAG_NAME, "h2")]
        assert {"Comparison", "Robustness", "Where the models look", "Variants", "Data"} <= set(sections)
    finally:
        driver.quit()


def check_dvc_views(repo: Path, best: str) -> None:
    """`dvc plots show` leads with the study (few plots, every variant in the overlaid curves);
    `dvc metrics show` / `dvc exp show` list the compact summary; the detail stays reachable."""
    sh(repo, "dvc", "plots", "show", "-o", "plots_html")
    page = (repo / "plots_html/index.html").read_text()
    titles = re.findall(r'"title": \{"text": "([^"]+)"', page)
    images = re.findall(r'<img src="static/([^"]+)"', page)
    assert titles == [
        "Validation accuracy per epoch",
        "Training accuracy per epoch",
        "Validation loss per epoch",
        "Test metrics with bootstrap intervals",
        "Best variant's confusion matrix",
        "Best variant's ROC",
    ]
    assert len(titles) + len(images) <= 20 and any(i.endswith("robustness.png") for i in images), images
    assert all(f'"variant": "{name_of(v)}"' in page for v in GRID)  # every variant's curve
    metrics = json.loads(sh(repo, "dvc", "metrics", "show", "--json").stdout)
    summary = next(iter(metrics.values()))["data"]["compare/summary.json"]["data"]
    assert summary["best"] == name_of(best) and set(summary) == {"best", "f1_macro", *GRID}
    detail = json.loads(sh(repo, "dvc", "metrics", "show", "metrics/F1/test.json", "--json").stdout)
    assert "log_loss" in next(iter(detail.values()))["data"]["metrics/F1/test.json"]["data"]
    sh(
        repo,
        "dvc",
        "plots",
        "show",
        "plots/F1/evaluate/confusion.csv",
        "--template",
        "confusion",
        "-x",
        "actual",
        "-y",
        "predicted",
        "-o",
        "detail_html",
    )
    assert "confusion.csv" in (repo / "detail_html/index.html").read_text()


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


def experiments_run_and_queue_and_show(repo: Path) -> None:
    """One variant's learning rate re-runs only that variant; two queued experiments run in parallel
    workers (they change only the comparison's resamples, so each runs one stage: the queue is what
    is tested); `dvc exp show` lists all three with their params and metrics."""
    out = sh(repo, "dvc", "exp", "run", "compare", "-n", "f4-low", "-S", "variants.F4.train.lr=0.0003").stdout
    assert ran(out) == {"train@F4", "evaluate@F4", "compare"}, out
    changes = experiment_against_main(repo)
    assert changes["F1"]["difference"] == 0 and changes["F1"]["p_value"] == 1.0  # the same model, from the cache
    assert changes["F4"]["a"] != changes["F4"]["b"] and changes["F4"]["verdict"] in (
        "better",
        "worse",
        "no detectable change",
    )
    sh(repo, "dvc", "exp", "run", "compare", "--queue", "-S", "compare.bootstrap=200,300")
    sh(repo, "dvc", "queue", "start", "-j", "2")  # two workers in parallel
    wait_for_queue(repo)
    rows = json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout)
    exps = [e["revs"][0] for baseline in rows for e in (baseline.get("experiments") or [])]
    runs = {}
    for e in exps:
        params = e["data"]["params"]["params.yaml"]["data"]
        runs[(params["variants"]["F4"]["train"]["lr"], params["compare"]["bootstrap"])] = e
    # Queued experiments start from the workspace, which `dvc exp run` left at f4-low's params.
    assert set(runs) == {(0.0003, 100), (0.0003, 200), (0.0003, 300)}, runs.keys()
    for e in runs.values():
        assert 0.0 <= e["data"]["metrics"]["compare/summary.json"]["data"]["F4"]["accuracy"] <= 1.0
    for bootstrap in (200, 300):
        log = sh(repo, "dvc", "queue", "logs", runs[(0.0003, bootstrap)]["name"]).stdout
        assert ran(log) == {"compare"}, log  # everything else restored from the cache
    md = sh(repo, "dvc", "exp", "show", "--md", "--only-changed").stdout
    assert "f4-low" in md and all(v in md for v in ("0.0003", "200", "300")), md
    header = [c.strip() for c in md.splitlines()[0].strip("|").split("|")]
    assert len(header) <= 40 and "F4.accuracy" in header and "variants.F4.train.lr" in header, header


def experiment_against_main(repo: Path) -> dict[str, dict]:
    """tools.diff resolves the experiment by its name and reads both runs' predictions through DVC."""
    env = {**project_env(), "PYTHONPATH": str(ROOT)}  # the tools of this checkout, the study of the repo
    out = subprocess.run(
        [sys.executable, "-m", "tools.diff", "main", "f4-low", "--json", "--resamples", "200"],
        cwd=repo, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {row["variant"]: row for row in json.loads(out)["rows"]}


def a_teammate_pulls_data_models_and_experiments(repo: Path, tmp_path: Path) -> None:
    """Push data, models, the run cache and an experiment; a clone in another folder pulls them,
    `dvc repro` has nothing to rebuild, and `dvc exp show` lists the experiment."""
    sh(repo, "git", "init", "-q", "--bare", "-b", "main", str(tmp_path / "origin.git"))
    sh(repo, "git", "remote", "add", "origin", str(tmp_path / "origin.git"))
    sh(repo, "dvc", "remote", "add", "-d", "team", str(tmp_path / "dvc-remote"))
    sh(repo, "git", "commit", "-qam", "the team's remote")
    sh(repo, "dvc", "push", "--run-cache")
    sh(repo, "git", "push", "-q", "origin", "main")
    sh(repo, "dvc", "exp", "push", "origin", "f4-low")

    clone = tmp_path / "elsewhere" / "clone"
    sh(tmp_path, "git", "clone", "-q", str(tmp_path / "origin.git"), str(clone))
    sh(clone, "dvc", "pull")
    assert ran(sh(clone, "dvc", "repro", "compare").stdout) == set()
    sh(clone, "dvc", "exp", "pull", "origin", "f4-low")
    rows = json.loads(sh(clone, "dvc", "exp", "show", "--json", "-n", "2").stdout)  # run on the commit before
    names = {e.get("name") for b in rows for e in (b.get("experiments") or [])}
    assert "f4-low" in names, names
