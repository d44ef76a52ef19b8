"""The machine a benchmark ran on, and results kept per kind of machine.

Figures of one kind of CPU never overwrite another's: bench/results.json holds one entry per kind and
generation (imgstudy/core/machine.py: amx_spr, amx_emr, amx_gnr or amx for an Intel Xeon with AMX;
amd_zen4, amd_zen5 for an AMD EPYC with AVX512-BF16; avx512_bf16 for a Xeon whose VM hides AMX; avx512;
avx2), each with the CPU record it was measured on.
"""

from __future__ import annotations

import json
from pathlib import Path

from imgstudy.core.machine import machine_record


def save(path: Path, figures: dict, rows: list[tuple[str, str, str]]) -> dict:
    """Merge this run's figures into results.json under its kind of machine; returns all kinds."""
    cpu = machine_record()
    kinds = json.loads(path.read_text()).get("kinds", {}) if path.is_file() else {}
    kinds[cpu["kind"]] = {"cpu": cpu, **figures, "table": [list(r) for r in rows]}
    path.write_text(json.dumps({"kinds": kinds}, indent=2) + "\n")
    return kinds


def markdown(kinds: dict) -> str:
    """One table per kind of machine, the CPU it ran on above it."""
    out = []
    for kind, entry in sorted(kinds.items()):
        cpu = entry["cpu"]
        flags = (
            ", ".join(f for f in ("amx_bf16", "avx512_bf16", "avx2") if cpu.get(f)) or "none of amx/avx512_bf16/avx2"
        )
        out.append(
            f"### {kind}: {cpu['name']} ({flags}; {cpu['threads']} threads; torch {cpu['torch']}; "
            f"precision auto = {cpu['auto_precision']})\n"
        )
        if entry.get("note"):
            out.append(f"{entry['note']}\n")
        out.append("| measure | values | result |\n|---|---|---|\n")
        out += [f"| {a} | {b} | {c} |\n" for a, b, c in entry["table"]]
        out.append("\n")
    return "".join(out)
