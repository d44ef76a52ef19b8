"""The typed schema of params.yaml: load, merge a variant, validate, fail with clear errors.

This is the only module that reads params.yaml. Every key is required (no hidden
defaults in code) and unknown keys are refused, so a typo fails before work starts.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from imgstudy.errors import ParamsError
from imgstudy.registry import Registry


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _in_registry(registry: Registry, value: str) -> str:
    if value not in registry:
        raise ValueError(f"unknown {registry.kind} {value!r}; choose one of {registry.names()}")
    return value


def _optimizer_name(v: str) -> str:
    from imgstudy.training.optim import OPTIMIZERS

    return _in_registry(OPTIMIZERS, v)


OptimizerName = Annotated[str, AfterValidator(_optimizer_name)]  # train and segment share the registry


class Paths(Section):
    raw: str
    store: str
    splits: str
    models: str
    live: str
    metrics: str
    plots: str
    predictions: str
    best: str
    reports: str
    seg: str  # the segmentation branch: seg/models, seg/live, seg/metrics, seg/plots per variant
    compare: str  # the comparison: tables, summary.json (the study's top-level metrics), plots


class Base(Section):
    seed: int = Field(ge=0)
    device: Literal["auto", "cpu", "cuda", "mps"]
    threads: int = Field(ge=0, description="torch intra-op threads; 0 = all cores (shared among processes)")
    processes: int = Field(ge=1, description="data-parallel training processes on this machine (torchrun)")


class Download(Section):
    dataset: str
    source: Literal["auto", "local", "url"]
    location: str = Field(description="generic kinds: the URL, Kaggle slug or local path")
    checksum: str = Field(description="sha256:<hex> or md5:<hex> of a url download; empty: none")

    @field_validator("dataset")
    @classmethod
    def _known(cls, v: str) -> str:
        from imgstudy.data.catalog import DATASETS, GENERIC

        if v not in DATASETS and v not in GENERIC:
            raise ValueError(
                f"unknown dataset {v!r}; choose a catalog name {DATASETS.names()} or a generic kind {sorted(GENERIC)}"
            )
        return v

    @model_validator(mode="after")
    def _location(self) -> Download:
        from imgstudy.data.catalog import GENERIC

        if self.dataset in GENERIC and not self.location:
            raise ValueError(f"dataset {self.dataset!r} needs download.location (a URL, Kaggle slug or path)")
        if self.checksum:
            from imgstudy.data.fetch import parse_checksum

            parse_checksum(self.checksum)
        return self


class Preprocess(Section):
    size: int = Field(ge=8, le=1024)
    resize: Literal["letterbox", "stretch"]
    channels: Literal["native", "gray", "rgb"]
    equalize: Literal["none", "global", "clahe"]
    clahe_clip: float = Field(gt=0)
    max_samples: int = Field(ge=0, description="0 = all; else a stratified random subset")
    max_bad_fraction: float = Field(ge=0, le=1, description="fail when more files than this cannot be decoded")
    workers: int = Field(ge=0, description="decoding processes; 0 = all cores")
    masks: Literal["binary", "labels", "colors"] = Field(description="how mask files code their classes")
    mask_colors: list[list[int]] = Field(description="masks: colors -> the [R, G, B] of class 0, 1, ...")
    mask_classes: list[str] = Field(description="names of the mask classes; [] = the source's or generic names")
    hu_window: list[float] = Field(min_length=2, max_length=2, description="NIfTI CT: [low, high] Hounsfield units")

    @model_validator(mode="after")
    def _masks(self) -> Preprocess:
        if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in self.mask_colors):
            raise ValueError(f"mask_colors {self.mask_colors}: each entry is [R, G, B] with values 0..255")
        if self.masks == "colors" and len(self.mask_colors) < 2:
            raise ValueError("masks: colors needs preprocess.mask_colors, the [R, G, B] of each class (at least 2)")
        if self.hu_window[0] >= self.hu_window[1]:
            raise ValueError(f"hu_window {self.hu_window}: low must be below high")
        return self


class Split(Section):
    test: Literal["official", "fraction"]
    val_fraction: float = Field(gt=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    folds: int = Field(ge=0, description="k-fold cross-validation over train+val; 0 or 1 = off")


class Cnn(Section):
    """Options of model `cnn`, the baseline CNN built from params."""

    widths: list[int] = Field(min_length=1)
    kernel: int = Field(ge=1)
    pool: Literal["max", "avg"]
    batchnorm: bool
    bn_order: Literal["conv_bn_act", "conv_act_bn"]
    dropout: float = Field(ge=0, lt=1)
    activation: str
    head: Literal["flatten", "gap"]
    dense: list[int]

    @field_validator("activation")
    @classmethod
    def _activation(cls, v: str) -> str:
        from imgstudy.models.cnn import ACTIVATIONS

        return _in_registry(ACTIVATIONS, v)


class Transfer(Section):
    """Options of the torchvision backbones."""

    weights: Literal["imagenet", "imagenet_or_random", "none"]
    freeze: bool
    unfreeze_blocks: int = Field(ge=0, description="with freeze: the last N blocks still train")
    head_dropout: float = Field(ge=0, lt=1)
    init: Literal["xavier_uniform", "kaiming", "default"]


class Finetune(Section):
    """Second training phase of transfer models: unfreeze the last blocks at a lower lr."""

    epochs: int = Field(ge=0, description="0 = no second phase")
    unfreeze_blocks: int = Field(ge=1)
    lr: float = Field(gt=0)


class AugmentParams(Section):
    rotation: float = Field(ge=0, le=180)
    zoom: float = Field(ge=0, lt=1)
    shift: float = Field(ge=0, lt=1)
    shrink: float = Field(ge=0, lt=1)
    contrast: float = Field(ge=0, le=1)
    brightness: float = Field(ge=0, le=1)
    hflip: bool
    vflip: bool
    thin: float = Field(ge=0, le=1)
    policy: Literal["none", "randaugment", "trivialaugment"] = Field(description="torchvision's policies")
    erase: float = Field(ge=0, le=1, description="random erasing: probability per image")


class Speed(Section):
    precision: Literal["auto", "fp32", "bf16", "fp16"]
    channels_last: bool
    feature_cache: bool


class SegSpeed(Section):
    precision: Literal["auto", "fp32", "bf16", "fp16"]
    channels_last: bool


class Fitting(Section):
    """How a network is fitted: shared by the classifiers (train) and the UNets (segment)."""

    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    optimizer: OptimizerName
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    momentum: float = Field(ge=0, lt=1)
    nesterov: bool
    scheduler: str
    warmup_epochs: int = Field(ge=0)
    step_size: int = Field(ge=1, description="step: epochs between decays; plateau: patience")
    gamma: float = Field(gt=0, le=1)
    grad_clip: float = Field(ge=0, description="max gradient norm; 0 = off")
    patience: int = Field(ge=0, description="epochs without improvement before stopping; 0 = never stop early")

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        from imgstudy.training.optim import SCHEDULERS

        return _in_registry(SCHEDULERS, v)


class Train(Fitting):
    model: str
    channels: Literal["native", "gray", "rgb"]
    equalize: Literal["none", "global", "clahe"] = Field(description="per variant, once per loaded split")
    clahe_clip: float = Field(gt=0)
    normalize: Literal["dataset", "imagenet", "per_image", "zca", "none"]
    zca_epsilon: float = Field(gt=0, description="ZCA whitening: added to the eigenvalues")
    loss: str
    label_smoothing: float = Field(ge=0, lt=1)
    focal_gamma: float = Field(ge=0)
    class_weights: Literal["none", "balanced"] | list[float]
    monitor: Literal["val_loss", "val_acc"]
    accumulate: int = Field(ge=1, description="batches whose gradients add up before one optimizer step")
    ema: float = Field(ge=0, lt=1, description="decay of the weights' moving average; 0 = off")
    backbone_lr_scale: float = Field(gt=0, description="the backbone's lr over the head's (transfer models)")
    sampling: Literal["uniform", "balanced"]
    mixup: float = Field(ge=0, description="Beta(a, a) of mixup; 0 = off")
    cutmix: float = Field(ge=0, description="Beta(a, a) of cutmix; 0 = off")
    mix_prob: float = Field(ge=0, le=1, description="share of batches mixed when mixup or cutmix is on")
    cnn: Cnn
    transfer: Transfer
    finetune: Finetune
    augment: AugmentParams
    speed: Speed

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        from imgstudy.models import MODELS

        return _in_registry(MODELS, v)

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: str) -> str:
        from imgstudy.training.losses import LOSSES

        return _in_registry(LOSSES, v)

    @model_validator(mode="after")
    def _finetune_needs_a_backbone(self) -> Train:
        from imgstudy.models import MODELS

        if self.finetune.epochs and MODELS[self.model].options != "transfer":
            raise ValueError(f"finetune.epochs > 0 needs a transfer backbone; {self.model!r} has no blocks to unfreeze")
        return self


class Unet(Section):
    depth: int = Field(ge=1, le=6, description="plain encoder: max-pool steps")
    width: int = Field(ge=2, description="channels of the first level, doubled at each step")
    batchnorm: bool
    dropout: float = Field(ge=0, lt=1)
    upsample: Literal["transpose", "bilinear"]
    encoder: str = Field(description="none (the classic UNet) | resnet18 | mobilenet_v2")
    weights: Literal["imagenet", "imagenet_or_random", "none"]

    @field_validator("encoder")
    @classmethod
    def _encoder(cls, v: str) -> str:
        from imgstudy.models.unet import ENCODERS

        return _in_registry(ENCODERS, v)


class Segment(Fitting):
    """The segmentation branch: a UNet trained on the masks of the store (early stopping on val Dice)."""

    unet: Unet
    channels: Literal["native", "gray", "rgb"]
    normalize: Literal["dataset", "imagenet", "per_image", "none"]
    init: Literal["xavier_uniform", "kaiming", "default"]
    loss: str
    focal_gamma: float = Field(ge=0)
    augment: AugmentParams
    speed: SegSpeed
    overlays: int = Field(ge=1, le=16, description="test images shown for each of best, median and worst")

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: str) -> str:
        from imgstudy.training.segment import SEG_LOSSES

        return _in_registry(SEG_LOSSES, v)

    @field_validator("augment")
    @classmethod
    def _image_only(cls, v: AugmentParams) -> AugmentParams:
        if v.thin:
            raise ValueError("thin erodes image strokes but not their masks; keep it 0 for segmentation")
        if v.policy != "none":
            raise ValueError("augment policies move images without their masks; keep policy: none for segmentation")
        return v


class Evaluate(Section):
    batch_size: int = Field(ge=1)
    tta: Literal["none", "hflip", "hflip_shift"] = Field(description="test-time augmentation: averaged views")
    latency_repeats: int = Field(ge=0, description="timed calls per batch size (1 and 256); 0 = not measured")


class Altered(Section):
    """The MNIST study's mixed test set: the test images, an augmented copy and an "imperfect" copy."""

    enabled: bool
    rotation: float = Field(ge=0, le=180, description="augmented copy: degrees either way")
    zoom: float = Field(ge=0, lt=1)
    shift: float = Field(ge=0, lt=1)
    shrink: float = Field(ge=0, lt=1, description="imperfect copy: strokes eroded, digit shrunk by up to this")


