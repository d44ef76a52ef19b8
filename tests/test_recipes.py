"""Training recipes, each by its effect: mixup and cutmix mix labels as they mix images, the
augmentation policies and random erasing stay batched, the weights' moving average is what is
validated and saved, accumulation equals the large batch, backbone and head get their own lr,
balanced sampling draws every class as often."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import classify_task, quadrant_images
from imgstudy.models import build_model
from imgstudy.training.augment import Augment, apply_policy, random_erase
from imgstudy.training.fitting import FitConfig, Phase
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import fit
from imgstudy.training.losses import LOSSES
from imgstudy.training.mixing import MixedTarget, Mixing
from imgstudy.training.optim import param_groups
from imgstudy.training.precision import FP32
from imgstudy.training.tasks import balanced_order

CE = LOSSES["cross_entropy"](None, 0.0, 0.0)


def test_mixup_mixes_images_and_labels_with_the_same_weight() -> None:
    x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 4
    mixed, target = Mixing(mixup=0.4)(x, y, torch.Generator().manual_seed(3))
    assert isinstance(target, MixedTarget) and 0 < target.lam < 1
    assert torch.equal(target.a, y) and sorted(target.b.tolist()) == sorted(y.tolist())  # a shuffle of the labels
    # every mixed image is lam * its own + (1 - lam) * the image whose label it took
    for i in range(16):
        partners = [j for j in range(16) if torch.allclose(mixed[i], target.lam * x[i] + (1 - target.lam) * x[j])]
        assert partners and all(y[j] == target.b[i] for j in partners), i
    logits = torch.randn(16, 4)
    loss = classify_task(
        (x, y), (x, y), Inputs.fit(torch.zeros(2, 8, 8, 1, dtype=torch.uint8), "native", "none", False), CE
    ).loss(logits, target)
    assert loss.item() == pytest.approx(
        target.lam * CE(logits, y).item() + (1 - target.lam) * CE(logits, target.b).item()
    )


def test_cutmix_pastes_one_box_and_weights_labels_by_its_area() -> None:
    x = torch.zeros(8, 1, 16, 16)
    x[4:] = 1.0  # images 0-3 black, 4-7 white: a pasted box shows
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    mixed, target = Mixing(cutmix=1.0)(x, y, torch.Generator().manual_seed(1))
    for i in range(8):
        foreign = (mixed[i] != x[i]).float().mean().item()  # share of pixels from the other image
        if target.b[i] != y[i]:
            assert foreign == pytest.approx(1 - target.lam)
    assert 0 <= target.lam <= 1 and mixed.shape == x.shape


def test_policies_and_erasing_keep_the_batch_and_change_images() -> None:
    torch.manual_seed(0)
    x = torch.rand(16, 3, 16, 16)
    same = x[:1].repeat(16, 1, 1, 1)  # one image, sixteen times
    out = apply_policy(same, "randaugment", group=8)
    assert out.shape == same.shape and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out[0], out[7]) and torch.equal(out[8], out[15])  # one draw per group of 8
    assert not torch.equal(out, (same * 255).round() / 255) or not torch.equal(out[:8], out[8:])
    erased = random_erase(x, 1.0, torch.Generator().manual_seed(0))
    changed = (erased != x).flatten(1).float().mean(1)
    assert ((changed > 0.01) & (changed <= 0.34)).all()  # every image: one box of 2-33% of its area
    assert torch.equal(random_erase(x, 0.0, torch.Generator()), x)
    assert Augment(policy="trivialaugment").active and Augment(erase=0.5).active and not Augment().active


def test_balanced_sampling_draws_every_class_equally_often() -> None:
    labels = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    drawn = labels[balanced_order(labels, torch.Generator().manual_seed(0))]
    counts = torch.bincount(drawn, minlength=3).float() / len(drawn)
    assert torch.allclose(counts, torch.full((3,), 1 / 3), atol=0.05), counts


class OneWeight(nn.Module):
    """logits = w * x with a single weight: its SGD trajectory is known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.w * x.flatten(1).mean(1), torch.zeros(len(x))], 1)


