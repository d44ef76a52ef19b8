"""Reading params: YAML in, a variant or a preset merged, the schema checked, errors that name the key.

This is the only module that parses params.yaml. Every key is required (no hidden defaults in
code) and unknown keys are refused, so a typo fails before work starts.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from imgstudy.core.errors import ParamsError
from imgstudy.params.choices import MODEL_GROUPS, MODELS
from imgstudy.params.schema import VARIANT_SECTIONS, Params

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
        key = prefix + ".".join(str(p) for p in e["loc"] if not str(p).startswith("literal["))
        if e["type"] == "extra_forbidden":
            lines.append(f"unknown key {key!r}; allowed keys here: {_field_names(Params, e['loc'])}")
        elif e["type"] == "missing":
            lines.append(f"missing key {key!r}")
        elif e["type"] == "literal_error":  # a name that is not among the choices (params/choices.py)
            what = next(str(p) for p in reversed(e["loc"]) if not isinstance(p, int)).replace("_", " ")
            lines.append(f"{key} = {e['input']!r}: unknown {what}; choose one of {e['ctx']['expected']}")
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


def dump_yaml(tree: dict) -> str:
    """A params tree as YAML text, in its own key order (what a model card and a preset keep)."""
    return yaml.safe_dump(tree, sort_keys=False, width=110)


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


def variant_of(study: Params, name: str) -> Params:
    """The params of variant `name` of a study loaded without one."""
    return resolve(study.model_dump(), name)


def check_search_space(raw: dict, source: str = "params") -> Params:
    """The search variant's params, once its search space is known to hold only keys that change
    the model it trains (tools.search calls it before any trial)."""
    searched = resolve(raw, resolve(raw, source=source).search.variant, source)
    group = MODELS[searched.train.model]
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