class Robustness(Section):
    corruptions: list[str] = Field(min_length=1)
    max_samples: int = Field(ge=0, description="test images corrupted; 0 = all")
    batch_size: int = Field(ge=1)
    altered: Altered

    @field_validator("corruptions")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from imgstudy.evaluation.robustness import CORRUPTIONS

        return [_in_registry(CORRUPTIONS, c) for c in v]


class Explain(Section):
    method: str
    per_class: int = Field(ge=1, le=32, description="right and wrong test images shown per class")
    mean_map_samples: int = Field(ge=1, description="test images averaged into each class's mean map")
    deletion_steps: int = Field(ge=2, le=100, description="steps of the deletion curve")

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        from imgstudy.evaluation.explain import CAM_METHODS

        return _in_registry(CAM_METHODS, v)


class Compare(Section):
    metric: Literal["accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"]
    bootstrap: int = Field(ge=10, description="resamples of the test set for the intervals")
    confidence: float = Field(gt=0.5, lt=1)
    columns: dict[str, str] = Field(description="table column title -> dotted params key")
    plot_metrics: list[Literal["accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"]] = Field(
        min_length=1
    )
    headline: list[Literal["accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"]] = Field(
        min_length=1, description="per variant in summary.json, the study's top-level metrics (dvc exp show)"
    )


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
    sampler: Literal["tpe", "random"]
    trials: int = Field(ge=1, description="total trials; a rerun continues the saved study")
    variant: str = Field(description="the variant whose settings the trials start from")
    metric: Literal["val_loss", "val_acc"]
    space: dict[str, SearchDim] = Field(min_length=1, description="dotted train key -> range or choices")


