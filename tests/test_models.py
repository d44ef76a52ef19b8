"""Every registered model: forward and backward on a tiny batch; the MNIST CNN exactly as specified."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import ROOT
from imgstudy.models import MODELS, build_model
from imgstudy.params import load
from imgstudy.params.choices import MODELS as CHOICES

TRAIN = load(ROOT / "params.yaml", "F0").train


def options(name: str) -> dict:
    """The model's options from params.yaml, the whole network trainable; no ImageNet download."""
    group = CHOICES[name]
    opts = getattr(TRAIN, group).model_dump() if group else {}
    return {**opts, "weights": "none", "freeze": False} if group == "transfer" else opts


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_forward_backward_shapes_and_finite(name: str, channels: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, channels, num_classes=7, image_size=32, **options(name))
    x = torch.randn(4, channels, 32, 32)
    out = model(x)
    assert out.shape == (4, 7)
    assert torch.isfinite(out).all()
    out.sum().backward()
    params = list(model.parameters())
    assert all(w.requires_grad for w in params)  # nothing frozen: backward must reach every layer
    assert all(w.grad is not None and torch.isfinite(w.grad).all() for w in params)
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == channels and first.weight.grad.abs().sum() > 0  # down to the first layer


def conv_bn(c_in: int, c_out: int) -> int:
    return (c_in * 9 * c_out + c_out) + 2 * c_out  # conv 3x3 weights + bias, BN scale + shift


def test_mnist_cnn_is_the_studys_architecture() -> None:
    model = build_model("mnist_cnn", 1, 10, 28)
    blocks = sum(conv_bn(a, b) + conv_bn(b, b) for a, b in [(1, 32), (32, 64), (64, 128)])
    head = (128 * 3 * 3 * 512 + 512) + 2 * 512 + (512 * 512 + 512) + 2 * 512 + (512 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == blocks + head == 1_147_498
    dropouts = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.3, 0.3, 0.3, 0.25, 0.5]
    assert [m.kernel_size for m in model.modules() if isinstance(m, nn.MaxPool2d)] == [2, 2, 2]


def test_cam_layer_is_the_last_feature_map() -> None:
    model = build_model("mnist_cnn", 1, 10, 28).eval()
    shapes = []
    model.cam_layer.register_forward_hook(lambda m, i, o: shapes.append(o.shape) and None)
    model(torch.zeros(2, 1, 28, 28))
    assert shapes == [(2, 128, 7, 7)]


def test_unknown_model_lists_choices() -> None:
    with pytest.raises(KeyError, match="mnist_cnn"):
        build_model("nope", 1, 10, 28)


@pytest.mark.parametrize("order", ["conv_bn_act", "conv_act_bn"])
def test_baseline_cnn_block_order(order: str) -> None:
    """Each block is conv, BN, activation (or conv, activation, BN: Keras' Conv2D(activation=...) then
    BatchNormalization), then the pool; in training mode the pool's input is then sigmoid outputs in (0, 1)
    or per-channel standardized values."""
    opts = {**options("cnn"), "activation": "sigmoid", "widths": [4, 8], "bn_order": order}
    model = build_model("cnn", 1, 10, 16, **opts).train()
    kinds = [type(m).__name__ for m in model.features]
    first = ["Conv2d", "BatchNorm2d", "Sigmoid"] if order == "conv_bn_act" else ["Conv2d", "Sigmoid", "BatchNorm2d"]
    assert kinds == [*first, "MaxPool2d"] * 2
    seen = []
    model.features[2].register_forward_hook(lambda m, i, o: seen.append(o.detach()) and None)
    model(torch.randn(64, 1, 16, 16) * 3)
    out = seen[0]
    if order == "conv_bn_act":
        assert out.min() > 0 and out.max() < 1
    else:  # standardized per channel over the batch
        assert torch.allclose(out.mean((0, 2, 3)), torch.zeros(4), atol=1e-5)
        assert torch.allclose(out.var((0, 2, 3), unbiased=False), torch.ones(4), atol=1e-3)


def test_baseline_cnn_refuses_unknown_bn_order() -> None:
    with pytest.raises(ValueError, match="conv_act_bn"):
        build_model("cnn", 1, 10, 16, **{**options("cnn"), "bn_order": "bn_last"})
