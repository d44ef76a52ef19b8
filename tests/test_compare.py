"""Comparison statistics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imgstudy.evaluation.metrics import summary_metrics
from imgstudy.evaluation.statistics import (
    bootstrap_ci,
    fast_metrics,
    mcnemar,
    mean_ci,
    paired_wilcoxon,
    seed_groups,
    seg_report,
)
from imgstudy.evaluation.tables import (
    column_value,
    display_name,
    seeds_markdown,
    seg_markdown,
    seg_rows,
    table_rows,
    to_csv,
    to_markdown,
)


def probs_for(pred: np.ndarray, k: int) -> np.ndarray:
    p = np.full((len(pred), k), 0.1 / (k - 1))
    p[np.arange(len(pred)), pred] = 0.9
    return p


def test_mcnemar_by_hand() -> None:
    ref = np.array([1, 1, 1, 1, 1, 0, 0, 1, 1, 1], bool)
    other = np.array([0, 0, 0, 0, 1, 1, 0, 1, 1, 1], bool)
    result = mcnemar(ref, other)
    # b = 4 (ref right, other wrong), c = 1; (|4 - 1| - 1)^2 / 5 = 0.8; exact p = 2 * (1 + 5) / 2^5
    assert (result["b"], result["c"]) == (4, 1)
    assert result["statistic"] == pytest.approx(0.8)
    assert result["p_value"] == pytest.approx(0.375)
    assert mcnemar(ref, ref) == {"b": 0, "c": 0, "statistic": 0.0, "p_value": 1.0}


def test_bootstrap_intervals_cover_the_true_accuracy_at_their_confidence() -> None:
    """A classifier that is right with probability 0.8, on 60 simulated test sets of 150 samples:
    a 90% interval must hold 0.8 about 90% of the time (an independent check of the bootstrap)."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(60):
        y = rng.integers(0, 3, 150)
        right = rng.random(150) < 0.8
        pred = np.where(right, y, (y + 1) % 3)
        lo, hi = bootstrap_ci(y, probs_for(pred, 3), resamples=300, confidence=0.9, seed=int(rng.integers(1 << 30)))[
            "accuracy"
        ]
        covered += lo <= 0.8 <= hi
    assert 0.78 <= covered / 60 <= 0.98, covered  # 90% nominal; binomial spread over 60 sets


def test_bootstrap_accuracy_interval_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    pred = np.where(np.arange(400) % 4 == 0, (y + 1) % 3, y)  # exactly 75% right
    ci = bootstrap_ci(y, probs_for(pred, 3), resamples=1000, confidence=0.95, seed=1)
    half = 1.96 * math.sqrt(0.75 * 0.25 / 400)  # 0.0424
    assert ci["accuracy"][0] == pytest.approx(0.75 - half, abs=0.01)
    assert ci["accuracy"][1] == pytest.approx(0.75 + half, abs=0.01)
    perfect = bootstrap_ci(y, probs_for(y, 3), resamples=50, confidence=0.95, seed=1)
    assert perfect["accuracy"] == (1.0, 1.0) and perfect["f1_macro"] == (1.0, 1.0)


def test_table_cells() -> None:
    augment = {"rotation": 0, "zoom": 0.0, "fill": "reflect", "policy": "none"}
    params = {"train": {"channels": "gray", "augment": augment, "lr": 0.001, "flag": True}}
    assert column_value(params, "train.channels") == "gray"
    assert column_value(params, "train.augment") == "no"  # a fill says how a shift fills, not that there is one
    params["train"]["augment"]["zoom"] = 0.1
    assert column_value(params, "train.augment") == "yes"
    assert column_value(params, "train.lr") == "0.001" and column_value(params, "train.flag") == "yes"
    assert [display_name(v) for v in ("A0", "F12", "mnist_cnn")] == ["A.0", "F.12", "mnist_cnn"]


