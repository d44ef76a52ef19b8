"""What the stages after training share: a trained model loaded where the stage runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from imgstudy.params import Params
from imgstudy.training import checkpoint
from imgstudy.training.checkpoint import ModelCard
from imgstudy.training.precision import Precision
from imgstudy.training.runtime import select_device, setup_runtime


@dataclass(frozen=True)
class Trained:
    model: nn.Module
    card: ModelCard
    device: torch.device
    precision: Precision  # the variant's precision decided on this machine


def load_trained(params: Params, model_dir: Path) -> Trained:
    """The variant's model, seeded and threaded as its params say, on the device they pick."""
    setup_runtime(params.base.seed, params.base.threads)
    device = select_device(params.base.device)
    model, card = checkpoint.load(model_dir / "model.pt", device)
    return Trained(model, card, device, checkpoint.inference_precision(card, device))
