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
    from stages.evaluate import finite

    probs = np.array([[0.7, 0.2, 0.1], [np.nan, np.nan, np.nan], [0.1, np.inf, 0.0], [0.1, 0.1, 0.8]])
    fixed, bad = finite(probs, "exponential")
    assert bad == 2 and fixed[1].tolist() == fixed[2].tolist() == [1 / 3] * 3 and fixed[3].tolist() == [0.1, 0.1, 0.8]
    assert "exponential: 2 of 4 outputs are not finite" in capsys.readouterr().err
    scores = summary_metrics(np.array([0, 1, 2, 2]), fixed)  # no NaN reaches scikit-learn
    assert scores["accuracy"] == 0.5 and np.isfinite(scores["roc_auc"])
    assert finite(probs[[0, 3]], "ok") == (pytest.approx(probs[[0, 3]]), 0)
