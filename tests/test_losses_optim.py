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


def test_hinge_losses_are_keras_on_the_softmax_output() -> None:
    """Keras' hinge with one-hot labels taken as -1/+1 on softmax probabilities: mean_k max(0, 1 - t_k p_k)."""
    p = torch.softmax(Z, 1).tolist()
    t = [[1, -1, -1], [-1, -1, 1]]
    per = [[max(0.0, 1 - t[i][k] * p[i][k]) for k in range(3)] for i in range(2)]
    assert LOSSES["hinge"](None, 0.0, 0.0)(Z, Y).item() == pytest.approx(np.mean(per))
    assert LOSSES["squared_hinge"](None, 0.0, 0.0)(Z, Y).item() == pytest.approx(np.mean(np.square(per)))
    # 1 - p_true for the right class, 1 + p_k for each wrong one: (4 - 2 p_true) / 3 per sample
    assert np.mean(per) == pytest.approx((4 - 2 * p[0][0] + 4 - 2 * p[1][2]) / 6)


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
    assert balanced.dtype == torch.float32 and class_weights([1, 2, 3], labels, 3).dtype == torch.float32
    with pytest.raises(ValueError, match=r"^class_weights 'inverse'; use 'none', 'balanced' or a list of 3 numbers$"):
        class_weights("inverse", labels, 3)
    with pytest.raises(ValueError, match="3 weights for 4 classes"):
        class_weights([1.0, 2.0, 3.0], labels, 4)
    with pytest.raises(ValueError, match=r"classes \[3\] have no training samples"):
        class_weights("balanced", labels, 4)
    # Weighted cross-entropy: the rare class's error counts more.
    w = torch.tensor([1.0, 1.0, 10.0])
    assert LOSSES["focal"](w, 0.0, 0.0)(Z, Y).item() == pytest.approx(
        torch.nn.functional.cross_entropy(Z, Y, weight=w).item()
    )


def steps_of(
    name: str,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    nesterov: bool = False,
    n: int = 2,
    start: float = 3.0,
) -> list[float]:
    """The weight after each of n steps on loss w**2 / 2 (gradient w), from w = start."""
    w = torch.nn.Parameter(torch.tensor([start]))
    opt = make_optimizer(name, [{"params": [w], "lr": lr}], weight_decay, momentum, nesterov)
    seen = []
    for _ in range(n):
        opt.zero_grad()
        (w**2 / 2).sum().backward()
        opt.step()
        seen.append(w.item())
    return seen


def test_sgd_momentum_nesterov_and_weight_decay_by_hand() -> None:
    # plain: w <- w - lr g, g = w
    assert steps_of("sgd", 0.1) == pytest.approx([2.7, 2.43])
    # momentum 0.9: v1 = g0 = 3, w1 = 2.7; v2 = 0.9 * 3 + 2.7 = 5.4, w2 = 2.7 - 0.54 = 2.16
    assert steps_of("sgd", 0.1, momentum=0.9) == pytest.approx([2.7, 2.16])
    # nesterov: step with g + 0.9 v: w1 = 3 - 0.1 (3 + 2.7) = 2.43; v2 = 2.7 + 2.43 = 5.13,
    # w2 = 2.43 - 0.1 (2.43 + 0.9 * 5.13) = 1.7253
    assert steps_of("sgd", 0.1, momentum=0.9, nesterov=True) == pytest.approx([2.43, 1.7253])
    # L2 weight decay 0.5 adds 0.5 w to the gradient: w1 = 3 - 0.1 * 4.5 = 2.55
    assert steps_of("sgd", 0.1, weight_decay=0.5, n=1) == pytest.approx([2.55])


def test_adam_steps_by_the_lr_and_adamw_decays_apart_from_the_gradient() -> None:
    # Adam's first step is lr * m / sqrt(v) = lr * sign(g), whatever the gradient's size
    assert steps_of("adam", 0.1, n=1) == pytest.approx([2.9], abs=1e-6)
    assert steps_of("adam", 0.1, n=1, start=300.0) == pytest.approx([299.9], abs=1e-4)
    # AdamW: the same step, then w shrinks by lr * wd * w (decoupled): 3 - 0.1 * 0.5 * 3 - 0.1
    assert steps_of("adamw", 0.1, weight_decay=0.5, n=1) == pytest.approx([3 - 0.15 - 0.1], abs=1e-6)
    # Adam's L2 decay goes through the gradient instead: still one lr-sized step on the first update
    assert steps_of("adam", 0.1, weight_decay=0.5, n=1) == pytest.approx([2.9], abs=1e-6)


def test_rmsprop_momentum_is_passed_on() -> None:
    plain, with_momentum = steps_of("rmsprop", 0.01, n=3), steps_of("rmsprop", 0.01, momentum=0.9, n=3)
    assert plain[0] == pytest.approx(with_momentum[0]) and with_momentum[2] < plain[2]  # momentum accelerates


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_converges_on_a_quadratic(name: str) -> None:
    lr = {"adadelta": 10.0, "adagrad": 0.5}.get(name, 0.1)
    final = steps_of(name, lr, n=300)[-1]
    assert abs(final) < 0.3, (name, final)  # from 3.0: within a tenth of the start (the optimum is 0)


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
    assert lrs("none") == pytest.approx([0.2, 0.4, 0.6, 0.8] + [1.0] * 16)  # warm-up, then constant
    onecycle = lrs("onecycle")
    assert max(onecycle) == pytest.approx(1.0) and onecycle[0] < 0.1 and onecycle[-1] < 1e-3
    plateau = lrs("plateau", epochs=6, warmup=0)  # val loss never improves; patience 2
    assert plateau[::5] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5]