class Tracking(Section):
    mlflow: bool = Field(description="also log params, metrics and the model to MLflow")
    uri: str = Field(description="MLflow tracking URI, e.g. sqlite:///mlflow.db or http://server:5000")
    experiment: str


# The sections a variant may override (the data stages are shared by all variants).
# base too: a variant that differs only in base.seed is the same configuration on another
# seed (compare reports mean and std across such variants).
VARIANT_SECTIONS = ("base", "train", "evaluate", "robustness", "explain", "segment")


class Params(Section):
    paths: Paths
    base: Base
    download: Download
    preprocess: Preprocess
    split: Split
    train: Train
    evaluate: Evaluate
    robustness: Robustness
    explain: Explain
    compare: Compare
    search: Search
    tracking: Tracking
    segment: Segment
    variants: dict[str, dict[str, dict[str, Any]]]
    grid: list[str] = Field(min_length=1, description="the variants dvc.yaml builds")
    seg_grid: list[str] = Field(description="the segmentation variants dvc.yaml builds; [] = none")

    @model_validator(mode="after")
    def _grid_names_variants(self) -> Params:
        for name in self.grid + self.seg_grid:
            if name not in self.variants:
                raise ValueError(
                    f"grid or seg_grid lists {name!r}, which is not under variants: {sorted(self.variants)}"
                )
            if "." in name:
                raise ValueError(
                    f"variant {name!r}: no dots in variant names (DVC reads them as nesting); write A0 for A.0"
                )
        if self.search.variant not in self.variants:
            raise ValueError(f"search.variant {self.search.variant!r} is not under variants: {sorted(self.variants)}")
        train_keys = self.train.model_dump()
        for dotted in self.search.space:
            node: Any = {"train": train_keys}
            for key in dotted.split("."):
                if not isinstance(node, dict) or key not in node:
                    raise ValueError(
                        f"search.space key {dotted!r}: not a train setting (only train settings are searched)"
                    )
                node = node[key]
        for title, dotted in self.compare.columns.items():
            node: Any = self.model_dump()
            for key in dotted.split("."):
                if not isinstance(node, dict) or key not in node:
                    raise ValueError(f"compare.columns.{title} names {dotted!r}, which is not a params key")
                node = node[key]
        return self


