"""The typed schema of params.yaml: load, merge a variant, validate, fail with clear errors.

This is the only module that reads params.yaml. Every key is required (no hidden
defaults in code) and unknown keys are refused, so a typo fails before work starts.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from imgstudy.registry import Registry


class ParamsError(ValueError):
    """A params file that cannot be used; the message names the file, key and value."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _in_registry(registry: Registry, value: str) -> str:
    if value not in registry:
        raise ValueError(f"unknown {registry.kind} {value!r}; choose one of {registry.names()}")
    return value


class Paths(Section):
    raw: str
    store: str
    splits: str
    models: str
    live: str
    metrics: str
    plots: str


class Base(Section):
    seed: int = Field(ge=0)
    device: Literal["auto", "cpu", "cuda", "mps"]
    threads: int = Field(ge=0, description="torch intra-op threads; 0 = all cores")


class Download(Section):
    dataset: str
    source: Literal["auto", "local", "url"]

    @field_validator("dataset")
    @classmethod
    def _known(cls, v: str) -> str:
        from imgstudy.sources import DATASETS

        return _in_registry(DATASETS, v)


class Preprocess(Section):
    size: int = Field(ge=8, le=1024)
    resize: Literal["letterbox", "stretch"]
    max_samples: int = Field(ge=0, description="0 = all; else a stratified random subset")


class Split(Section):
    test: Literal["official", "fraction"]
    val_fraction: float = Field(gt=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)


class Train(Section):
    model: str
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    optimizer: str
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    scheduler: str
    loss: str
    patience: int = Field(ge=1, description="epochs without val-loss improvement before stopping")
    channels_last: bool

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        from imgstudy.models import MODELS

        return _in_registry(MODELS, v)

    @field_validator("optimizer")
    @classmethod
    def _optimizer(cls, v: str) -> str:
        from imgstudy.engine import OPTIMIZERS

        return _in_registry(OPTIMIZERS, v)

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        from imgstudy.engine import SCHEDULERS

        return _in_registry(SCHEDULERS, v)

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: str) -> str:
        from imgstudy.engine import LOSSES

        return _in_registry(LOSSES, v)


class Evaluate(Section):
    batch_size: int = Field(ge=1)


class Explain(Section):
    method: str
    per_class: int = Field(ge=1, le=32, description="test images shown per class")

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        from imgstudy.explain import CAM_METHODS

        return _in_registry(CAM_METHODS, v)


# The sections a variant may override (the data stages are shared by all variants).
VARIANT_SECTIONS = ("train", "evaluate", "explain")


class Params(Section):
    paths: Paths
    base: Base
    download: Download
    preprocess: Preprocess
    split: Split
    train: Train
    evaluate: Evaluate
    explain: Explain
    variants: dict[str, dict[str, dict[str, Any]]]
    grid: list[str] = Field(min_length=1, description="the variants dvc.yaml builds")

    @model_validator(mode="after")
    def _grid_names_variants(self) -> "Params":
        for name in self.grid:
            if name not in self.variants:
                raise ValueError(f"grid lists {name!r}, which is not under variants: {sorted(self.variants)}")
        return self


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _field_names(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed beside the offending one, for 'unknown key' messages."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def _explain(error: ValidationError, source: str, prefix: str = "") -> ParamsError:
    lines = []
    for e in error.errors():
        key = prefix + ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown key {key!r}; allowed keys here: {_field_names(Params, e['loc'])}")
        elif e["type"] == "missing":
            lines.append(f"missing key {key!r}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{key} = {e['input']!r}: {msg}")
    return ParamsError(f"{source}: invalid params:\n  " + "\n  ".join(lines))


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def resolve(raw: dict, variant: str | None = None, source: str = "params") -> Params:
    """Validate raw params; with a variant, return the base merged with its overrides.

    Every variant is validated, not only the one asked for, so a typo in any variant
    fails every stage before work starts.
    """
    try:
        params = Params.model_validate(raw)
    except ValidationError as e:
        raise _explain(e, source) from None
    for name, override in params.variants.items():
        bad = sorted(set(override) - set(VARIANT_SECTIONS))
        if bad:
            raise ParamsError(f"{source}: variants.{name} overrides {bad}; a variant may override {list(VARIANT_SECTIONS)}")
        try:
            merged = Params.model_validate(_deep_merge(raw, override))
        except ValidationError as e:
            raise _explain(e, source, prefix=f"variants.{name} -> ") from None
        if name == variant:
            params = merged
    if variant is not None and variant not in params.variants:
        raise ParamsError(f"{source}: unknown variant {variant!r}; variants: {sorted(params.variants)}")
    return params


def load(path: str | Path = "params.yaml", variant: str | None = None) -> Params:
    return resolve(read_yaml(path), variant, source=str(path))
