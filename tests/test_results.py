"""tools.results: the study's reported numbers beside ours, the targets checked, and no results from a
params.yaml that is not the study's preset."""

from __future__ import annotations

import pytest

from imgstudy import params as P
from imgstudy.errors import UserError
from tools import preset, results


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
    lines = results.reported_table(reported, report(cnn=0.9960, sgd=0.9970))
    assert lines[2] == "| cnn | 0.996 | 0.9960 | 0.995 | yes |"
    assert lines[3] == "| altered | 0.98 | 0.8960 | 0.98 | **no** |"
    assert lines[4] == "| best | - | 0.9970 |  |  |"
    assert lines[5] == "| best optimizer | adam | sgd (0.9970) |  |  |"


@pytest.mark.parametrize("study", [p.stem for p in results.REPORTED.glob("*.yaml")])
def test_reported_rows_name_variants_of_the_preset_grid(study: str) -> None:
    raw = P.yaml_text(preset.render(study))
    reported = P.read_yaml(results.REPORTED / f"{study}.yaml")
    fake = report(**{v: 0.5 + i / 100 for i, v in enumerate(raw["grid"])})
    for row in reported["rows"]:
        results.value(row["ours"], fake)  # a KeyError names a variant the preset does not build
    assert reported["deviations"]


def test_results_refuse_a_params_file_that_is_not_the_preset(tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(preset.render("fashion_mnist"))
    with pytest.raises(UserError, match="is not the 'mnist' preset"):
        results.check_built("mnist", params)
