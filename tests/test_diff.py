"""tools.diff's statistics against hand computations; runs on other test images refused. (Experiments
resolved by name through a real `dvc exp run`: tests/test_pipeline_e2e.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from conftest import ROOT
from imgstudy.core.errors import UserError
from imgstudy.evaluation.paired import holm, paired_difference, seed_mean_difference, verdict
from imgstudy.params import read_yaml, resolve
from tools import diff


def one_hot(pred: np.ndarray, k: int = 3) -> np.ndarray:
    probs = np.full((len(pred), k), 0.1 / (k - 1))
    probs[np.arange(len(pred)), pred] = 0.9
    return probs


def test_identical_predictions_differ_by_zero_with_p_one() -> None:
    y = np.arange(60) % 3
    probs = one_hot(np.where(np.arange(60) % 4 == 0, (y + 1) % 3, y))
    row = paired_difference(y, probs, probs.copy(), "accuracy", 200, 0.95, seed=0)
    assert row["difference"] == 0 and row["interval"] == (0.0, 0.0) and row["p_value"] == 1.0
    assert verdict({**row, "p_adjusted": 1.0}, 0.05) == "no detectable change"


def test_a_known_discordant_table_gives_the_exact_binomial_p() -> None:
    """A right and B wrong on 2 images, the reverse on 8, both right on 90: p = 2 P(X <= 2 | 10, 1/2)."""
    y = np.zeros(100, int)
    pred_a, pred_b = np.zeros(100, int), np.zeros(100, int)
    pred_b[:2] = 1  # A right, B wrong
    pred_a[2:10] = 1  # A wrong, B right
    row = paired_difference(y, one_hot(pred_a), one_hot(pred_b), "accuracy", 500, 0.95, seed=1)
    assert row["p_value"] == pytest.approx(112 / 1024) == pytest.approx(binomtest(2, 10, 0.5).pvalue)
    assert row["a"] == 0.92 and row["b"] == 0.98 and row["difference"] == pytest.approx(0.06)
    low, high = row["interval"]
    assert low <= 0.06 <= high and "b=2, c=8" in row["test"]


def test_holm_against_a_worked_example() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone: 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []  # 0.5 x 2 = 1; 0.9 x 1, raised to 1


def test_a_clear_gain_is_better_and_the_verdict_needs_both_the_p_and_the_interval() -> None:
    y = np.arange(300) % 3
    worse = one_hot(np.where(np.arange(300) % 2 == 0, (y + 1) % 3, y))  # half wrong
    row = paired_difference(y, worse, one_hot(y), "accuracy", 500, 0.95, seed=2)
    assert verdict({**row, "p_adjusted": row["p_value"]}, 0.05) == "better"
    assert verdict({**row, "difference": -row["difference"], "interval": (-0.6, -0.4), "p_adjusted": 1e-9}, 0.05) == (
        "worse"
    )
    assert verdict({**row, "p_adjusted": 0.2}, 0.05) == "no detectable change"


def test_seed_groups_compare_means_and_the_interval_holds_the_seed_spread() -> None:
    y = np.arange(200) % 2
    rng = np.random.default_rng(0)
    runs = [one_hot(np.where(rng.random(200) < rate, 1 - y, y), 2) for rate in (0.1, 0.3, 0.2)]
    row = seed_mean_difference(y, runs, runs, "accuracy", 400, 0.95, seed=3)
    assert row["difference"] == 0 and row["seeds"] == (3, 3)
    assert row["interval"][0] < -0.03 and row["interval"][1] > 0.03  # seeds drawn apart: wider than the images' alone
    single = paired_difference(y, runs[0], runs[0], "accuracy", 400, 0.95, seed=3)
    assert single["interval"] == (0.0, 0.0)


def run(name: str, store_md5: str, splits_md5: str, labels: np.ndarray) -> diff.Run:
    params = resolve(read_yaml(ROOT / "params.yaml"))
    lock = {
        "preprocess": {"outs": [{"path": params.paths.store, "md5": store_md5}]},
        "split": {"outs": [{"path": params.paths.splits, "md5": splits_md5}]},
    }
    predictions = {v: {"y_true": labels, "probs": one_hot(labels % 3)} for v in params.grid}
    return diff.Run(name, params, lock, predictions)


def test_runs_on_other_test_images_are_refused_naming_what_differs() -> None:
    labels = np.arange(30) % 3
    with pytest.raises(UserError, match=r"main and exp did not test on the same images: data/splits differs"):
        diff.same_test_images(run("main", "a.dir", "b.dir", labels), run("exp", "a.dir", "c.dir", labels))
    with pytest.raises(UserError, match=r"data/store differs"):
        diff.same_test_images(run("main", "a.dir", "b.dir", labels), run("exp", "z.dir", "b.dir", labels))
    with pytest.raises(UserError, match="on the same labels"):
        diff.same_test_images(run("main", "a.dir", "b.dir", labels), run("exp", "a.dir", "b.dir", labels[::-1].copy()))
    rows = diff.compare(run("main", "a", "b", labels), run("exp", "a", "b", labels), "f1_macro", 50, 0.95, 0.05, 0)
    assert [r["variant"] for r in rows] == resolve(read_yaml(ROOT / "params.yaml")).grid
    assert all(r["difference"] == 0 and r["verdict"] == "no detectable change" for r in rows)
