"""tools.results: the study's reported numbers beside ours, the targets checked, and no results from a
params.yaml that is not the study's preset."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import copy_project, edit_params, project_env, sh
from imgstudy.core.errors import UserError
from imgstudy.params import read_yaml, yaml_text
from tools import preset, results, staleness


def report(**accuracies: float) -> dict:
    return {
        "metric": "accuracy",
        "best": max(accuracies, key=accuracies.get),
        "variants": {
            v: {"metrics": {"accuracy": a}, "robustness": {"altered_accuracy": a - 0.1}} for v, a in accuracies.items()
        },
    }


def test_the_table_sets_ours_beside_the_study_and_checks_targets() -> None:
    reported = {
        "rows": [
            {"what": "cnn", "study": 0.996, "ours": "cnn.accuracy", "target": 0.995},
            {"what": "altered", "study": 0.98, "ours": "cnn.altered_accuracy", "target": 0.98},
            {"what": "best", "study": None, "ours": "best.accuracy"},
            {"what": "best optimizer", "study": "adam", "ours": {"best_of": ["cnn", "sgd"]}},
        ]
    }
    for row in reported["rows"]:
        row["source"] = "004 l.1"
    lines = results.reported_table(reported, report(cnn=0.9960, sgd=0.9970))
    assert lines[2] == "| cnn | 0.996 | 0.9960 | 0.995 | yes | 004 l.1 |"
    assert lines[3] == "| altered | 0.98 | 0.8960 | 0.98 | **no** | 004 l.1 |"
    assert lines[4] == "| best | - | 0.9970 |  |  | 004 l.1 |"
    assert lines[5] == "| best optimizer | adam | sgd (0.9970) |  |  | 004 l.1 |"


def test_a_rebuild_says_which_numbers_moved_from_what_to_what(tmp_path) -> None:
    reported = {"rows": [{"what": "altered", "ours": "cnn.altered_accuracy"}, {"what": "b", "ours": {"best_of": []}}]}
    (tmp_path / "compare.json").write_text(json.dumps(report(cnn=0.9953, plain=0.9958)))
    (tmp_path / "README.md").write_text("# Results\n\nBuilt by ...\nfrom commit e5da3b9, on AMD EPYC\n")
    previous = results.previous_build(tmp_path)
    lines = results.moved(previous, report(cnn=0.9964, plain=0.9958, gru=0.9965), reported)
    assert lines[2] == "The previous build of this study (commit e5da3b9) beside this one."
    assert lines[6:10] == [
        "| cnn, accuracy | 0.9953 | 0.9964 |  |",
        "| plain, accuracy | 0.9958 | 0.9958 | unchanged |",
        "| gru, accuracy | - | 0.9965 |  |",
        "| altered | 0.8953 | 0.8964 |  |",
    ]
    assert results.moved(results.previous_build(tmp_path / "none"), report(cnn=0.9), reported) == []


@pytest.mark.parametrize("study", [p.stem for p in results.REPORTED.glob("*.yaml")])
def test_reported_rows_name_variants_of_the_preset_grid(study: str) -> None:
    raw = yaml_text(preset.render(study))
    reported = read_yaml(results.REPORTED / f"{study}.yaml")
    fake = report(**{v: 0.5 + i / 100 for i, v in enumerate(raw["grid"])})
    for row in reported["rows"]:
        results.value(row["ours"], fake)  # a KeyError names a variant the preset does not build
    assert reported["deviations"]


SOURCE = r"^(?P<write_up>\d{3}) l\.\d+(-\d+)?\b.*|^ours\b.*"


@pytest.mark.parametrize("study", [p.stem for p in results.REPORTED.glob("*.yaml")])
def test_every_reported_row_and_deviation_names_its_source(study: str) -> None:
    """A line of the study's own write-up (its number and the line), or "ours": nothing said of a study that
    its write-up does not say."""
    reported = read_yaml(results.REPORTED / f"{study}.yaml")
    assert re.fullmatch(r"\d{3}", reported["write_up"]), reported.get("write_up")
    entries = reported["rows"] + reported["deviations"]
    for entry in entries:
        match = re.match(SOURCE, str(entry.get("source", "")))
        assert match, f"{study}: no source for {entry.get('what') or entry.get('text')!r}"
        assert match["write_up"] in (None, reported["write_up"]), f"{study}: {entry['source']} is another study's"
    assert sum(not str(e["source"]).startswith("ours") for e in entries) >= 3  # the write-up is cited, not only us


def test_results_refuse_a_params_file_that_is_not_the_preset(tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(preset.render("fashion_mnist"))
    with pytest.raises(UserError, match="is not the 'mnist' preset"):
        results.check_built("mnist", params)


def test_the_committed_lock_holds_only_the_stages_of_the_study(tmp_path, monkeypatch) -> None:
    """DVC keeps the entries of stages that left the pipeline: the default study's variants, in a study
    built from a clone of the project, would sit in its results' dvc.lock with the code they last ran."""
    copy_project(tmp_path / "study")
    (tmp_path / "study/params.yaml").write_text(preset.render("mnist"))
    sh(tmp_path / "study", "git", "init", "-q")
    monkeypatch.chdir(tmp_path / "study")
    monkeypatch.setenv("PATH", project_env()["PATH"])  # this interpreter's dvc
    names = results.stage_names()
    grid = yaml_text(preset.render("mnist"))["grid"]
    assert {"download", "compare", "report"} <= names and {f"train@{v}" for v in grid} <= names
    assert "train@F4" not in names and not any(n.startswith("seg_") for n in names), names
    lock = "schema: '2.0'\nstages:\n  train@F4:\n    cmd: old\n    deps:\n    - path: a\n  compare:\n    cmd: now\n"
    kept = results.pipeline_lock(lock, names)
    assert kept == "schema: '2.0'\nstages:\n  compare:\n    cmd: now\n"


