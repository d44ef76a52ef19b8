"""One module per dvc.yaml stage; each is a thin main() around a run() the tests call."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from imgstudy.errors import UserError


def cli(main: Callable[[], None]) -> Callable[[], None]:
    """A command's entry point: an error the user can fix (bad params, refused data, missing
    credentials or weights) prints one message on stderr and exits with status 2, without a
    traceback; any other exception is a bug and keeps its traceback."""

    @functools.wraps(main)
    def wrapper() -> None:
        try:
            main()
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper


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
