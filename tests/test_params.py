"""params.yaml validation: bad params fail before work starts, naming key, value and choices."""
from __future__ import annotations

import copy
import re

import pytest
import yaml

from conftest import ROOT
from imgstudy import params as P

RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_change(dotted: str, value: object) -> dict:
    raw = copy.deepcopy(RAW)
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        node = node[key]
    node[leaf] = value
    return raw


def error_of(raw: dict, variant: str | None = None) -> str:
    with pytest.raises(P.ParamsError) as e:
        P.resolve(raw, variant, source="params.yaml")
    return str(e.value)


def test_project_params_are_valid_and_typed() -> None:
    p = P.load(ROOT / "params.yaml", "default")
    assert p.train.model == "mnist_cnn"
    assert isinstance(p.train.lr, float) and p.train.lr > 0
    assert p.grid == ["default"]


def test_unknown_key_is_named_with_the_allowed_keys() -> None:
    msg = error_of(with_change("train.learning_rate", 0.1))
    assert "unknown key 'train.learning_rate'" in msg
    assert "'lr'" in msg and "'optimizer'" in msg


def test_unknown_section_is_refused() -> None:
    msg = error_of(with_change("trainer", {}))
    assert "unknown key 'trainer'" in msg and "'train'" in msg


def test_wrong_type_names_key_and_value() -> None:
    msg = error_of(with_change("train.epochs", "ten"))
    assert re.search(r"train\.epochs = 'ten': .*integer", msg), msg


def test_value_outside_registry_lists_the_choices() -> None:
    msg = error_of(with_change("train.model", "resnet9000"))
    assert "train.model = 'resnet9000'" in msg
    assert "mnist_cnn" in msg


def test_value_outside_literal_choices() -> None:
    msg = error_of(with_change("base.device", "tpu"))
    assert "base.device = 'tpu'" in msg and "'cuda'" in msg


def test_out_of_range_number() -> None:
    msg = error_of(with_change("split.val_fraction", 1.5))
    assert "split.val_fraction = 1.5" in msg and "less than 1" in msg


def test_missing_key_is_named() -> None:
    raw = copy.deepcopy(RAW)
    del raw["train"]["patience"]
    assert "missing key 'train.patience'" in error_of(raw)


def test_variant_overrides_are_merged_and_validated() -> None:
    raw = with_change("variants", {"default": {}, "fast": {"train": {"lr": 0.01, "epochs": 1}}})
    fast = P.resolve(raw, "fast")
    assert (fast.train.lr, fast.train.epochs) == (0.01, 1)
    assert fast.train.batch_size == RAW["train"]["batch_size"]
    assert P.resolve(raw, "default").train.lr == RAW["train"]["lr"]


def test_bad_variant_fails_every_stage_not_only_its_own() -> None:
    raw = with_change("variants", {"default": {}, "bad": {"train": {"optimizer": "adamz"}}})
    msg = error_of(raw, "default")
    assert "variants.bad" in msg and "train.optimizer = 'adamz'" in msg and "adamw" in msg


def test_variant_may_not_override_shared_data_stages() -> None:
    raw = with_change("variants", {"default": {}, "x": {"preprocess": {"size": 32}}})
    assert "variants.x overrides ['preprocess']" in error_of(raw)


def test_grid_must_name_existing_variants() -> None:
    assert "grid lists 'missing'" in error_of(with_change("grid", ["default", "missing"]))


def test_unknown_variant_requested() -> None:
    assert "unknown variant 'nope'" in error_of(RAW, "nope")


def test_params_file_errors_name_the_file(tmp_path) -> None:
    missing = tmp_path / "none.yaml"
    with pytest.raises(P.ParamsError, match="none.yaml: params file not found"):
        P.load(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(P.ParamsError, match="broken.yaml: not valid YAML"):
        P.load(broken)
