"""Switch the project to a study preset: studies/<name>.yaml becomes params.yaml.

    python -m tools.preset sperm_morphology            # the study on its own data
    python -m tools.preset sperm_morphology --offline  # same grid on the built-in MNIST subset

A preset is a complete params file (every key explicit, validated like params.yaml);
params.yaml is in git, so `git checkout params.yaml` returns to the default study.
--offline keeps every setting but the data: the built-in MNIST, capped to
OFFLINE_SAMPLES images, for machines where the study's own data cannot be had.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from ruamel.yaml import YAML

from imgstudy import params as P

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_SAMPLES = 4000


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
        doc["download"]["dataset"] = "mnist"
        doc["download"]["source"] = "auto"
        doc["split"]["test"] = "official"
        doc["preprocess"]["max_samples"] = OFFLINE_SAMPLES
        out = io.StringIO()
        yaml.dump(doc, out)
        text = out.getvalue()
    P.resolve(P.yaml_text(text), source=str(path))  # fails here, naming the key, if invalid
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help=f"one of: {', '.join(presets())}")
    parser.add_argument("--offline", action="store_true", help="run the study's grid on the built-in MNIST")
    parser.add_argument("--out", type=Path, default=ROOT / "params.yaml")
    args = parser.parse_args()
    args.out.write_text(render(args.name, args.offline))
    print(f"params.yaml <- studies/{args.name}.yaml{' (offline data)' if args.offline else ''}", file=sys.stderr)


if __name__ == "__main__":
    main()
