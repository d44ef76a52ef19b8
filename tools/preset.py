"""Switch the project to a study preset: studies/<name>.yaml becomes params.yaml.

    python -m tools.preset sperm_morphology            # the study on its own data
    python -m tools.preset sperm_morphology --offline  # same grid on the built-in MNIST subset

A preset is a complete params file (every key explicit, validated like params.yaml);
params.yaml is in git, so `git checkout params.yaml` returns to the default study.
--offline runs the study's grid where its data and weights cannot be had: the built-in
MNIST (OFFLINE_SAMPLES digits; the generated shapes for a segmentation study) instead of the study's data, images of at most OFFLINE_SIZE
px, at most OFFLINE_EPOCHS epochs per phase, and random initialization for backbones whose
ImageNet weights are not on the machine. Every other setting - the variants, models and
switches - stays the study's own.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from ruamel.yaml import YAML

from imgstudy import params as P

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_SAMPLES, OFFLINE_SIZE, OFFLINE_EPOCHS = 2000, 64, 3


def presets() -> list[str]:
    return sorted(p.stem for p in (ROOT / "studies").glob("*.yaml"))


def render(name: str, offline: bool) -> str:
    """The params text of a preset, checked against the schema before anything is written."""
    path = ROOT / "studies" / f"{name}.yaml"
    if not path.is_file():
        raise SystemExit(f"unknown study {name!r}; presets: {presets()}")
    text = path.read_text()
    if offline:
        yaml = YAML()  # round trip: the preset's comments survive
        doc = yaml.load(text)
        # segmentation studies need masks: the generated shapes; classification ones MNIST
        offline_data = "shapes" if doc["seg_grid"] else "mnist"
        doc["download"].update(dataset=offline_data, source="auto", location="", checksum="")
        if doc["seg_grid"]:
            doc["preprocess"].update(masks="binary", mask_classes=[])
            doc["segment"]["epochs"] = min(doc["segment"]["epochs"], OFFLINE_EPOCHS)
        doc["split"]["test"] = "fraction" if doc["seg_grid"] else "official"  # shapes have no official split
        doc["preprocess"]["max_samples"] = OFFLINE_SAMPLES
        doc["preprocess"]["size"] = min(doc["preprocess"]["size"], OFFLINE_SIZE)
        doc["train"]["epochs"] = min(doc["train"]["epochs"], OFFLINE_EPOCHS)
        doc["train"]["finetune"]["epochs"] = min(doc["train"]["finetune"]["epochs"], OFFLINE_EPOCHS)
        if doc["segment"]["unet"]["weights"] == "imagenet":
            doc["segment"]["unet"]["weights"] = "imagenet_or_random"
        if doc["train"]["transfer"]["weights"] == "imagenet":
            doc["train"]["transfer"]["weights"] = "imagenet_or_random"
        for override in doc["variants"].values():  # variants may ask for weights too
            transfer = (override.get("train") or {}).get("transfer") or {}
            if transfer.get("weights") == "imagenet":
                transfer["weights"] = "imagenet_or_random"
        out = io.StringIO()
        yaml.dump(doc, out)
        text = out.getvalue()
    P.resolve(P.yaml_text(text), source=str(path))  # fails here, naming the key, if invalid
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help=f"one of: {', '.join(presets())}")
    parser.add_argument("--offline", action="store_true",
                        help="run the study's grid on built-in data (MNIST, or the generated shapes for segmentation)")
    parser.add_argument("--out", type=Path, default=ROOT / "params.yaml")
    args = parser.parse_args()
    args.out.write_text(render(args.name, args.offline))
    print(f"params.yaml <- studies/{args.name}.yaml{' (offline data)' if args.offline else ''}", file=sys.stderr)


if __name__ == "__main__":
    main()
