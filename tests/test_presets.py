"""Every study preset is a valid, complete params file, on its own data and offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imgstudy.core.errors import ParamsError
from imgstudy.params import check_search_space, merge, repeated, resolve, yaml_text
from tools import preset

NAMES = preset.presets()


def test_presets_hold_only_differences() -> None:
    base = preset.default_params()
    for name in NAMES:
        assert not repeated(base, preset.read_preset(name)), name  # a value equal to the default's
        lines = (preset.ROOT / "studies" / f"{name}.yaml").read_text().count("\n")
        assert lines <= 0.4 * (preset.ROOT / "params.yaml").read_text().count("\n"), name


def test_merging_replaces_user_keyed_maps_and_merges_sections() -> None:
    base = {
        "train": {"lr": 1, "augment": {"zoom": 0.1, "shift": 0.1}},
        "variants": {"A0": {}, "F0": {}},
        "compare": {"metric": "f1", "columns": {"Channels": "train.channels"}},
    }
    merged = merge(
        base,
        {
            "train": {"augment": {"zoom": 0.0}},
            "variants": {"cnn": {}},
            "compare": {"columns": {"Model": "train.model"}},
        },
    )
    assert merged["train"] == {"lr": 1, "augment": {"zoom": 0.0, "shift": 0.1}}
    assert merged["variants"] == {"cnn": {}} and merged["compare"] == {
        "metric": "f1",
        "columns": {"Model": "train.model"},
    }
    assert repeated(base, {"train": {"lr": 1, "augment": {"zoom": 0.2}}}) == ["train.lr"]


def test_presets_resolve_to_the_recorded_variants() -> None:
    """The resolved variants of every preset, recorded in tests/snapshots/presets_resolved.json when the
    presets became differences (a change of a preset or a default shows here, and is recorded on purpose)."""
    recorded = json.loads((Path(__file__).parent / "snapshots/presets_resolved.json").read_text())
    for name in NAMES:
        raw = yaml_text(preset.render(name))
        resolved = {v: resolve(raw, v).model_dump(mode="json") for v in raw["grid"] + raw["seg_grid"]}
        assert resolved == recorded[name], name


def test_search_spaces_change_the_model_their_variant_trains() -> None:
    for name in NAMES:
        check_search_space(yaml_text(preset.render(name)), name)
    raw = yaml_text(preset.render("mnist"))
    raw["search"]["space"]["train.transfer.head_dropout"] = {"low": 0.0, "high": 0.5}
    with pytest.raises(ParamsError, match="'train.transfer.head_dropout' does not change model 'mnist_cnn'"):
        check_search_space(raw, "mnist")


def test_one_preset_per_study() -> None:
    assert NAMES == ["chest_xray", "dog_breeds", "fashion_mnist", "lung_ct", "lung_ct_seg", "mnist", "sperm_morphology"]


@pytest.mark.parametrize("name", NAMES)
def test_preset_resolves_every_variant(name: str) -> None:
    raw = yaml_text(preset.render(name, offline=False))
    for variant in raw["grid"] + raw["seg_grid"]:
        resolve(raw, variant)
    offline = yaml_text(preset.render(name, offline=True))
    assert offline["download"]["dataset"] == ("shapes" if raw["seg_grid"] else "mnist")
    assert offline["preprocess"]["max_samples"] == preset.OFFLINE_SAMPLES
    assert offline["grid"] == raw["grid"] and set(offline["variants"]) == set(raw["variants"])
    for variant in offline["grid"]:
        t = resolve(offline, variant).train
        assert t.transfer.weights != "imagenet"  # falls back to random where no file is offline
        assert t.epochs <= preset.OFFLINE_EPOCHS and t.finetune.epochs <= preset.OFFLINE_EPOCHS
        assert t.model == resolve(raw, variant).train.model  # the study's own models


def test_study_specifics() -> None:
    sperm = yaml_text(preset.render("sperm_morphology", False))
    assert sperm["train"]["model"] == "vgg19" and sperm["grid"][0] == "A0" and len(sperm["grid"]) == 10
    chest = resolve(yaml_text(preset.render("chest_xray", False)), "two_stage").train
    assert (chest.model, chest.class_weights, chest.finetune.epochs > 0) == ("mobilenet_v3_large", "balanced", True)
    lung = resolve(yaml_text(preset.render("lung_ct", False)), "vgg16_improved").train
    assert (lung.loss, lung.normalize, lung.transfer.init, lung.grad_clip > 0) == (
        "bce_with_logits",
        "dataset",
        "xavier_uniform",
        True,
    )
    dogs = yaml_text(preset.render("dog_breeds", False))
    assert {"mobilenet_v2", "resnet50", "vgg16", "vgg19", "cnn"} <= set(dogs["grid"])
    seg = yaml_text(preset.render("lung_ct_seg", False))
    first, improved = (resolve(seg, v).segment for v in ("unet_first", "unet_improved"))
    assert (first.optimizer, first.normalize, first.init) == ("adam", "none", "default")
    assert (improved.optimizer, improved.normalize, improved.init) == ("adamw", "dataset", "xavier_uniform")
    assert seg["download"]["dataset"] == "covid_ct_seg" and seg["preprocess"]["masks"] == "labels"
    mnist = yaml_text(preset.render("mnist", False))
    assert {resolve(mnist, v).train.model for v in mnist["grid"]} == {"mnist_cnn", "cnn_gru"}
