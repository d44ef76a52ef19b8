"""The sections of params.yaml after training: evaluate, robustness, explain, compare, search, tracking."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from imgstudy.params.choices import CAM_METHODS, CORRUPTIONS, METRICS, MONITORS, SAMPLERS, TTA
from imgstudy.params.section import Section


class Evaluate(Section):
    batch_size: int = Field(ge=1)
    tta: Literal[TTA]


class Altered(Section):
    """The MNIST study's mixed test set: the test images, an augmented copy and an "imperfect" copy."""

    enabled: bool
    rotation: float = Field(ge=0, le=180)
    zoom: float = Field(ge=0, lt=1)
    shift: float = Field(ge=0, lt=1)
    shrink: float = Field(ge=0, lt=1)


class Robustness(Section):
    corruptions: list[Literal[CORRUPTIONS]] = Field(min_length=1)
    max_samples: int = Field(ge=0)
    batch_size: int = Field(ge=1)
    altered: Altered


class Explain(Section):
    method: Literal[CAM_METHODS]
    per_class: int = Field(ge=1, le=32)
    mean_map_samples: int = Field(ge=1)
    deletion_steps: int = Field(ge=2, le=100)


class Compare(Section):
    metric: Literal[METRICS]
    bootstrap: int = Field(ge=10)
    confidence: float = Field(gt=0.5, lt=1)
    columns: dict[str, str]  # table column title -> dotted params key
    plot_metrics: list[Literal[METRICS]] = Field(min_length=1)
    headline: list[Literal[METRICS]] = Field(min_length=1)


class SearchDim(Section):
    """One dimension of the search space: a range (low, high, log) or a list of choices."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchDim:
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("give either low and high, or choices")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        return self


class Search(Section):
    sampler: Literal[SAMPLERS]
    trials: int = Field(ge=1)
    variant: str
    metric: Literal[MONITORS]
    space: dict[str, SearchDim] = Field(min_length=1)


class Tracking(Section):
    mlflow: bool
    uri: str
    experiment: str
