"""params.yaml validation: bad params fail before work starts, naming key, value and choices."""

from __future__ import annotations

import copy
import re

import pytest

from conftest import ROOT
from imgstudy.core.errors import ParamsError
from imgstudy.params import load, read_yaml, resolve

RAW = {**read_yaml(ROOT / "params.yaml"), "variants": {"default": {}}, "grid": ["default"]}
RAW["search"] = {**RAW["search"], "variant": "default"}


def with_change(dotted: str, value: object) -> dict:
    raw = copy.deepcopy(RAW)
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        node = node[key]
    node[leaf] = value
    return raw


def error_of(raw: dict, variant: str | None = None) -> str:
    with pytest.raises(ParamsError) as e:
        resolve(raw, variant, source="params.yaml")
    return str(e.value)


def test_project_params_are_valid_and_typed() -> None:
    p = load(ROOT / "params.yaml", "F0")
    assert p.train.model == "mobilenet_v2"
    assert isinstance(p.train.lr, float) and p.train.lr > 0
    assert p.grid == ["A0", "B0", "C0", "D0", "E0", "F0", "F1", "F2", "F3", "F4"]


def test_default_grid_is_the_sperm_study_a0_f4() -> None:
    v = {name: load(ROOT / "params.yaml", name).train for name in ("A0", "B0", "E0", "F0", "F1", "F2", "F3", "F4")}
    assert (v["A0"].channels, v["A0"].augment.rotation, v["A0"].transfer.head_dropout) == ("gray", 0, 0)
    assert (v["B0"].channels, v["B0"].augment.rotation, v["B0"].transfer.head_dropout) == ("rgb", 0, 0)
    assert (v["E0"].channels, v["E0"].augment.rotation > 0, v["E0"].transfer.head_dropout > 0) == ("gray", True, True)
    assert (v["F0"].optimizer, v["F0"].lr, v["F0"].transfer.unfreeze_blocks) == ("adam", 1e-4, 0)
    assert v["F1"].transfer.unfreeze_blocks == 1 and v["F2"].optimizer == "sgd"
    assert (v["F3"].lr, v["F4"].lr) == (1e-5, 1e-3)


def test_variant_names_cannot_hold_dots() -> None:
    raw = with_change("variants", {"A.0": {}})
    raw["grid"] = ["A.0"]
    assert "no dots in variant names" in error_of(raw)


def test_compare_columns_must_name_params_keys() -> None:
    msg = error_of(with_change("compare.columns", {"LR": "train.learning_rate"}))
    assert "compare.columns.LR names 'train.learning_rate'" in msg


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
    fast = resolve(raw, "fast")
    assert (fast.train.lr, fast.train.epochs) == (0.01, 1)
    assert fast.train.batch_size == RAW["train"]["batch_size"]
    assert resolve(raw, "default").train.lr == RAW["train"]["lr"]


def test_bad_variant_fails_every_stage_not_only_its_own() -> None:
    raw = with_change("variants", {"default": {}, "bad": {"train": {"optimizer": "adamz"}}})
    msg = error_of(raw, "default")
    assert "variants.bad" in msg and "train.optimizer = 'adamz'" in msg and "adamw" in msg


def test_variant_may_not_override_shared_data_stages() -> None:
    raw = with_change("variants", {"default": {}, "x": {"preprocess": {"size": 32}}})
    assert "variants.x overrides ['preprocess']" in error_of(raw)


def test_grid_must_name_existing_variants() -> None:
    assert "lists 'missing'" in error_of(with_change("grid", ["default", "missing"]))


def test_unknown_variant_requested() -> None:
    assert "unknown variant 'nope'" in error_of(RAW, "nope")


def test_params_file_errors_name_the_file(tmp_path) -> None:
    missing = tmp_path / "none.yaml"
    with pytest.raises(ParamsError, match="none.yaml: params file not found"):
        load(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="broken.yaml: not valid YAML"):
        load(broken)


