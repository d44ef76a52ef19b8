"""Evaluation metrics against scikit-learn and hand computation; the binary threshold comes from validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from imgstudy.evaluation.inference import predict_probs
from imgstudy.evaluation.inference import views as _views
from imgstudy.evaluation.metrics import confused_pairs, detailed_metrics, expected_calibration_error, youden_threshold
from imgstudy.training.inputs import Inputs

RNG = np.random.default_rng(3)
Y3 = RNG.integers(0, 3, 200)
P3 = RNG.dirichlet(np.ones(3), 200)
P3[np.arange(200)[:120], Y3[:120]] += 1.5  # a better-than-chance classifier
P3 /= P3.sum(1, keepdims=True)


def test_detailed_metrics_equal_scikit_learn() -> None:
    m = detailed_metrics(Y3, P3)
    pred = P3.argmax(1)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(Y3, pred))
    assert m["f1_weighted"] == pytest.approx(skm.f1_score(Y3, pred, average="weighted"))
    assert m["precision_weighted"] == pytest.approx(skm.precision_score(Y3, pred, average="weighted"))
    assert m["recall_weighted"] == pytest.approx(skm.recall_score(Y3, pred, average="weighted"))
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(np.eye(3)[Y3], P3, average="macro"))
    assert m["log_loss"] == pytest.approx(skm.log_loss(Y3, P3))
    assert m["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(Y3, pred))
    assert "sensitivity" not in m


def test_average_precision_by_hand_binary_and_with_an_absent_class() -> None:
    # Binary AP = sum over the ranked positives of precision at each: scores 0.9(+) 0.8(-) 0.7(+) 0.2(-)
    # -> precision 1/1 at the first positive, 2/3 at the second: AP = (1 + 2/3) / 2
    y = np.array([1, 0, 1, 0])
    p1 = np.array([0.9, 0.8, 0.7, 0.2])
    assert detailed_metrics(y, np.stack([1 - p1, p1], 1))["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    # Three classes, class 2 absent from the labels: the macro mean over the two present classes only.
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.3, 0.6, 0.1], [0.6, 0.3, 0.1]])
    ap0 = (1 + 0.5) / 2  # class 0 ranks 0.7(+) 0.6(-) 0.3(-) 0.2(+): precision 1 and 2/4
    ap1 = (1 + 2 / 3) / 2  # class 1 ranks 0.6(+) 0.5(-) 0.3(+) 0.2(-): precision 1 and 2/3
    assert detailed_metrics(y, probs)["average_precision"] == pytest.approx((ap0 + ap1) / 2)


def test_expected_calibration_error_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.65, 0.35], [0.3, 0.7]])
    # bins (15 equal): 0.95 -> both right: |1 - 0.95| on 2 samples; 0.65 wrong: |0 - 0.65|; 0.7 right: |1 - 0.7|
    expected = (2 * 0.05 + 0.65 + 0.3) / 4
    assert expected_calibration_error(y, probs) == pytest.approx(expected)


def test_binary_threshold_is_chosen_on_validation_and_applied_to_test() -> None:
    y_val = np.array([0, 0, 0, 0, 1, 1, 1])
    p_val = np.array([0.1, 0.2, 0.25, 0.35, 0.3, 0.6, 0.9])
    # J = sensitivity + specificity - 1 at each candidate: 0.9 -> 1/3, 0.6 -> 2/3, 0.35 -> 2/3 - 1/4,
    # 0.3 -> 1 - 1/4 = 3/4 (the unique best), 0.25 -> 1 - 2/4
    threshold = youden_threshold(y_val, p_val)
    assert threshold == pytest.approx(0.3)
    y_test = np.array([0, 0, 1, 1, 1])
    p_test = np.array([0.25, 0.4, 0.31, 0.29, 0.8])
    m = detailed_metrics(y_test, np.stack([1 - p_test, p_test], 1), threshold)
    assert m["threshold"] == threshold
    assert m["sensitivity"] == pytest.approx(2 / 3) and m["specificity"] == pytest.approx(1 / 2)


def test_confused_pairs_are_the_most_frequent_mistakes() -> None:
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    pred = np.array([1, 1, 0, 0, 1, 0, 1, 2])
    pairs = confused_pairs(y, pred, ["a", "b", "c"], top=2)
    assert pairs[0] == {"actual": "a", "predicted": "b", "count": 2} and pairs[1]["count"] == 1


def test_tta_views_and_averaging() -> None:
    x = torch.rand(2, 1, 8, 8)
    assert len(_views(x, "none")) == 1 and torch.equal(_views(x, "none")[0], x)
    flip = _views(x, "hflip")
    assert len(flip) == 2 and torch.equal(flip[1][..., :, 0], x[..., :, 7])  # column 0 of the mirror = column 7
    shifted = _views(x, "hflip_shift")
    assert len(shifted) == 6 and torch.equal(shifted[1], flip[1])
    # 2 px down, up, right, left: each moves pixel (3, 3) by 2 along one axis (with wrap-around)
    for view, (r, c) in zip(shifted[2:], ((5, 3), (1, 3), (3, 5), (3, 1))):
        assert torch.equal(view[..., r, c], x[..., 3, 3])
    # A model that only sees the left half: flipping changes its answer, and TTA averages both.
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0, :].view(8, 8)[:, :4] = 1.0
        model[1].bias.zero_()
    images = torch.zeros(1, 8, 8, 1, dtype=torch.uint8)
    images[0, :, :4] = 255
    inputs = Inputs.fit(images, "native", "none", False)
    plain = predict_probs(model, images, inputs, 4, torch.device("cpu"))
    tta = predict_probs(model, images, inputs, 4, torch.device("cpu"), tta="hflip")
    flipped = predict_probs(model, images.flip(2), inputs, 4, torch.device("cpu"))
    assert torch.allclose(tta, (plain + flipped) / 2)


def test_per_class_report_confusion_rows_and_matrix(tmp_path) -> None:
    from imgstudy.evaluation.metrics import per_class_report, plot_confusion, write_confusion_csv

    y_true, y_pred = np.array([0, 0, 1, 1, 2, 2, 2]), np.array([0, 1, 1, 1, 2, 0, 2])
    classes = ["a", "b", "c"]
    report = per_class_report(y_true, y_pred, classes)
    assert report["b"]["precision"] == pytest.approx(2 / 3) and report["c"]["recall"] == pytest.approx(2 / 3)
    assert report["a"]["support"] == 2 and report["macro avg"]["f1-score"] == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro")
    )
    write_confusion_csv(tmp_path / "c.csv", y_true, y_pred, classes)
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0] == "actual,predicted" and lines[2] == "a,b" and lines[6] == "c,a" and len(lines) == 8
    matrix = plot_confusion(tmp_path / "c.png", y_true, y_pred, classes + ["never"])
    assert matrix.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    assert (tmp_path / "c.png").stat().st_size > 5000


def test_a_diverged_model_is_scored_at_chance_and_counted(capsys) -> None:
    from imgstudy.evaluation.metrics import summary_metrics
    from imgstudy.pipeline.evaluate import uniform_where_not_finite

    probs = np.array([[0.7, 0.2, 0.1], [np.nan, np.nan, np.nan], [0.1, np.inf, 0.0], [0.1, 0.1, 0.8]])
    fixed, bad = uniform_where_not_finite(probs, "exponential")
    assert bad == 2 and fixed[1].tolist() == fixed[2].tolist() == [1 / 3] * 3 and fixed[3].tolist() == [0.1, 0.1, 0.8]
    assert "exponential: 2 of 4 outputs are not finite" in capsys.readouterr().err
    scores = summary_metrics(np.array([0, 1, 2, 2]), fixed)  # no NaN reaches scikit-learn
    assert scores["accuracy"] == 0.5 and np.isfinite(scores["roc_auc"])
    assert uniform_where_not_finite(probs[[0, 3]], "ok") == (pytest.approx(probs[[0, 3]]), 0)


def ece_reference(y: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """The definition, bin by bin: [b/bins, (b+1)/bins), the last bin closed at 1."""
    conf, correct = probs.max(1), probs.argmax(1) == y
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = (conf >= lo) & ((conf < hi) if b < bins - 1 else (conf <= hi))
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return total


def test_expected_calibration_error_matches_the_definition_over_every_bin() -> None:
    rng = np.random.default_rng(7)
    conf = rng.uniform(0.06, 1.0, 600)  # 20 classes: the top class at conf, the rest share what is left
    top = rng.integers(0, 20, 600)
    probs = np.repeat(((1 - conf) / 19)[:, None], 20, 1)
    probs[np.arange(600), top] = conf
    y = np.where(rng.random(600) < conf, top, (top + 1) % 20)  # right about as often as confident
    assert np.histogram(probs.max(1), bins=15, range=(0, 1))[0].min() > 0  # every bin, the first included
    assert expected_calibration_error(y, probs) == pytest.approx(ece_reference(y, probs), abs=1e-12)


def test_binary_sensitivity_and_specificity_at_the_threshold_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 1])
    p1 = np.array([0.9, 0.4, 0.6, 0.1, 0.5])  # 0.5 at the threshold counts as positive
    m = detailed_metrics(y, np.stack([1 - p1, p1], 1), threshold=0.5)
    assert (m["threshold"], m["sensitivity"], m["specificity"]) == (0.5, pytest.approx(2 / 3), 0.5)
    one_each = detailed_metrics(np.array([1, 0]), np.array([[0.1, 0.9], [0.8, 0.2]]), threshold=0.5)
    assert (one_each["sensitivity"], one_each["specificity"]) == (1.0, 1.0)


@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
def test_detailed_metrics_keys_clipped_log_loss_and_zero_division() -> None:
    y = np.array([0, 1, 0])
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])  # class 1 never predicted, its sample at p = 0
    m = detailed_metrics(y, probs)
    assert set(m) == {
        "balanced_accuracy",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
        "average_precision",
        "log_loss",
        "cohen_kappa",
        "ece",
    }
    assert m["log_loss"] == pytest.approx(-np.log(1e-7) / 3)  # p = 0 clipped to 1e-7, not to float eps
    assert m["precision_weighted"] == pytest.approx(2 / 3 * 2 / 3)  # the undefined precision counts 0
    # a class with a single sample is still one of the classes averaged
    y3 = np.array([0, 0, 1, 2, 2])
    p3 = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    expected = skm.average_precision_score(np.eye(3)[y3], p3, average="macro")
    assert detailed_metrics(y3, p3)["average_precision"] == pytest.approx(expected)


def test_youden_threshold_never_exceeds_one_and_auc_is_nan_with_one_class() -> None:
    from imgstudy.evaluation.metrics import roc_auc

    # a model that is always wrong: no threshold beats predicting nothing positive (J = 0 at +inf)
    assert youden_threshold(np.array([0, 1]), np.array([0.9, 0.1])) == 1.0
    assert np.isnan(roc_auc(np.array([1, 1, 1]), np.array([[0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])))


def test_confused_pairs_name_the_right_classes_when_one_class_is_absent() -> None:
    y_true = np.array([0, 0, 0, 0, 2, 2, 2, 0])
    y_pred = np.array([3, 3, 3, 2, 0, 0, 2, 0])  # class 1 absent from both; 3 only predicted
    pairs = confused_pairs(y_true, y_pred, ["a", "b", "c", "d"])
    assert pairs == [
        {"actual": "a", "predicted": "d", "count": 3},
        {"actual": "c", "predicted": "a", "count": 2},
        {"actual": "a", "predicted": "c", "count": 1},
    ]


def test_per_class_report_lists_absent_classes_with_zero_scores() -> None:
    from imgstudy.evaluation.metrics import per_class_report

    report = per_class_report(np.array([0, 0, 1]), np.array([0, 0, 0]), ["a", "b", "c"])
    assert report["b"]["precision"] == 0.0 and report["b"]["recall"] == 0.0 and report["b"]["support"] == 1
    assert report["c"]["support"] == 0 and report["c"]["f1-score"] == 0.0


def test_detailed_metrics_report_the_ece_and_the_positive_class_ap_of_a_binary_task() -> None:
    ece = expected_calibration_error(Y3, P3)
    assert detailed_metrics(Y3, P3)["ece"] == pytest.approx(ece) and ece > 0.05
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 60)
    p1 = np.clip(0.35 + 0.3 * y + rng.normal(0, 0.25, 60), 0.01, 0.99)
    positive_ap = skm.average_precision_score(y, p1)
    both = skm.average_precision_score(np.eye(2)[y], np.stack([1 - p1, p1], 1), average="macro")
    assert abs(positive_ap - both) > 0.01  # the two readings differ here: the positive class's is reported
    assert detailed_metrics(y, np.stack([1 - p1, p1], 1))["average_precision"] == pytest.approx(positive_ap)


def test_the_two_lowest_confidence_bins_are_kept_apart() -> None:
    # 20 classes: one sample at confidence 0.06 (bin 0) and right, one at 0.10 (bin 1) and wrong.
    # Apart: (|1 - 0.06| + |0 - 0.10|) / 2 = 0.52; merged they would read |0.5 - 0.08| = 0.42.
    probs = np.full((2, 20), 0.0)
    probs[0] = (1 - 0.06) / 19
    probs[0, 3] = 0.06
    probs[1] = (1 - 0.10) / 19
    probs[1, 5] = 0.10
    assert expected_calibration_error(np.array([3, 0]), probs) == pytest.approx(0.52)


def test_confused_pairs_keep_the_ten_most_frequent_by_default() -> None:
    # 12 distinct mistakes, the pair (i, i + 1) made 12 - i times
    y_true = np.concatenate([np.full(12 - i, i) for i in range(12)])
    y_pred = y_true + 1
    pairs = confused_pairs(y_true, y_pred, [f"c{i}" for i in range(13)])
    assert [p["count"] for p in pairs] == list(range(12, 2, -1))
    assert pairs[0] == {"actual": "c0", "predicted": "c1", "count": 12}
