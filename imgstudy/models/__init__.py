"""Model registry: every architecture selectable by its name in params.yaml.

A builder takes (in_channels, num_classes, image_size) and returns an nn.Module that has a
`cam_layer` attribute: the layer Grad-CAM reads (the last spatial feature map).
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from imgstudy.registry import Registry

Builder = Callable[[int, int, int], nn.Module]
MODELS: Registry[Builder] = Registry("model")


def build_model(name: str, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    model = MODELS[name](in_channels, num_classes, image_size)
    if not isinstance(getattr(model, "cam_layer", None), nn.Module):
        raise TypeError(f"model {name!r} does not expose a cam_layer module")
    return model


# Importing the modules registers their models.
from imgstudy.models import cnn  # noqa: E402,F401
