"""The model registry: every architecture selectable by its name in params.yaml (train.model).

A builder takes (in_channels, num_classes, image_size, **options) and returns an nn.Module with a
`cam_layer` attribute (the feature map Grad-CAM reads); the options are the params group the model
reads (imgstudy/params/choices.py MODELS: train.cnn, train.transfer or none). A leaf: the modules
that define models import it and register themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from imgstudy.core.registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def build_model(name: str, in_channels: int, num_classes: int, image_size: int, **options) -> nn.Module:
    model = MODELS[name](in_channels, num_classes, image_size, **options)
    if not isinstance(getattr(model, "cam_layer", None), nn.Module):
        raise TypeError(f"model {name!r} does not expose a cam_layer module")
    return model
