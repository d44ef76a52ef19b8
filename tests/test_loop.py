"""The training loop's paths, each by what it must do: two phases (and a resume into the second), the
monitored metric, autocast per precision with loss scaling, gradient clipping."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import classify_task, quadrant_images
from imgstudy.models import build_model
from imgstudy.training.fitting import FitConfig, Phase
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import fit
from imgstudy.training.losses import LOSSES
from imgstudy.training.precision import choose_precision

CPU = torch.device("cpu")
CE = LOSSES["cross_entropy"](None, 0.0, 0.0)


def data(n: int = 64, side: int = 16):
    images, labels = quadrant_images(n, seed=2, side=side)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    return x, y, Inputs.fit(x, "rgb", "imagenet", False)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def two_phase_run(state: Path | None, stop_at: int | None = None):
    x, y, inputs = data()
    torch.manual_seed(0)
    model = build_model(
        "resnet18", 3, 4, 16, weights="none", freeze=True, unfreeze_blocks=0, head_dropout=0.0, init="default"
    )
    cfg = FitConfig(
        phases=(Phase(epochs=2, lr=0.01), Phase(epochs=2, lr=0.001, trainable_blocks=1)),
        batch_size=16,
        optimizer="sgd",
        monitor="val_loss",
        patience=0,
        seed=0,
    )
    seen = []

    def on_epoch(r, m):
        if stop_at is not None and r.epoch == stop_at:
            raise KeyboardInterrupt  # killed before this epoch's state is saved
        seen.append((r.phase, r.lr, snapshot(m)))

    try:
        fit(model, classify_task((x, y), (x, y), inputs, CE, batch_size=16), cfg, CPU, on_epoch, state, "stamp")
    except KeyboardInterrupt:
        pass
    return model, seen


def changed(a: dict, b: dict) -> set[str]:
    return {k for k in a if not torch.equal(a[k], b[k])}


def test_two_phases_train_the_head_then_the_last_block_at_the_second_rate() -> None:
    torch.manual_seed(0)
    start = snapshot(
        build_model(
            "resnet18", 3, 4, 16, weights="none", freeze=True, unfreeze_blocks=0, head_dropout=0.0, init="default"
        )
    )
    _, seen = two_phase_run(None)
    assert [(p, lr) for p, lr, _ in seen][1:3] == [(0, pytest.approx(0.01)), (1, pytest.approx(0.001))]
    phase1 = changed(start, seen[1][2])
    assert phase1 and all(k.startswith("head.") for k in phase1)  # the frozen backbone did not move
    phase2 = changed(seen[1][2], seen[3][2])
    assert any(k.startswith("blocks.4.") for k in phase2)  # the last block trains in phase 2
    assert not any(k.startswith(("blocks.0.", "blocks.1.", "blocks.2.", "blocks.3.")) for k in phase2)


def test_a_run_killed_in_the_second_phase_resumes_to_the_same_weights(tmp_path: Path) -> None:
    two_phase_run(tmp_path / "state.pt", stop_at=3)  # killed in phase 2's second epoch
    resumed, seen = two_phase_run(tmp_path / "state.pt")
    assert [p for p, _, _ in seen] == [1]  # only the missing epoch ran, in phase 2
    straight, _ = two_phase_run(None)
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        assert torch.equal(a, b)


class Scripted:
    """A task whose validation scores follow a script: what the loop does with them is all that shows."""

    train_size = 4

    def __init__(self, script: list[dict]):
        self.script = iter(script)

    def begin_phase(self, model):
        return model

    def net_of(self, model):
        return model

    def epoch_order(self, gen):
        return torch.arange(self.train_size)

    def train_batch(self, idx, gen):
        return torch.ones(len(idx), 1), torch.zeros(len(idx), dtype=torch.long)

    def loss(self, logits, target):
        return logits.sum() * 0

    def batch_stats(self, logits, target):
        return {}

    def train_metrics(self, sums, seen):
        return {"train_loss": 0.0}

    def validate(self, net, precision):
        return next(self.script)


def test_val_acc_monitoring_picks_the_most_accurate_epoch_and_stops_after_patience() -> None:
    # the loss rises while the accuracy rises: monitoring val_acc must prefer the accurate epochs
    script = [
        {"val_loss": 1.0, "val_acc": 0.5},
        {"val_loss": 1.5, "val_acc": 0.7},
        {"val_loss": 0.5, "val_acc": 0.6},
        {"val_loss": 0.4, "val_acc": 0.65},
        {"val_loss": 0.3, "val_acc": 0.9},
    ]
    cfg = FitConfig(
        phases=(Phase(epochs=5, lr=0.1),), batch_size=4, optimizer="sgd", monitor="val_acc", patience=2, seed=0
    )
    history = fit(nn.Linear(1, 2), Scripted(script), cfg, CPU, lambda r, m: None)
    assert [r.improved for r in history] == [True, True, False, False]  # stopped after 2 epochs without a gain
    cfg = FitConfig(
        phases=(Phase(epochs=5, lr=0.1),), batch_size=4, optimizer="sgd", monitor="val_loss", patience=0, seed=0
    )
    history = fit(nn.Linear(1, 2), Scripted(script), cfg, CPU, lambda r, m: None)
    assert [r.improved for r in history] == [True, False, True, True, True]  # patience 0: all five epochs


@pytest.mark.parametrize("name, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_autocast_runs_the_model_in_the_precision_and_fp16_scales_the_loss(name: str, dtype, monkeypatch) -> None:
    x, y, inputs = data(32)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    dtypes = []
    model[1].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype) and None)
    scales = []
    original = torch.amp.GradScaler.scale
    monkeypatch.setattr(
        torch.amp.GradScaler, "scale", lambda self, loss: scales.append(self.is_enabled()) or original(self, loss)
    )
    cfg = FitConfig(
        phases=(Phase(epochs=3, lr=1e-3),),
        batch_size=16,
        optimizer="adam",
        monitor="val_loss",
        patience=0,
        seed=0,
        precision=choose_precision(name, CPU),
    )
    history = fit(model, classify_task((x, y), (x, y), inputs, CE, batch_size=16), cfg, CPU, lambda r, m: None)
    assert dtypes and set(dtypes) == {dtype}
    assert set(scales) == {name == "fp16"}  # loss scaling only for fp16
    assert history[-1].metrics["train_loss"] < history[0].metrics["train_loss"]


def test_gradient_clipping_bounds_the_step() -> None:
    x, y, inputs = data(16)
    moves = {}
    for clip in (0.0, 0.01):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        cfg = FitConfig(
            phases=(Phase(epochs=1, lr=1.0),),
            batch_size=16,
            optimizer="sgd",
            momentum=0.0,
            monitor="val_loss",
            patience=0,
            seed=0,
            grad_clip=clip,
        )
        fit(model, classify_task((x, y), (x, y), inputs, CE, batch_size=16), cfg, CPU, lambda r, m: None)
        moves[clip] = (torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm().item()
    assert moves[0.01] == pytest.approx(0.01, rel=1e-3)  # one SGD step of lr 1 on a gradient clipped to norm 0.01
    assert moves[0.0] > 0.1
