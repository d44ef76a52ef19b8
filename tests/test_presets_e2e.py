"""Every study preset builds: its OFFLINE mode through the real `dvc repro` at tiny size, and the
comparison lists the variants it built.

A preset's variants mostly differ in settings the other tests exercise one by one; what a preset
adds is its models and phases. So each build here keeps the first variant of every kind (model
family, one or two phases, UNet encoder) that no preset before it in alphabetical order has built, or
its first variant when it has no new kind: every training path of the studies runs end to end once,
and every preset builds (each stage is a process of several seconds, so no kind is built twice).
`pytest -m slow tests/test_presets_e2e.py` builds every variant of every preset (docs/testing.md gives its time).
"""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import copy_project, sh
from imgstudy import params as P
from imgstudy.evaluation.compare import display_name
from imgstudy.models import MODELS
from tools import preset

pytestmark = pytest.mark.heavy  # every test here runs `dvc repro` (conftest runs them first)

SHRINK = {
    ("preprocess", "max_samples"): 300,
    ("train", "epochs"): 1,
    ("segment", "epochs"): 1,
    ("robustness", "max_samples"): 20,
    ("compare", "bootstrap"): 50,
    ("evaluate", "latency_repeats"): 0,  # latency: test_pipeline_e2e
    ("base", "threads"): 1,
}


def kind(raw: dict, name: str, section: str) -> tuple:
    """Model family (torchvision backbones are one family; each is tested by test_models) and one or
    two phases; for segmentation variants, the UNet encoder."""
    p = P.resolve(raw, name)
    if section == "seg_grid":
        return ("unet", p.segment.unet.encoder)
    family = MODELS[p.train.model].options if MODELS[p.train.model].options == "transfer" else p.train.model
    return (family, p.train.finetune.epochs > 0)


def shrunk(name: str) -> dict:
    raw = P.yaml_text(preset.render(name, offline=True))
    for (section, key), value in SHRINK.items():
        raw[section][key] = value
    raw["preprocess"]["size"] = min(raw["preprocess"]["size"], 32)
    raw["train"]["finetune"]["epochs"] = min(raw["train"]["finetune"]["epochs"], 1)
    return raw


def new_kinds() -> dict[str, dict[str, list[str]]]:
    """Per preset, per grid: the variants of a kind no earlier preset built, else its first."""
    seen, keep = set(), {}
    for name in preset.presets():
        raw = shrunk(name)
        keep[name] = {}
        for section in ("grid", "seg_grid"):
            chosen = []
            for variant in raw[section]:
                k = kind(raw, variant, section)
                if k not in seen:
                    seen.add(k)
                    chosen.append(variant)
            keep[name][section] = chosen or raw[section][:1]
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


@pytest.mark.parametrize("name", preset.presets())
def test_preset_builds_offline(tmp_path, name: str) -> None:
    build(tmp_path, name, every_variant=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", preset.presets())
def test_preset_builds_offline_with_every_variant(tmp_path, name: str) -> None:
    build(tmp_path, name, every_variant=True)
