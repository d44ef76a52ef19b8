"""Model registry: every architecture selectable by its name in params.yaml.

A ModelSpec's build takes (in_channels, num_classes, image_size, **options) and returns
an nn.Module with a `cam_layer` attribute (the feature map Grad-CAM reads). `options`
names the params group whose keys become those keyword options (None: no options).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from imgstudy.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[..., nn.Module]
    options: str | None = None  # "cnn" | "transfer" | None


MODELS: Registry[ModelSpec] = Registry("model")


def build_model(name: str, in_channels: int, num_classes: int, image_size: int, **options) -> nn.Module:
    model = MODELS[name].build(in_channels, num_classes, image_size, **options)
    if not isinstance(getattr(model, "cam_layer", None), nn.Module):
        raise TypeError(f"model {name!r} does not expose a cam_layer module")
    return model


# Importing the modules registers their models.
from imgstudy.models import cnn, transfer  # noqa: E402,F401
