"""The segmentation section of params.yaml: a UNet fitted on the store's masks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from imgstudy.params.choices import CHANNELS, ENCODERS, INITS, PRECISIONS, SEG_LOSSES, SEG_NORMALIZE, UPSAMPLE, WEIGHTS
from imgstudy.params.section import Section
from imgstudy.params.train import Augment, Fitting


class Unet(Section):
    depth: int = Field(ge=1, le=6)
    width: int = Field(ge=2)
    batchnorm: bool
    dropout: float = Field(ge=0, lt=1)
    upsample: Literal[UPSAMPLE]
    encoder: Literal[ENCODERS]
    weights: Literal[WEIGHTS]


class SegSpeed(Section):
    precision: Literal[PRECISIONS]
    channels_last: bool


class Segment(Fitting):
    """The segmentation branch: a UNet trained on the masks of the store (early stopping on val Dice)."""

    unet: Unet
    channels: Literal[CHANNELS]
    normalize: Literal[SEG_NORMALIZE]
    init: Literal[INITS]
    loss: Literal[SEG_LOSSES]
    focal_gamma: float = Field(ge=0)
    augment: Augment
    speed: SegSpeed
    overlays: int = Field(ge=1, le=16)

    @property
    def model_options(self) -> dict:
        return self.unet.model_dump() | {"init": self.init}

    @field_validator("augment")
    @classmethod
    def _image_only(cls, v: Augment) -> Augment:
        if v.thin:
            raise ValueError("thin erodes image strokes but not their masks; keep it 0 for segmentation")
        if v.policy != "none":
            raise ValueError("augment policies move images without their masks; keep policy: none for segmentation")
        return v
