"""What one variant's training is made of, built from its params by its kind (training/classify.py,
training/segment.py) and run by the one orchestration (pipeline/train.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from imgstudy.training.checkpoint import ModelCard
from imgstudy.training.fitting import FitConfig, Task


@dataclass
class Setup:
    model: nn.Module
    task: Task
    config: FitConfig
    card: ModelCard  # the model's card; epoch and scores are set for each saved epoch
    banner: str  # the log's first lines: model, device, precision, data, layers
    files: dict[str, dict] = field(default_factory=dict)  # JSON files beside the model: name -> content
