"""Losses against hand-computed values, class weights against scikit-learn, optimizers and schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from imgstudy.training.losses import LOSSES, class_weights
from imgstudy.training.optim import OPTIMIZERS, SCHEDULERS, make_optimizer, param_groups

Z = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
Y = torch.tensor([0, 2])


def ce_by_hand(z, y):
    return float(np.mean([-(z[i][y[i]] - math.log(sum(math.exp(v) for v in z[i]))) for i in range(len(y))]))


def test_cross_entropy_and_label_smoothing() -> None:
    assert LOSSES["cross_entropy"](None, 0.0, 0.0)(Z, Y).item() == pytest.approx(ce_by_hand(Z.tolist(), Y.tolist()))
    smooth = LOSSES["cross_entropy"](None, 0.3, 0.0)(Z, Y).item()
    logp = torch.log_softmax(Z, 1)
    target = torch.nn.functional.one_hot(Y, 3) * 0.7 + 0.1
    assert smooth == pytest.approx(-(target * logp).sum(1).mean().item())


def test_focal_with_gamma_zero_is_cross_entropy_and_down_weights_easy_samples() -> None:
    assert LOSSES["focal"](None, 0.0, 0.0)(Z, Y).item() == pytest.approx(ce_by_hand(Z.tolist(), Y.tolist()))
    p0 = torch.softmax(Z, 1)[0, 0].item()  # the easy sample
    p1 = torch.softmax(Z, 1)[1, 2].item()
    expected = np.mean([-((1 - p0) ** 2) * math.log(p0), -((1 - p1) ** 2) * math.log(p1)])
    assert LOSSES["focal"](None, 0.0, 2.0)(Z, Y).item() == pytest.approx(expected)


def test_hinge_losses() -> None:
    # sample 0: margins 1 - (2 - 0) < 0 and 1 - (2 + 1) < 0 -> 0; sample 1: 1 - (0 - 0.5), 1 - (0 - 1.5)
    per = [0.0, (1.5 + 2.5) / 3]
    assert LOSSES["hinge"](None, 0.0, 0.0)(Z, Y).item() == pytest.approx(np.mean(per))
    assert LOSSES["squared_hinge"](None, 0.0, 0.0)(Z, Y).item() == pytest.approx(np.mean([0, (1.5**2 + 2.5**2) / 3]))


def test_kl_with_one_hot_target_equals_cross_entropy() -> None:
    assert LOSSES["kl_divergence"](None, 0.0, 0.0)(Z, Y).item() == pytest.approx(ce_by_hand(Z.tolist(), Y.tolist()))


def test_bce_with_logits_on_one_hot_targets() -> None:
    t = torch.nn.functional.one_hot(Y, 3).float()
    expected = -(t * torch.log(torch.sigmoid(Z)) + (1 - t) * torch.log(1 - torch.sigmoid(Z))).sum(1).mean()
    assert LOSSES["bce_with_logits"](None, 0.0, 0.0)(Z, Y).item() == pytest.approx(expected.item(), rel=1e-6)


def test_class_weights() -> None:
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    balanced = class_weights("balanced", labels, 3)
    assert np.allclose(balanced.numpy(), compute_class_weight("balanced", classes=np.arange(3), y=labels))
    assert class_weights("none", labels, 3) is None
    assert class_weights([1.0, 2.0, 3.0], labels, 3).tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="3 weights for 4 classes"):
        class_weights([1.0, 2.0, 3.0], labels, 4)
    with pytest.raises(ValueError, match=r"classes \[3\] have no training samples"):
        class_weights("balanced", labels, 4)
    # Weighted cross-entropy: the rare class's error counts more.
    w = torch.tensor([1.0, 1.0, 10.0])
    assert LOSSES["focal"](w, 0.0, 0.0)(Z, Y).item() == pytest.approx(
        torch.nn.functional.cross_entropy(Z, Y, weight=w).item()
    )


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_lowers_a_simple_loss(name: str) -> None:
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    lr = 1.0 if name == "adadelta" else 0.05
    opt = make_optimizer(name, [{"params": [w], "lr": lr}], 0.0, 0.9, name == "sgd")
    for _ in range(20):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert (w**2).sum().item() < 13.0


def test_frozen_everything_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="everything is frozen"):
        param_groups(torch.nn.Linear(1, 1).requires_grad_(False), 0.1)


def lrs(name: str, epochs: int = 4, steps: int = 5, warmup: int = 1) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
    schedule = SCHEDULERS[name](opt, [1.0], steps, epochs, warmup, 2, 0.5)
    seen = []
    for _ in range(epochs):
        for _ in range(steps):
            seen.append(opt.param_groups[0]["lr"])
            opt.step()
            schedule.after_batch()
        schedule.after_epoch(val_loss=1.0)
    return seen


def test_schedules() -> None:
    cosine = lrs("cosine")
    assert cosine[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])  # one warm-up epoch of 5 steps
    assert cosine[5] == pytest.approx(1.0) and cosine[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 14 / 15)))
    assert cosine[5:] == sorted(cosine[5:], reverse=True)
    assert lrs("step", warmup=0)[::5] == [1.0, 1.0, 0.5, 0.5]  # halved every 2 epochs
    assert lrs("none", warmup=0) == [1.0] * 20
    onecycle = lrs("onecycle")
    assert max(onecycle) == pytest.approx(1.0) and onecycle[0] < 0.1 and onecycle[-1] < 1e-3
    plateau = lrs("plateau", epochs=6, warmup=0)  # val loss never improves; patience 2
    assert plateau[::5] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5]