@pytest.mark.heavy
def test_the_check_names_the_code_a_study_ran_that_has_changed_since(tmp_path, monkeypatch) -> None:
    """A study built up to split, then its stages/split.py edited: the check names that file for the split
    stage alone (download and preprocess ran other files), and none of the outputs."""
    root = tmp_path / "project"
    copy_project(root)
    edit_params(root, {"preprocess.max_samples": 300, "preprocess.size": 16})
    sh(root, "git", "init", "-q")
    sh(root, "dvc", "repro", "split")
    sh(root, "git", "add", "-A")
    built = tmp_path / "built"
    built.mkdir()
    for name in ("params.yaml", "dvc.lock"):
        (built / name).write_bytes((root / name).read_bytes())
    with (root / "stages" / "split.py").open("a") as f:
        f.write("# edited after the study was built\n")
    monkeypatch.setenv("PATH", project_env()["PATH"])  # this interpreter's dvc
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    stale = staleness.stale_code(built / "params.yaml", built / "dvc.lock", root)
    built_stages = ("download", "preprocess", "split")  # the others were never built: every dep is new to them
    assert {s: paths for s, paths in stale.items() if s in built_stages} == {"split": ["stages/split.py"]}, stale


def test_a_study_whose_params_no_longer_fit_the_pipeline_is_stale(tmp_path, monkeypatch) -> None:
    """results/<study>/params.yaml from before a params key was added: every stage is named stale, with why."""
    root = tmp_path / "project"
    copy_project(root)
    sh(root, "git", "init", "-q")
    sh(root, "git", "add", "-A")
    old = read_yaml(root / "params.yaml")
    del old["paths"]["timings"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(old))
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    monkeypatch.setenv("PATH", project_env()["PATH"])
    stale = staleness.stale_code(tmp_path / "params.yaml", tmp_path / "dvc.lock", root)
    assert list(stale) == ["(every stage)"] and "paths.timings" in stale["(every stage)"][0], stale