# Maps keyed by the user's own names, not by the schema: an override replaces them whole
# (a preset's variants are not added to the default study's).
REPLACED = {("variants",), ("grid",), ("seg_grid",), ("compare", "columns"), ("search", "space")}


def merge(base: dict, override: dict, path: tuple[str, ...] = ()) -> dict:
    """base with override's keys set, nested sections merged key by key: how a variant applies to
    the base sections and how a study preset applies to the default params."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and path + (key,) not in REPLACED:
            out[key] = merge(out[key], value, path + (key,))
        else:
            out[key] = copy.deepcopy(value)
    return out


def repeated(base: dict, override: dict, path: tuple[str, ...] = ()) -> list[str]:
    """The dotted keys where override sets exactly the value base already has."""
    found = []
    for key, value in override.items():
        if key not in base:
            continue
        if isinstance(value, dict) and isinstance(base[key], dict) and path + (key,) not in REPLACED:
            found += repeated(base[key], value, path + (key,))
        elif value == base[key]:
            found.append(".".join(path + (key,)))
    return found


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
            # a check across sections has no key of its own: its message names the keys
            lines.append(f"{key} = {e['input']!r}: {msg}" if e["loc"] else f"{prefix}{msg}")
    return ParamsError(f"{source}: invalid params:\n  " + "\n  ".join(lines))


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-3` as a string; accept the YAML 1.2 float forms people write."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?[eE][-+]?[0-9]+$|^[-+]?[0-9][0-9_]*\.[0-9_]*$"
        r"|^[-+]?\.[0-9_]+$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def yaml_text(text: str, source: str = "params") -> dict:
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ParamsError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    return yaml_text(path.read_text(), str(path))


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
            raise ParamsError(
                f"{source}: variants.{name} overrides {bad}; a variant may override {list(VARIANT_SECTIONS)}"
            )
        try:
            merged = Params.model_validate(merge(raw, override))
        except ValidationError as e:
            raise _explain(e, source, prefix=f"variants.{name} -> ") from None
        if name == variant:
            params = merged
    if variant is not None and variant not in params.variants:
        raise ParamsError(f"{source}: unknown variant {variant!r}; variants: {sorted(params.variants)}")
    return params


# train.<group>.* settings change the model only for the models that read that group
MODEL_GROUPS = {"train.transfer.": "transfer", "train.finetune.": "transfer", "train.cnn.": "cnn"}


def check_search_space(raw: dict, source: str = "params") -> Params:
    """The search variant's params, once its search space is known to hold only keys that change
    the model it trains (tools.search calls it before any trial)."""
    from imgstudy.models import MODELS

    searched = resolve(raw, resolve(raw, source=source).search.variant, source)
    group = MODELS[searched.train.model].options
    for dotted in searched.search.space:
        for prefix, needs in MODEL_GROUPS.items():
            if dotted.startswith(prefix) and group != needs:
                raise ParamsError(
                    f"{source}: search.space key {dotted!r} does not change model "
                    f"{searched.train.model!r} (variant {searched.search.variant}); it only applies to "
                    f"models with {needs!r} options"
                )
    return searched


def load(path: str | Path = "params.yaml", variant: str | None = None) -> Params:
    return resolve(read_yaml(path), variant, source=str(path))