@pytest.mark.parametrize("k", [2, 3, 10])
def test_fast_metrics_equal_scikit_learn(k: int) -> None:
    rng = np.random.default_rng(k)
    for n in (7, 50, 300):
        y = rng.integers(0, k, n)
        probs = rng.integers(1, 4, (n, k)).astype(float)  # few distinct values: ties AUC must handle
        probs /= probs.sum(1, keepdims=True)
        fast, reference = fast_metrics(y, probs), summary_metrics(y, probs)
        for name, value in reference.items():
            assert fast[name] == pytest.approx(value, nan_ok=True), (name, n)


def test_variants_that_differ_only_in_seed_are_summarized_across_seeds() -> None:
    from imgstudy.evaluation.statistics import seed_groups
    from imgstudy.evaluation.tables import seeds_markdown

    def params(seed: int, lr: float) -> dict:
        return {"base": {"seed": seed, "device": "cpu"}, "train": {"lr": lr}}

    resolved = {"F0": params(1, 1e-4), "F0s2": params(2, 1e-4), "F0s3": params(3, 1e-4), "F4": params(1, 1e-3)}
    metrics = {"F0": {"accuracy": 0.8}, "F0s2": {"accuracy": 0.9}, "F0s3": {"accuracy": 0.7}, "F4": {"accuracy": 0.5}}
    groups = seed_groups(resolved, metrics)
    assert list(groups) == ["F0"]  # F4 differs in lr: not a seed of F0
    g = groups["F0"]
    assert g["variants"] == ["F0", "F0s2", "F0s3"] and g["seeds"] == [1, 2, 3]
    assert g["accuracy"]["mean"] == pytest.approx(0.8) and g["accuracy"]["std"] == pytest.approx(0.1)
    assert "| F.0 | F.0, F0s2, F0s3 | 1, 2, 3 | 0.8000 ± 0.1000 |" in seeds_markdown(groups)


