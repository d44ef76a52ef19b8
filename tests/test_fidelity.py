"""The presets do what their studies did (shared write-ups, checked one finding at a time): each test
names the study's choice and checks it by value, in the resolved params or in the built model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import cnn_params, quadrant_images, split_store, train_variant
from imgstudy.data.store import write_store
from imgstudy.models import build_model
from imgstudy.models.cnn import ACTIVATIONS, BaselineCNN, GRUDirection
from imgstudy.params import Params, resolve, yaml_text
from imgstudy.training.inputs import Inputs
from imgstudy.training.losses import LOSSES
from imgstudy.training.optim import OPTIMIZERS
from tools import preset, search


def resolved(name: str, variant: str) -> Params:
    return resolve(yaml_text(preset.render(name)), variant)


def differences(a: dict, b: dict, prefix: str = "") -> set[str]:
    """Dotted keys whose values differ between two nested dicts of the same schema."""
    out = set()
    for key in a:
        if isinstance(a[key], dict):
            out |= differences(a[key], b[key], f"{prefix}{key}.")
        elif a[key] != b[key]:
            out.add(prefix + key)
    return out


def test_xavier_initializes_every_layer_of_a_model_trained_from_scratch() -> None:
    """Lung CT: "random vs Xavier" init. With weights: none every conv and dense layer follows the
    chosen init (weights uniform within Glorot's bound, zero biases), not only the new head."""
    torch.manual_seed(0)
    opts = dict(weights="none", freeze=False, unfreeze_blocks=0, head_dropout=0.0)
    xavier = build_model("resnet18", 3, 2, 64, **opts, init="xavier_uniform")
    default = build_model("resnet18", 3, 2, 64, **opts, init="default")
    layers = [m for m in xavier.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) > 20  # the whole backbone, not the head alone
    for layer in layers:
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= bound
        assert abs(layer.weight.std().item() - bound / math.sqrt(3)) < 0.15 * bound / math.sqrt(3)
        assert layer.bias is None or not layer.bias.any()
    # torchvision's own init (Kaiming normal, fan out) leaves the uniform bound in some layer: the two differ
    convs = [m for m in default.modules() if isinstance(m, nn.Conv2d)]
    assert any(
        m.weight.abs().max() > math.sqrt(6 / sum(nn.init._calculate_fan_in_and_fan_out(m.weight))) for m in convs
    )


def test_lung_ct_seg_variants_change_one_thing_each() -> None:
    """The UNet study's improvements did not touch the loss: the loss is a variant of its own, as is the encoder."""
    seg = {v: resolved("lung_ct_seg", v).segment.model_dump() for v in ("unet_first", "unet_improved")}
    for v in ("unet_improved_dice_bce", "unet_improved_resnet18"):
        seg[v] = resolved("lung_ct_seg", v).segment.model_dump()
    # the first try: Adam (no weight decay, 001 l.102: "Adam à AdamW" came with the improvements)
    assert differences(seg["unet_first"], seg["unet_improved"]) == {"optimizer", "weight_decay", "normalize", "init"}
    assert differences(seg["unet_improved"], seg["unet_improved_dice_bce"]) == {"loss"}
    assert differences(seg["unet_improved"], seg["unet_improved_resnet18"]) == {"unet.encoder"}


def test_lung_ct_trains_a_fixed_30_epochs() -> None:
    raw = yaml_text(preset.render("lung_ct"))
    scratch = [v for v in raw["grid"] if resolve(raw, v).train.transfer.weights == "none"]
    settings = {(resolve(raw, v).train.epochs, resolve(raw, v).train.patience) for v in scratch}
    assert scratch and settings == {(30, 0)}


# Variants a preset defines but leaves out of its grid because they repeat its base exactly (the next test)
OUT_OF_GRID = {"fashion_mnist": ["kl_divergence", "global_pooling"]}


def test_dog_breed_bases_are_the_studys_final_baseline() -> None:
    """Resized, gray, equalized, whitened where ZCA fits; rotation 20, zoom 15%, contrast 10%, flips; Adam;
    32-64-64-64 conv + max-pool blocks with BatchNorm after the activation (Keras' Conv2D then
    BatchNormalization); no dropout; sigmoid. The grids hold every optimizer, loss and activation the
    study compared that is registered here."""
    for name, base, normalize in (("dog_breeds", "cnn", "dataset"), ("fashion_mnist", "base", "zca")):
        t = resolved(name, base).train
        a, c = t.augment, t.cnn
        seen = (t.model, t.channels, t.equalize, t.normalize, t.optimizer)
        assert seen == ("cnn", "gray", "global", normalize, "adam")
        assert (a.rotation, a.zoom, a.shift, a.contrast, a.hflip, a.vflip) == (20, 0.15, 0.0, 0.1, True, False)
        assert (c.widths, c.pool, c.batchnorm, c.bn_order, c.dropout, c.activation) == (
            [32, 64, 64, 64],
            "max",
            True,
            "conv_act_bn",
            0.0,
            "sigmoid",
        )
        raw = yaml_text(preset.render(name))
        grid = [resolve(raw, v).train for v in raw["grid"] + OUT_OF_GRID.get(name, [])]
        studied = {
            "optimizer": {"adam", "sgd", "rmsprop", "nadam", "adadelta", "adagrad", "adamax"},  # Ftrl: not in torch
            "loss": {"cross_entropy", "poisson", "kl_divergence", "hinge", "squared_hinge", "categorical_hinge"},
        }
        activations = {"relu", "sigmoid", "softmax", "softplus", "softsign", "tanh", "selu", "elu", "exponential"}
        assert studied["optimizer"] <= set(OPTIMIZERS.names()) and studied["loss"] <= set(LOSSES.names())
        assert activations <= set(ACTIVATIONS.names())
        assert studied["optimizer"] <= {g.optimizer for g in grid}, name
        assert studied["loss"] <= {g.loss for g in grid}, name
        assert activations <= {g.cnn.activation for g in grid if g.model == "cnn"}, name


def test_the_fashion_variants_left_out_of_its_grid_repeat_its_base() -> None:
    """At 28 px four pooled blocks leave a 1 x 1 map: global pooling and flattening it are one network (same
    weights, same outputs); with one-hot labels the KL divergence is the cross-entropy (loss and gradient)."""
    raw = yaml_text(preset.render("fashion_mnist"))
    assert not set(OUT_OF_GRID["fashion_mnist"]) & set(raw["grid"])
    base, gap = (resolved("fashion_mnist", v).train.cnn for v in ("base", "global_pooling"))
    assert differences(base.model_dump(), gap.model_dump()) == {"head"}
    opts = base.model_dump()  # the section's fields are the model's options
    torch.manual_seed(0)
    flat = BaselineCNN(1, 10, 28, **opts)
    pooled = BaselineCNN(1, 10, 28, **{**opts, "head": "gap"})
    # the same tensors in the same order; the pooling layer shifts the head's indices by one
    pooled.load_state_dict(dict(zip(pooled.state_dict(), flat.state_dict().values(), strict=True)))
    x = torch.randn(8, 1, 28, 28)
    assert torch.equal(flat.eval()(x), pooled.eval()(x))
    kl = resolved("fashion_mnist", "kl_divergence").train
    assert differences(resolved("fashion_mnist", "base").train.model_dump(), kl.model_dump()) == {"loss"}
    z, y = torch.randn(16, 10, requires_grad=True), torch.arange(16) % 10
    by_kl, by_ce = LOSSES["kl_divergence"](None, 0.0, 0.0)(z, y), LOSSES["cross_entropy"](None, 0.0, 0.0)(z, y)
    assert by_kl.item() == pytest.approx(by_ce.item(), abs=1e-6)
    g_kl, g_ce = (torch.autograd.grad(v, z)[0] for v in (by_kl, by_ce))
    assert torch.allclose(g_kl, g_ce, atol=1e-7)


def test_whitening_runs_at_the_fashion_size_and_refuses_the_dog_size_by_name() -> None:
    """ZCA at 28 px gray (784 values) whitens; at the dog preset's 224 px it would need a 50,176^2 matrix,
    and the message says which sizes work."""
    images = torch.randint(0, 256, (900, 28, 28, 1), dtype=torch.uint8)
    inputs = Inputs.fit(images, "gray", "zca", False, zca_epsilon=1e-6)
    x = inputs(images[:900]).reshape(900, -1).double()
    cov = (x - x.mean(0)).T @ (x - x.mean(0)) / 900
    assert torch.allclose(cov.diagonal(), torch.ones(784, dtype=torch.double), atol=0.02)
    big = torch.zeros(2, 224, 224, 1, dtype=torch.uint8)
    try:
        Inputs.fit(big, "gray", "zca", False)
    except ValueError as e:
        assert "50176" in str(e) and "8192" in str(e)
    else:
        raise AssertionError("ZCA at 224 px should be refused")


def test_the_bigru_cells_are_the_studys_relu_grus() -> None:
    """Keras GRU(activation='relu'): our cell with tanh equals PyTorch's nn.GRU on the same weights, so the
    only difference in the model is the candidate's ReLU."""
    torch.manual_seed(0)
    ref = nn.GRU(5, 4, batch_first=True)
    cell = GRUDirection(5, 4, nn.Tanh())
    with torch.no_grad():
        cell.x2h.weight.copy_(ref.weight_ih_l0)
        cell.x2h.bias.copy_(ref.bias_ih_l0)
        cell.h2h.weight.copy_(ref.weight_hh_l0)
        cell.h2h.bias.copy_(ref.bias_hh_l0)
    x = torch.randn(3, 6, 5)
    seq, last = cell(x, reverse=False)
    ref_seq, ref_last = ref(x)
    assert torch.allclose(seq, ref_seq, atol=1e-6) and torch.allclose(last, ref_last[0], atol=1e-6)
    model = build_model("cnn_gru", 1, 10, 28)
    for gru in (model.gru1, model.gru2):
        assert isinstance(gru.forward_dir.act, nn.ReLU) and isinstance(gru.backward_dir.act, nn.ReLU)
    assert (model.gru1.forward_dir.h2h.in_features, model.gru2.forward_dir.h2h.in_features) == (512, 256)


def test_chest_xray_keeps_the_studys_flips_and_mlflow() -> None:
    for v in ("frozen", "two_stage"):
        p = resolved("chest_xray", v)
        assert p.train.augment.hflip and p.tracking.mlflow


def test_search_scores_a_trial_by_its_k_fold_mean(tmp_path: Path) -> None:
    """With split.folds set, a trial's value is the mean validation accuracy over the held-out folds: the
    number the same params give in the train stage's cv.json."""
    images, labels = quadrant_images(240, seed=0)
    sources, official = [f"s#{i}" for i in range(240)], np.full(240, "train")
    write_store(tmp_path / "store", images, labels, ["tl", "tr", "bl", "br"], sources, official, {})
    split_store(tmp_path, "fraction", 0.2, 0.2, seed=0, folds=2)
    raw = cnn_params(epochs=1, batch_size=32)
    raw["search"].update(sampler="random", trials=1, variant="F0", metric="val_acc")
    study = search.run(raw, tmp_path / "store", tmp_path / "splits", tmp_path / "search")
    trial = study.trials[0]
    p = search.with_values(raw, "F0", trial.params)
    train_variant(p, tmp_path, "model")
    cv = json.loads((tmp_path / "model/cv.json").read_text())
    assert len(cv["folds"]) == 2
    assert trial.value == cv["val_acc_mean"] == sum(f["val_acc"] for f in cv["folds"]) / 2