class ConstantTask:
    """Every sample is all ones and the loss is the first logit: each SGD step lowers w by lr."""

    train_size = 8

    def begin_phase(self, model):
        return model

    def net_of(self, model):
        return model

    def epoch_order(self, gen):
        return torch.randperm(self.train_size, generator=gen)

    def train_batch(self, idx, gen):
        return torch.ones(len(idx), 1, 2, 2), None

    def loss(self, logits, target):
        return logits[:, 0].mean()

    def batch_stats(self, logits, target):
        return {}

    def train_metrics(self, sums, seen):
        return {"train_loss": sums["loss"] / seen}

    def validate(self, net, precision):
        return {"val_loss": float(net.w.detach()), "val_acc": 0.0}


def test_the_moving_average_is_what_validation_scores_and_the_checkpoint_holds() -> None:
    decay, lr, steps_per_epoch = 0.5, 0.1, 4  # 8 samples in batches of 2
    saved = []
    cfg = FitConfig(
        phases=(Phase(epochs=2, lr=lr),),
        batch_size=2,
        optimizer="sgd",
        momentum=0.0,
        monitor="val_loss",
        patience=0,
        seed=0,
        ema=decay,
    )
    history = fit(OneWeight(), ConstantTask(), cfg, torch.device("cpu"), lambda r, m: saved.append(float(m.w.detach())))
    ema, w, steps = None, 0.0, 0
    expected = []
    for _ in range(2):
        for _ in range(steps_per_epoch):
            w, steps = w - lr, steps + 1
            ema = w if ema is None else decay * ema + (1 - decay) * w  # the first update copies the weights
        expected.append(ema)
    assert saved == pytest.approx(expected) and [r.metrics["val_loss"] for r in history] == pytest.approx(expected)
    assert expected[-1] != pytest.approx(w)  # the average lags the raw weights: the test can tell them apart


def test_accumulated_small_batches_equal_one_large_batch() -> None:
    images, labels = quadrant_images(64, seed=4)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    inputs = Inputs.fit(x, "native", "dataset", False)
    weights = []
    for batch, accumulate in ((32, 1), (8, 4)):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(256, 4))  # no BatchNorm, no dropout: batch-independent
        cfg = FitConfig(
            phases=(Phase(epochs=2, lr=0.5),),
            batch_size=batch,
            accumulate=accumulate,
            optimizer="sgd",
            momentum=0.0,
            monitor="val_loss",
            patience=0,
            seed=0,
        )
        fit(
            model,
            classify_task((x, y), (x, y), inputs, CE, batch_size=batch),
            cfg,
            torch.device("cpu"),
            lambda r, m: None,
        )
        weights.append(model[1].weight.detach().clone())
    assert torch.allclose(weights[0], weights[1], atol=1e-5)
    assert not torch.allclose(weights[0], torch.zeros_like(weights[0]), atol=1e-3)  # it did learn


def test_backbone_and_head_get_their_own_learning_rates() -> None:
    torch.manual_seed(0)
    model = build_model(
        "resnet18", 3, 4, 32, weights="none", freeze=False, unfreeze_blocks=0, head_dropout=0.0, init="default"
    )
    groups = param_groups(model, 0.1, backbone_lr_scale=0.0 + 1e-9)
    assert [g["lr"] for g in groups] == pytest.approx([1e-10, 0.1])
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].startswith("blocks.") for p in groups[0]["params"])
    assert all(names[id(p)].startswith("head.") for p in groups[1]["params"])
    assert len(param_groups(model, 0.1, 1.0)) == 1  # no split without a scale
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(groups, lr=0.1)
    model.train()
    nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.arange(4)).backward()
    optimizer.step()
    moved = {n: (p - before[n]).abs().max().item() for n, p in model.named_parameters()}
    assert max(v for n, v in moved.items() if n.startswith("blocks.")) < 1e-6 < moved["head.3.weight"]


def test_summary_counts_what_the_model_has() -> None:
    from imgstudy.training.classify import model_summary

    model = build_model("mnist_cnn", 1, 10, 28)
    inputs = Inputs.fit(torch.zeros(2, 28, 28, 1, dtype=torch.uint8), "native", "none", False)
    rng = torch.get_rng_state()
    summary, table = model_summary(model, inputs, 28)
    assert torch.equal(rng, torch.get_rng_state())  # training's random draws are unchanged
    assert summary["parameters"] == sum(p.numel() for p in model.parameters())
    assert summary["mult_adds"] == pytest.approx(30_076_042) and summary["layers"] == 40 and "Linear" in table
    assert np.isfinite(summary["trainable"]) and FP32.name == "fp32"


