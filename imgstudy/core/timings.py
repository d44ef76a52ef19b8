"""What a build took on this machine, kept apart from what it computed.

Stages write their wall times here (timings/<variant>.<stage>.json, git-ignored and not a DVC
output), each with the machine it ran on, so the hashed outputs hold only what the code, params
and data determine: a rebuild on the same kind of machine is byte-identical, and the times are still
there to read (python -m tools.timings).
"""

from __future__ import annotations

import json
from pathlib import Path

from imgstudy.core.machine import machine_record


def write_timing(folder: Path, name: str, seconds: float, **details: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"seconds": round(seconds, 2), **details, "machine": machine_record()}
    (folder / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")


def read_timings(folder: Path) -> dict[str, dict]:
    """{name: record} of every timing in the folder ({} when there is none)."""
    if not folder.is_dir():
        return {}
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