def variant_row(acc: float, **extra: dict) -> dict:
    metrics = {m: acc for m in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")}
    return {
        "columns": {"Model": "cnn"},
        "metrics": {**metrics, "parameters": 1234567, **extra.get("metrics", {})},
        "ci": {m: (acc - 0.01, acc + 0.02) for m in metrics},
        "mcnemar": {"p_value": 0.0123456},
        **{k: v for k, v in extra.items() if k != "metrics"},
    }


def test_the_comparison_table_shows_each_variant_and_only_the_extras_someone_has() -> None:
    report = {
        "best": "A1",
        "variants": {
            "A0": variant_row(0.5, robustness={"mean_corruption_accuracy": 0.25}),
            "A1": variant_row(0.75, metrics={"val_acc_mean": 0.7, "val_acc_std": 0.05}),
        },
    }
    header, rows = table_rows(report, {"Model": "train.model"})
    assert header == [
        "variant",
        "Model",
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "roc_auc",
        "k-fold val acc",
        "mean corruption acc",
        "parameters",
        "p vs A.1",
    ]  # fmt: skip; no timings: they are no hashed output (the table is one)
    interval = "0.5000 [0.4900, 0.5200]"
    assert rows[0] == ["A.0", "cnn", *[interval] * 5, "", "0.2500", "1,234,567", "0.0123"]
    assert rows[1][-4:] == ["0.7000 ± 0.0500", "", "1,234,567", "best"]
    md = to_markdown(header, rows).splitlines()
    assert md[1] == "|" + "---|" * len(header) and md[2].startswith("| A.0 | cnn | 0.5000 [0.4900, 0.5200] |")
    assert to_csv(header, rows).splitlines()[1].startswith("A.0,cnn,")


def test_mean_ci_drops_undefined_scores_and_matches_the_normal_interval() -> None:
    assert mean_ci(np.array([0.5, np.nan, 0.5]), 100, 0.95, 0) == (0.5, 0.5)
    assert all(math.isnan(x) for x in mean_ci(np.array([np.nan]), 100, 0.95, 0))
    assert mean_ci(np.array([0.7, np.nan]), 100, 0.95, 0) == (0.7, 0.7)  # one defined score: its own interval
    scores = np.random.default_rng(0).binomial(1, 0.3, 400).astype(float)
    lo, hi = mean_ci(scores, 4000, 0.95, seed=1)
    half = 1.96 * math.sqrt(scores.mean() * (1 - scores.mean()) / len(scores))
    assert lo == pytest.approx(scores.mean() - half, abs=0.006) and hi == pytest.approx(scores.mean() + half, abs=0.006)
    lo50, hi50 = mean_ci(scores, 4000, 0.5, seed=1)
    assert lo < lo50 < scores.mean() < hi50 < hi


def test_paired_wilcoxon_is_scipys_on_the_defined_pairs() -> None:
    from scipy.stats import wilcoxon

    a = np.array([0.9, 0.8, 0.7, 0.95, 0.6, 0.85, 0.75, 0.9])
    b = a - np.array([0.1, 0.05, 0.2, -0.02, 0.15, 0.1, 0.05, 0.12])
    assert paired_wilcoxon(a, b) == pytest.approx(wilcoxon(a - b).pvalue) and paired_wilcoxon(a, b) < 0.05
    assert paired_wilcoxon(a, a) == 1.0
    with_nan = paired_wilcoxon(np.append(a, np.nan), np.append(b, 0.5))
    assert with_nan == pytest.approx(paired_wilcoxon(a, b))


def test_the_segmentation_table_ranks_by_dice_with_intervals_and_paired_tests() -> None:
    rng = np.random.default_rng(0)
    good = {"dice": rng.uniform(0.8, 1.0, 30), "iou": rng.uniform(0.7, 0.9, 30), "hd95": np.full(30, 2.0)}
    poor = {"dice": good["dice"] - 0.2, "iou": good["iou"] - 0.2, "hd95": np.full(30, np.nan)}
    report = seg_report({"U0": poor, "U1": good}, resamples=200, confidence=0.9, seed=0)
    assert report["best"] == "U1" and report["variants"]["U1"]["p_value"] == 1.0
    u0 = report["variants"]["U0"]
    assert u0["dice"]["mean"] == pytest.approx(good["dice"].mean() - 0.2) and u0["images"] == 30
    assert u0["p_value"] < 1e-5 and math.isnan(u0["hd95"]["mean"])
    lo, hi = report["variants"]["U1"]["dice"]["ci"]
    assert lo < good["dice"].mean() < hi and report["variants"]["U1"]["hd95"] == {"mean": 2.0, "ci": (2.0, 2.0)}
    header, rows = seg_rows(report)
    assert header[-1] == "p vs U.1" and rows[1][3] == "2.00 [2.00, 2.00]" and rows[1][-1] == "best"
    assert rows[0][1].startswith(f"{u0['dice']['mean']:.4f} [") and rows[0][4] == "30"
    md = seg_markdown(report)
    assert md.startswith("Segmentation, best by Dice: U.1. Brackets: 90% bootstrap") and "(200 resamples)" in md


def test_mcnemar_statistic_and_exact_p_value_by_hand() -> None:
    ref = np.array([True] * 5 + [False] + [True] * 4)
    other = np.array([False] * 5 + [True] + [True] * 4)  # b = 5 (ref right only), c = 1
    out = mcnemar(ref, other)
    assert (out["b"], out["c"], out["statistic"]) == (5, 1, pytest.approx((4 - 1) ** 2 / 6))
    assert out["p_value"] == pytest.approx(2 * 7 / 64)  # P(b <= 1 or b >= 5 | n = 6, 1/2) = 14/64
    tie = mcnemar(np.array([True, True, False, False]), np.array([False, False, True, True]))  # b = c = 2
    assert tie["statistic"] == pytest.approx(0.25) and tie["p_value"] == 1.0


def test_switch_groups_and_booleans_read_yes_or_no() -> None:
    params = {"train": {"augment": {"policy": "none", "rotation": 0}, "flip": {"policy": "none", "hflip": True}}}
    params["train"]["bn"], params["train"]["ema"] = False, True
    cells = [column_value(params, f"train.{k}") for k in ("augment", "flip", "bn", "ema")]
    assert cells == ["no", "yes", "no", "yes"]


def test_markdown_table_text_exactly() -> None:
    assert to_markdown(["a", "b"], [["1", "2"], ["3", "4"]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"
    assert display_name("cnn2") == "cnn.2" and display_name("A0") == "A.0" and display_name("base") == "base"


def test_seed_groups_pair_configurations_that_differ_only_in_seed() -> None:
    def variant(seed: int, lr: float, order: bool = False) -> dict:
        train = {"lr": lr, "epochs": 2}
        return {"train": dict(reversed(train.items())) if order else train, "base": {"seed": seed}}

    resolved = {
        "a": variant(1, 0.1),
        "b": variant(2, 0.1, order=True),  # same configuration, keys in another order
        "alone": variant(1, 0.5),
        "c": variant(1, 0.9),
        "d": variant(5, 0.9),
        "e": variant(6, 0.9),
    }
    metrics = {n: {"accuracy": acc} for n, acc in zip(resolved, (0.8, 0.9, 0.5, 0.6, 0.7, 0.8))}
    groups = seed_groups(resolved, metrics)
    assert list(groups) == ["a", "c"]
    assert groups["a"]["variants"] == ["a", "b"] and groups["a"]["seeds"] == [1, 2]
    assert groups["c"]["accuracy"] == {"mean": pytest.approx(0.7), "std": pytest.approx(0.1)}
    assert seeds_markdown(groups) == (
        "\n\nAcross seeds (variants identical but for base.seed): mean ± sample std.\n\n"
        "| configuration | variants | seeds | accuracy |\n|---|---|---|---|\n"
        "| a | a, b | 1, 2 | 0.8500 ± 0.0707 |\n| c | c, d, e | 1, 5, 6 | 0.7000 ± 0.1000 |\n"
    )
    assert seeds_markdown({}) == ""


def test_a_setting_the_variants_model_does_not_read_reads_a_dash(tmp_path) -> None:
    """The study table of a grid mixing the baseline CNN and a backbone: the CNN's widths are '-' on the
    backbone's row and the backbone's unfrozen blocks and fine-tuning epochs are '-' on the CNN's, not
    the defaults that neither model reads."""
    import json

    from conftest import ROOT
    from imgstudy.params import read_yaml, resolve
    from imgstudy.pipeline import compare as stage

    raw = read_yaml(ROOT / "params.yaml")
    raw["variants"] = {"cnn": {"train": {"model": "cnn"}}, "backbone": {"train": {"model": "mobilenet_v2"}}}
    raw["grid"], raw["search"]["variant"] = ["cnn", "backbone"], "cnn"
    raw["compare"].update(
        bootstrap=10,
        columns={
            "Model": "train.model",
            "Widths": "train.cnn.widths",
            "Unfrozen": "train.transfer.unfreeze_blocks",
            "Fine-tuning": "train.finetune.epochs",
            "lr": "train.lr",
        },
    )
    y = np.array([0, 1, 0, 1])
    for name in raw["grid"]:
        probs = probs_for(np.array([0, 1, 1, 1]), 2)
        np.savez(
            tmp_path / f"{name}.npz",
            y_true=y,
            probs=probs,
            classes=np.array(["a", "b"]),
            summary=json.dumps(summary_metrics(y, probs)),
            roc=np.array([[0.0, 0.0], [1.0, 1.0]]),
        )
    report, _ = stage.classification(resolve(raw), tmp_path)
    rows = {name: v["columns"] for name, v in report["variants"].items()}
    assert rows == {
        "cnn": {"Model": "cnn", "Widths": "[32, 64, 64, 64]", "Unfrozen": "-", "Fine-tuning": "-", "lr": "0.0001"},
        "backbone": {"Model": "mobilenet_v2", "Widths": "-", "Unfrozen": "0", "Fine-tuning": "0", "lr": "0.0001"},
    }


def test_a_class_predicted_or_present_once_counts_in_precision_and_recall() -> None:
    # class 1: predicted once and right (precision 1), present once (recall 1); class 2: never predicted
    y, pred = np.array([0, 0, 1, 2]), np.array([0, 0, 1, 0])
    fast, reference = fast_metrics(y, probs_for(pred, 3)), summary_metrics(y, probs_for(pred, 3))
    assert fast["precision_macro"] == pytest.approx((2 / 3 + 1 + 0) / 3) == reference["precision_macro"]
    assert fast["recall_macro"] == pytest.approx((1 + 1 + 0) / 3) == reference["recall_macro"]


def test_intervals_are_reproducible_from_their_seed() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 60)
    probs = probs_for(np.where(rng.random(60) < 0.7, y, (y + 1) % 3), 3)
    scores = rng.random(60)
    assert bootstrap_ci(y, probs, 200, 0.95, seed=5) == bootstrap_ci(y, probs, 200, 0.95, seed=5)
    assert bootstrap_ci(y, probs, 200, 0.95, seed=5) != bootstrap_ci(y, probs, 200, 0.95, seed=6)
    assert mean_ci(scores, 200, 0.95, 5) == mean_ci(scores, 200, 0.95, 5) != mean_ci(scores, 200, 0.95, 6)
    per_image = {"U0": {"dice": scores, "iou": scores / 2, "hd95": scores * 10}}
    assert seg_report(per_image, 200, 0.95, 5) == seg_report(per_image, 200, 0.95, 5)


def test_resamples_draw_every_test_sample() -> None:
    # Two samples, one right: resamples hold 0, 1 or 2 right ones, so the 95% interval is all of [0, 1].
    y = np.array([0, 1])
    assert bootstrap_ci(y, probs_for(np.array([0, 0]), 2), 400, 0.95, seed=0)["accuracy"] == (0.0, 1.0)
    assert mean_ci(np.array([1.0, 0.0]), 400, 0.95, seed=0) == (0.0, 1.0)


def test_a_50_percent_interval_holds_the_middle_half_of_the_resampled_means() -> None:
    # 50 of 100 right: the resampled mean is Binomial(100, 1/2) / 100, its quartiles 0.47 and 0.53
    # (the normal approximation: 0.5 -/+ 0.674 * 0.05 = 0.466, 0.534).
    scores = np.tile([1.0, 0.0], 50)
    assert mean_ci(scores, 4000, 0.5, seed=2) == (pytest.approx(0.468, abs=0.006), pytest.approx(0.532, abs=0.006))
    y = np.zeros(100, int)
    acc = bootstrap_ci(y, probs_for(1 - scores.astype(int), 2), 4000, 0.5, seed=2)["accuracy"]
    assert acc == (pytest.approx(0.468, abs=0.006), pytest.approx(0.532, abs=0.006))


def test_the_segmentation_table_text_for_a_best_that_is_not_last_by_name() -> None:
    rng = np.random.default_rng(1)
    good = {"dice": rng.uniform(0.8, 1.0, 20), "iou": rng.uniform(0.7, 0.9, 20), "hd95": np.full(20, 3.0)}
    poor = {k: v - 0.1 if k != "hd95" else v for k, v in good.items()}
    report = seg_report({"U0": good, "U1": poor}, resamples=100, confidence=0.95, seed=0)
    assert report["best"] == "U0"
    header, rows = seg_rows(report)
    assert header == ["variant", "Dice", "IoU", "HD95 (px)", "test images", "p vs U.0"]
    assert rows[0][-1] == "best" and rows[1][-1] == f"{report['variants']['U1']['p_value']:.3g}" != "best"
    caption, table = seg_markdown(report).split("\n\n")
    assert caption.endswith("last column: Wilcoxon signed-rank test of per-image Dice against the best.")
    assert table == to_markdown(header, rows)
