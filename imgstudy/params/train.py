"""The training sections of params.yaml: how a network is fitted (shared by train and segment) and
the classifier's train section with its model, transfer and augmentation groups."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from imgstudy.params.choices import (
    ACTIVATIONS,
    BN_ORDERS,
    CHANNELS,
    CLASS_WEIGHTS,
    EQUALIZE,
    FILLS,
    HEADS,
    INITS,
    LOSSES,
    MODEL_NAMES,
    MODELS,
    MONITORS,
    NORMALIZE,
    OPTIMIZERS,
    POLICIES,
    POOLS,
    PRECISIONS,
    SAMPLING,
    SCHEDULERS,
    WEIGHTS,
)
from imgstudy.params.section import Section


class Cnn(Section):
    """Options of model `cnn`, the baseline CNN built from params."""

    widths: list[int] = Field(min_length=1)
    kernel: int = Field(ge=1)
    pool: Literal[POOLS]
    batchnorm: bool
    bn_order: Literal[BN_ORDERS]
    dropout: float = Field(ge=0, lt=1)
    activation: Literal[ACTIVATIONS]
    head: Literal[HEADS]
    dense: list[int]


class Transfer(Section):
    """Options of the torchvision backbones."""

    weights: Literal[WEIGHTS]
    freeze: bool
    unfreeze_blocks: int = Field(ge=0)
    head_dropout: float = Field(ge=0, lt=1)
    init: Literal[INITS]


class Finetune(Section):
    """Second training phase of transfer models: unfreeze the last blocks at a lower lr."""

    epochs: int = Field(ge=0)
    unfreeze_blocks: int = Field(ge=1)
    lr: float = Field(gt=0)


class Augment(Section):
    rotation: float = Field(ge=0, le=180)
    zoom: float = Field(ge=0, lt=1)
    shift: float = Field(ge=0, lt=1)
    shrink: float = Field(ge=0, lt=1)
    contrast: float = Field(ge=0, le=1)
    brightness: float = Field(ge=0, le=1)
    hflip: bool
    vflip: bool
    thin: float = Field(ge=0, le=1)
    fill: Literal[FILLS]
    policy: Literal[POLICIES]
    erase: float = Field(ge=0, le=1)


class Speed(Section):
    precision: Literal[PRECISIONS]
    channels_last: bool
    feature_cache: bool


class Fitting(Section):
    """How a network is fitted: shared by the classifiers (train) and the UNets (segment)."""

    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    optimizer: Literal[OPTIMIZERS]
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    momentum: float = Field(ge=0, lt=1)
    nesterov: bool
    scheduler: Literal[SCHEDULERS]
    warmup_epochs: int = Field(ge=0)
    step_size: int = Field(ge=1)
    gamma: float = Field(gt=0, le=1)
    grad_clip: float = Field(ge=0)
    patience: int = Field(ge=0)


class Train(Fitting):
    model: Literal[MODEL_NAMES]
    channels: Literal[CHANNELS]
    equalize: Literal[EQUALIZE]
    clahe_clip: float = Field(gt=0)
    normalize: Literal[NORMALIZE]
    zca_epsilon: float = Field(gt=0)
    loss: Literal[LOSSES]
    label_smoothing: float = Field(ge=0, lt=1)
    focal_gamma: float = Field(ge=0)
    class_weights: Literal[CLASS_WEIGHTS] | list[float]
    monitor: Literal[MONITORS]
    accumulate: int = Field(ge=1)
    ema: float = Field(ge=0, lt=1)
    backbone_lr_scale: float = Field(gt=0)
    sampling: Literal[SAMPLING]
    mixup: float = Field(ge=0)
    cutmix: float = Field(ge=0)
    mix_prob: float = Field(ge=0, le=1)
    cnn: Cnn
    transfer: Transfer
    finetune: Finetune
    augment: Augment
    speed: Speed

    @property
    def model_group(self) -> str | None:
        """The options group the model reads ("cnn", "transfer") or None."""
        return MODELS[self.model]

    @property
    def model_options(self) -> dict:
        return getattr(self, self.model_group).model_dump() if self.model_group else {}

    @model_validator(mode="after")
    def _finetune_needs_a_backbone(self) -> Train:
        if self.finetune.epochs and self.model_group != "transfer":
            raise ValueError(f"finetune.epochs > 0 needs a transfer backbone; {self.model!r} has no blocks to unfreeze")
        return self
