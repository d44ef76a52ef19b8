"""A trained model on disk: weights plus everything needed to use it again.

The card records the architecture and its options, the input it expects (channels,
normalization, memory format), the class names and the full params that produced it,
so evaluate, explain and any later predict tool never re-type preprocessing settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from imgstudy.models import build_model
from imgstudy.training.inputs import Inputs
from imgstudy.training.precision import Precision, choose_precision


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    model: str
    model_options: dict
    image_size: int
    stored_channels: int  # channels of the preprocessed store: what new images are decoded to
    classes: list[str]
    inputs: Inputs
    precision: str  # what training ran in (fp32 | bf16 | fp16); inference decides again where it runs
    params: dict  # the resolved params of the variant that trained it
    epoch: int
    val_loss: float
    val_acc: float
    summary: dict  # layers, parameters, mult-adds (torchinfo)


def atomic_save(obj: dict, path: Path) -> None:
    """torch.save to a temporary file renamed into place: a kill never leaves a torn file."""
    tmp = Path(str(path) + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save(path: Path, model: nn.Module, card: ModelCard) -> None:
    atomic_save({"card": asdict(card), "state_dict": model.state_dict()}, path)


def load(path: Path, device: torch.device) -> tuple[nn.Module, ModelCard]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no trained model; run the train stage")
    blob = torch.load(path, map_location=device, weights_only=True)
    raw = blob["card"]
    card = ModelCard(**{**raw, "inputs": Inputs.from_card(raw["inputs"])})
    # Weights come from the checkpoint: never fetch ImageNet weights again to rebuild.
    options = {**card.model_options, "weights": "none"} if "weights" in card.model_options else card.model_options
    model = build_model(card.model, card.inputs.channels, len(card.classes), card.image_size, **options)
    model.load_state_dict(blob["state_dict"])
    memory = torch.channels_last if card.inputs.channels_last else torch.contiguous_format
    return model.to(device=device, memory_format=memory).eval(), card


def inference_precision(card: ModelCard, device: torch.device) -> Precision:
    """The precision to run a trained model in here: its variant's train.speed.precision decided on
    this machine (a model trained in bf16 on an AMX CPU runs in fp32 on an AVX2 one)."""
    return choose_precision(card.params["train"]["speed"]["precision"], device)


def fingerprint(resolved: dict, store: Path, splits: Path, sections: tuple[str, ...] = ("base", "train")) -> str:
    """Same params and same data -> same fingerprint: only then may a saved state be resumed."""
    h = hashlib.sha256(json.dumps({k: resolved[k] for k in sections}, sort_keys=True).encode())
    h.update((store / "meta.json").read_bytes())
    for name in ("train", "val"):
        h.update((splits / f"{name}.npy").read_bytes())
    return h.hexdigest()


def finished_epochs(state: Path, stamp: str) -> int | None:
    """Epochs a resumable state holds, or None when there is none for this fingerprint."""
    if not state.is_file():
        return None
    saved = torch.load(state, map_location="cpu", weights_only=True)
    return len(saved["history"]) if saved.get("fingerprint") == stamp else None
