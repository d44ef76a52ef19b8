"""The entry point of every command (stages and tools): an error the user can fix prints one line;
a stage's command line is made from its Files."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from imgstudy.core.errors import UserError


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


FilesT = TypeVar("FilesT")


def arguments(files: type[FilesT], doc: str | None, argv: list[str] | None = None) -> tuple[Path, FilesT]:
    """(the params file, the stage's Files) from the command line: --params (default params.yaml) and
    one required --<field> per field of `files` (a path, or the variant's name)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    for field in dataclasses.fields(files):
        kind = str if field.name == "variant" else Path
        parser.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, required=True)
    args = vars(parser.parse_args(argv))
    params = args.pop("params")
    return params, files(**args)