@pytest.mark.heavy  # left out of mutation runs: a minute of training per mutant
def test_the_lr_range_test_ramps_the_rate_and_suggests_one_where_the_loss_falls(tmp_path) -> None:
    from conftest import cnn_params, split_store, write_quadrant_store
    from imgstudy.params import resolve
    from tools import lr_find

    write_quadrant_store(tmp_path / "store", 320, test=40)
    split_store(tmp_path, "official", 0.2, 0.1, seed=0)
    p = resolve(cnn_params(batch_size=32, optimizer="sgd"), "F0")
    result = lr_find.run(p, tmp_path / "store", tmp_path / "splits", tmp_path / "out", "F0", 60, 1e-5, 100.0)
    lrs, losses = result["lr"], result["loss"]
    assert lrs[0] == pytest.approx(1e-5) and all(b / a == pytest.approx(lrs[1] / lrs[0]) for a, b in zip(lrs, lrs[1:]))
    assert len(lrs) < 60  # lr up to 100 with SGD diverges: the test stops early
    assert losses[-1] > 2 * min(losses)
    assert 1e-4 < result["suggested_lr"] < lrs[int(np.argmin(losses))]  # on the falling side, before the minimum
    assert (tmp_path / "out/F0.png").stat().st_size > 1000


@pytest.mark.parametrize("name,op", [("randaugment", "RandAugment"), ("trivialaugment", "TrivialAugmentWide")])
def test_policies_are_torchvisions_on_8_bit_images(name: str, op: str) -> None:
    from torchvision.transforms import v2

    x = torch.rand(4, 3, 16, 16)
    torch.manual_seed(5)
    ours = apply_policy(x, name, group=4)  # one group: one draw from torch's generator
    torch.manual_seed(5)
    theirs = getattr(v2, op)()((x * 255).round().to(torch.uint8)).float() / 255
    assert torch.equal(ours, theirs)
    with pytest.raises(ValueError, match=r"augment policy 'autoaugment'; choose one of \('none', 'randaugment'"):
        apply_policy(x, "autoaugment")


def erased_pixels(area: tuple[float, float], ratio: tuple[float, float], seed: int = 0) -> torch.Tensor:
    """Random erasing of 400 constant 8 x 8 images at p = 1; the mask of what changed."""
    x = torch.full((400, 1, 8, 8), -1.0)  # noise in [0, 1) never equals -1
    return random_erase(x, 1.0, torch.Generator().manual_seed(seed), area=area, ratio=ratio)[:, 0] != -1


def test_random_erasing_boxes_have_the_drawn_size_and_reach_every_edge() -> None:
    square = erased_pixels((0.25, 0.25), (1.0, 1.0))  # 16 of 64 pixels, square: always 4 x 4
    assert square.sum((1, 2)).tolist() == [16] * 400
    rows, cols = square.any(2), square.any(1)
    assert rows[:, 0].any() and rows[:, 7].any() and cols[:, 0].any() and cols[:, 7].any()  # every edge reached
    assert rows.sum(1).eq(4).all() and cols.sum(1).eq(4).all()  # whole boxes, never cut by the border
    assert erased_pixels((0.001, 0.001), (1.0, 1.0)).sum((1, 2)).tolist() == [1] * 400  # at least one pixel
    sizes = erased_pixels((0.02, 0.33), (0.3, 3.3)).sum((1, 2)).float()
    assert sizes.min() >= 1 and sizes.max() <= 0.33 * 64 * 1.6 and sizes.std() > 2  # areas vary in the range


def test_random_erasing_draws_only_from_its_generator() -> None:
    x = torch.rand(32, 3, 8, 8)
    torch.manual_seed(1)
    first = random_erase(x, 0.5, torch.Generator().manual_seed(3))
    torch.manual_seed(2)
    assert torch.equal(first, random_erase(x, 0.5, torch.Generator().manual_seed(3)))
