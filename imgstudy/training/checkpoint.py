"""A trained model on disk: weights plus everything needed to use it again, for both kinds of model.

The card records the kind (classifier or segmenter), the architecture and its options, the input it
expects (channels, normalization, memory format), the class names, the full params that produced
it and the validation scores of the epoch it holds, so evaluate, explain and any later predict tool
never re-type preprocessing settings. It is written and read here only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from imgstudy.models import build_model
from imgstudy.models.unet import build_unet
from imgstudy.training.inputs import Inputs
from imgstudy.training.precision import Precision, choose_precision
from imgstudy.training.resume import atomic_save

# kind -> (the params section it trained from, its builder (name, channels, classes, size, **options))
KINDS = {
    "classifier": ("train", build_model),
    "segmenter": ("segment", lambda name, c, k, size, **options: build_unet(c, k, **options)),
}


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    kind: str  # classifier | segmenter
    model: str  # a registered model name; "unet" for a segmenter
    model_options: dict
    image_size: int
    stored_channels: int  # channels of the preprocessed store: what new images are decoded to
    classes: list[str]  # class names; a segmenter's mask classes
    inputs: Inputs
    precision: str  # what training ran in (fp32 | bf16 | fp16); inference decides again where it runs
    params: dict  # the resolved params of the variant that trained it
    epoch: int = -1  # the epoch whose weights the file holds
    scores: dict = field(default_factory=dict)  # that epoch's validation scores (val_loss, val_acc | val_dice...)
    summary: dict = field(default_factory=dict)  # layers, parameters, mult-adds (torchinfo)

    @property
    def section(self) -> str:
        return KINDS[self.kind][0]


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
    build = KINDS[card.kind][1]
    model = build(card.model, card.inputs.channels, len(card.classes), card.image_size, **options)
    model.load_state_dict(blob["state_dict"])
    memory = torch.channels_last if card.inputs.channels_last else torch.contiguous_format
    return model.to(device=device, memory_format=memory).eval(), card


def inference_precision(card: ModelCard, device: torch.device) -> Precision:
    """The precision to run a trained model in here: its variant's speed.precision decided on this
    machine (a model trained in bf16 on an AMX CPU runs in fp32 on an AVX2 one)."""
    return choose_precision(card.params[card.section]["speed"]["precision"], device)
