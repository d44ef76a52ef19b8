"""One module per dvc.yaml stage; each is a thin main() around a run() the tests call."""
from __future__ import annotations

import argparse
from pathlib import Path


def variant_parser(doc: str, **folders: str) -> argparse.ArgumentParser:
    """The command line of a per-variant stage: --params, --variant, --store, --splits, then one
    required path option per keyword (name -> help)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--splits", type=Path, required=True)
    for name, help_text in folders.items():
        parser.add_argument(f"--{name}", type=Path, required=True, help=help_text)
    return parser
