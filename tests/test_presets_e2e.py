"""Every study preset builds: its OFFLINE mode through the real `dvc repro` at tiny size, and the
comparison lists the variants it built.

A preset's variants mostly differ in settings the other tests exercise one by one; what a preset
adds is its models and phases. So the builds here share out the kinds of variant (model family, one
or two phases, UNet encoder) with as few variants as cover them all, every preset building one at
least: every training path of the studies runs end to end once and every preset builds, with the
fewest stage processes (each takes several seconds).
`pytest -m slow tests/test_presets_e2e.py` builds every variant of every preset (docs/testing.md gives its time).
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
from pathlib import Path

import pytest
import yaml

from conftest import copy_project, sh
from imgstudy.evaluation.tables import display_name
from imgstudy.params import resolve, yaml_text
from tools import preset

pytestmark = pytest.mark.heavy  # every test here runs `dvc repro` (conftest runs them first)

SHRINK = {
    ("preprocess", "max_samples"): 300,
    ("train", "epochs"): 1,
    ("segment", "epochs"): 1,
    ("robustness", "max_samples"): 20,
    ("compare", "bootstrap"): 50,
    ("base", "threads"): 1,
}


def kind(raw: dict, name: str, section: str) -> tuple:
    """Model family (torchvision backbones are one family; each is tested by test_models) and one or
    two phases; for segmentation variants, the UNet encoder."""
    p = resolve(raw, name)
    if section == "seg_grid":
        return ("unet", p.segment.unet.encoder)
    family = "transfer" if p.train.model_group == "transfer" else p.train.model
    return (family, p.train.finetune.epochs > 0)


def shrunk(name: str) -> dict:
    raw = yaml_text(preset.render(name, offline=True))
    for (section, key), value in SHRINK.items():
        raw[section][key] = value
    raw["preprocess"]["size"] = min(raw["preprocess"]["size"], 32)
    raw["train"]["finetune"]["epochs"] = min(raw["train"]["finetune"]["epochs"], 1)
    return raw


@functools.cache
def new_kinds() -> dict[str, dict[str, list[str]]]:
    """Per preset, per grid: the fewest variants that build every kind once while every preset builds
    one at least, each the preset's first variant of its kind. Found by trying every combination of
    the presets' kind subsets (a few hundred: seven presets of one to three kinds)."""
    raws = {name: shrunk(name) for name in preset.presets()}
    keep: dict[str, dict[str, list[str]]] = {name: {} for name in raws}
    for section in ("grid", "seg_grid"):
        options = []  # per preset: its nonempty kind subsets, as {kind: first variant of that kind}
        for raw in raws.values():
            firsts = {}
            for variant in raw[section]:
                firsts.setdefault(kind(raw, variant, section), variant)
            subsets = [c for n in range(1, len(firsts) + 1) for c in itertools.combinations(firsts.items(), n)]
            options.append([dict(c) for c in subsets] or [{}])
        every = {k for preset_options in options for subset in preset_options for k in subset}
        covering = (c for c in itertools.product(*options) if set().union(*c) == every)
        best = min(covering, key=lambda choice: sum(map(len, choice)))  # the first of the fewest
        for name, chosen in zip(keep, best):
            keep[name][section] = list(chosen.values())
    return keep


def tiny_preset(name: str, every_variant: bool) -> dict:
    raw = shrunk(name)
    if not every_variant:
        raw.update(new_kinds()[name])
    return raw


def build(tmp_path, name: str, every_variant: bool) -> None:
    repo = tmp_path / name
    copy_project(repo)
    raw = tiny_preset(name, every_variant)
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", f"{name} offline")
    sh(repo, "dvc", "repro", "compare")
    report = json.loads((repo / "compare/compare.json").read_text())
    assert list(report["variants"]) == raw["grid"]
    table = (repo / "compare/compare.md").read_text()
    assert all(f"| {display_name(variant)} |" in table for variant in raw["grid"]), table
    if raw["seg_grid"]:
        assert list(report["segmentation"]["variants"]) == raw["seg_grid"]
        assert all(0 <= v["dice"]["mean"] <= 1 for v in report["segmentation"]["variants"].values())
        for variant in raw["seg_grid"]:
            check_segmentation_outputs(repo / raw["paths"]["seg"], variant, raw["segment"]["epochs"])
        again = sh(repo, "dvc", "repro", "compare").stdout  # the branch's deps and outs are declared whole
        assert "Running stage" not in again, again


def check_segmentation_outputs(seg: Path, variant: str, epochs: int) -> None:
    """Per-image scores worst first, the overlays, one Dice per epoch in the live log."""
    test = json.loads((seg / f"metrics/{variant}/test.json").read_text())
    with open(seg / f"plots/{variant}/per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == test["images"] and float(rows[0]["dice"]) <= float(rows[-1]["dice"])  # worst first
    assert (seg / f"plots/{variant}/overlays.png").stat().st_size > 1000
    dice_log = (seg / f"live/{variant}/plots/metrics/val/dice.tsv").read_text().splitlines()
    assert len(dice_log) == 1 + epochs


@pytest.mark.parametrize("name", preset.presets())
def test_preset_builds_offline(tmp_path, name: str) -> None:
    build(tmp_path, name, every_variant=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", preset.presets())
def test_preset_builds_offline_with_every_variant(tmp_path, name: str) -> None:
    build(tmp_path, name, every_variant=True)