def test_search_space_is_checked() -> None:
    msg = error_of(with_change("search.space", {"train.lr": {"low": 0.1, "high": 0.01}}))
    assert "search.space.train.lr" in msg and "must be below high" in msg
    assert "give either low and high, or choices" in error_of(with_change("search.space", {"train.lr": {}}))
    assert "only train settings" in error_of(with_change("search.space", {"preprocess.size": {"choices": [32]}}))


# Every refusal of the schema: (key, bad value, what the message must say). Each case would be
# accepted if its validator were gone.
REFUSALS = [
    ("download.dataset", "imagenet", "unknown dataset 'imagenet'; choose a catalog name"),
    ("download.dataset", "folder", "dataset 'folder' needs download.location"),
    ("download.checksum", "crc32:abc", "expected sha256:<hex> or md5:<hex>"),
    ("preprocess.mask_colors", [[0, 0]], "each entry is [R, G, B] with values 0..255"),
    ("preprocess.mask_colors", [[0, 0, 300]], "each entry is [R, G, B] with values 0..255"),
    ("preprocess.masks", "colors", "masks: colors needs preprocess.mask_colors"),
    ("preprocess.hu_window", [250, -1250], "low must be below high"),
    ("preprocess.size", 4, "greater than or equal to 8"),
    ("train.model", "alexnet", "train.model = 'alexnet': unknown model; choose one of 'mnist_cnn'"),
    ("train.scheduler", "linear", "unknown scheduler; choose one of 'onecycle'"),
    ("train.loss", "mse", "unknown loss; choose one of 'cross_entropy'"),
    ("train.optimizer", "lion", "unknown optimizer; choose one of 'adam'"),
    ("train.cnn.activation", "swish", "train.cnn.activation = 'swish': unknown activation"),
    ("train.equalize", "hist", "choose one of 'none', 'global' or 'clahe'"),
    ("train.sampling", "weighted", "choose one of 'uniform' or 'balanced'"),
    ("train.ema", 1.0, "less than 1"),
    ("train.accumulate", 0, "greater than or equal to 1"),
    ("train.augment.policy", "autoaugment", "'none', 'randaugment' or 'trivialaugment'"),
    ("segment.unet.encoder", "vgg16", "unknown encoder; choose one of 'none', 'resnet18' or 'mobilenet_v2'"),
    ("segment.loss", "hinge", "segment.loss = 'hinge': unknown loss; choose one of 'dice'"),
    ("segment.augment.thin", 0.5, "thin erodes image strokes but not their masks"),
    ("segment.augment.policy", "randaugment", "augment policies move images without their masks"),
    ("robustness.corruptions", ["snow"], "robustness.corruptions.0 = 'snow': unknown corruptions"),
    ("explain.method", "lime", "unknown method; choose one of 'gradcam'"),
    ("compare.metric", "loss", "unknown metric; choose one of 'accuracy'"),
    ("compare.columns", {"Size": "train.size"}, "names 'train.size', which is not a params key"),
    ("search.variant", "nope", "search.variant 'nope' is not under variants"),
    ("search.space", {"train.nope": {"low": 0, "high": 1}}, "'train.nope': not a train setting"),
    ("grid", ["missing"], "grid or seg_grid lists 'missing', which is not under variants"),
    ("base.device", "tpu", "choose one of 'auto', 'cpu', 'cuda' or 'mps'"),
]


@pytest.mark.parametrize("key, value, message", REFUSALS, ids=[f"{k}={v}" for k, v, _ in REFUSALS])
def test_every_validator_refuses_its_bad_value(key: str, value: object, message: str) -> None:
    assert message in error_of(with_change(key, value))


def test_finetuning_needs_a_backbone_and_variants_name_their_sections() -> None:
    raw = with_change("train.model", "mnist_cnn")
    raw["train"]["finetune"]["epochs"] = 2
    assert "finetune.epochs > 0 needs a transfer backbone; 'mnist_cnn' has no blocks" in error_of(raw)
    raw = copy.deepcopy(RAW)
    raw["variants"]["default"] = {"train": {"lr": -1.0}}
    assert "variants.default -> train.lr" in error_of(raw)
