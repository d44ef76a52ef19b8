"""Each set of choices is written once (imgstudy/params/choices.py): every registry of implementations
holds exactly those names, and params.yaml's comments list exactly those too."""

from __future__ import annotations

import re
import typing

import pytest

from conftest import ROOT
from imgstudy.data import catalog
from imgstudy.data.images import CHANNELS as CHANNEL_COUNTS
from imgstudy.evaluation.explain import CAM_METHODS
from imgstudy.evaluation.robustness import CORRUPTIONS
from imgstudy.models import MODELS
from imgstudy.models.cnn import ACTIVATIONS, POOLS
from imgstudy.models.transfer import ARCHS
from imgstudy.models.unet import ENCODERS
from imgstudy.params import Params, choices
from imgstudy.training.losses import LOSSES
from imgstudy.training.optim import OPTIMIZERS, SCHEDULERS
from imgstudy.training.segment import SEG_LOSSES

TIED = {
    "MODELS": (set(MODELS), set(choices.MODELS)),
    "transfer backbones": (set(ARCHS), {m for m, group in choices.MODELS.items() if group == "transfer"}),
    "OPTIMIZERS": (set(OPTIMIZERS), set(choices.OPTIMIZERS)),
    "SCHEDULERS": (set(SCHEDULERS), set(choices.SCHEDULERS)),
    "LOSSES": (set(LOSSES), set(choices.LOSSES)),
    "SEG_LOSSES": (set(SEG_LOSSES), set(choices.SEG_LOSSES)),
    "ACTIVATIONS": (set(ACTIVATIONS), set(choices.ACTIVATIONS)),
    "POOLS": (set(POOLS), set(choices.POOLS)),
    "ENCODERS": (set(ENCODERS), set(choices.ENCODERS)),
    "CORRUPTIONS": (set(CORRUPTIONS), set(choices.CORRUPTIONS)),
    "CAM_METHODS": (set(CAM_METHODS), set(choices.CAM_METHODS)),
    "DATASETS": (set(catalog.DATASETS), set(choices.DATASETS)),
    "generic datasets": (set(catalog.GENERIC), set(choices.GENERIC_DATASETS)),
    "MedMNIST": (set(catalog.MEDMNIST), set(choices.MEDMNIST)),
    "channels": (set(CHANNEL_COUNTS), set(choices.CHANNELS)),
}


@pytest.mark.parametrize("name", TIED)
def test_each_registry_holds_the_names_params_accept(name: str) -> None:
    registered, accepted = TIED[name]
    assert registered == accepted, (
        f"{name}: registered only {registered - accepted}, accepted only {accepted - registered}"
    )


def literal_names(annotation) -> set[str] | None:
    """The names a field's type accepts, when it is a Literal (or a list of one, or a union with one)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return set(args)
    for arg in args:
        names = literal_names(arg)
        if names:
            return names
    return None


def field_type(dotted: str):
    model = Params
    for key in dotted.split("."):
        field = model.model_fields.get(key)
        if field is None:
            return None
        model = field.annotation
    return model


def commented_choices() -> dict[str, list[str]]:
    """dotted key -> the names its params.yaml comment lists ("a | b | c"), a comment-only line under
    it continuing the list; names are each alternative's first word."""
    found, path, last = {}, [], None
    for line in (ROOT / "params.yaml").read_text().splitlines():
        code, _, comment = line.partition("#")
        if not code.strip():
            if last and comment and " | " in comment:  # the list goes on under its key
                found[last] += alternatives(comment)
            continue
        indent = (len(code) - len(code.lstrip())) // 2
        key = code.strip().split(":")[0]
        path = path[:indent] + [key]
        last = None
        if " | " in comment:
            last = ".".join(path)
            found[last] = alternatives(comment)
    return found


def alternatives(comment: str) -> list[str]:
    words = [part.strip().split(" ")[0] for part in comment.split("|")]
    return [w.rstrip(":,") for w in words if re.fullmatch(r"[a-z][a-z0-9_+]*:?,?", w)]


def test_params_yaml_comments_list_the_accepted_names() -> None:
    checked = 0
    for dotted, names in commented_choices().items():
        accepted = literal_names(field_type(dotted))
        if accepted is None:
            continue
        assert set(names) == accepted, (
            f"params.yaml comment of {dotted} lists {names}; params accept {sorted(accepted)}"
        )
        checked += 1
    assert checked >= 25, checked  # the comments were read
