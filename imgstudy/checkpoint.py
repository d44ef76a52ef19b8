"""A trained model on disk: weights plus everything needed to use it again.

The checkpoint records the architecture, the input it expects (size, channels,
normalization), the class names and the full params that produced it, so evaluate,
explain and any later predict tool never re-type preprocessing settings.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from imgstudy.engine import Normalizer
from imgstudy.models import build_model


@dataclass(frozen=True)
class ModelCard:
    model: str
    in_channels: int
    image_size: int
    classes: list[str]
    norm: Normalizer
    channels_last: bool
    params: dict  # the resolved params of the variant that trained it
    epoch: int
    val_loss: float
    val_acc: float


def save(path: Path, model: nn.Module, card: ModelCard) -> None:
    """Write atomically, so an interrupted run never leaves a truncated checkpoint."""
    tmp = Path(str(path) + ".tmp")
    card_dict = {**asdict(card), "norm": asdict(card.norm)}
    torch.save({"card": card_dict, "state_dict": model.state_dict()}, tmp)
    os.replace(tmp, path)


def load(path: Path, device: torch.device) -> tuple[nn.Module, ModelCard]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no trained model; run the train stage")
    blob = torch.load(path, map_location=device, weights_only=True)
    raw = blob["card"]
    card = ModelCard(**{**raw, "norm": Normalizer(tuple(raw["norm"]["mean"]), tuple(raw["norm"]["std"]))})
    model = build_model(card.model, card.in_channels, len(card.classes), card.image_size)
    model.load_state_dict(blob["state_dict"])
    memory = torch.channels_last if card.channels_last else torch.contiguous_format
    return model.to(device=device, memory_format=memory).eval(), card
