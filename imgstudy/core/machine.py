"""The machine a command runs on: CPU vendor, flags, generation and kind.

These facts decide the arithmetic (training/precision.py) and label every timing, but they never
enter a hashed output: two machines of one kind build byte-identical studies, and what a build
took is kept beside it (timings/, bench/results.json), named by the kind it ran on.

Kinds tell apart the CPUs whose speed differs in kind, not only in degree: Intel Xeons with AMX
by generation (Sapphire Rapids, Emerald Rapids, Granite Rapids), AMD EPYCs with AVX512-BF16 by
generation (Zen 4: family 25; Zen 5: family 26), an Intel Xeon whose AVX512-BF16 is exposed
without AMX, AVX512 without BF16, AVX2 only.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

AMD, INTEL = "AuthenticAMD", "GenuineIntel"
AMD_GENERATIONS = {25: "zen4", 26: "zen5"}  # CPU family -> generation, for those with AVX512-BF16
INTEL_AMX_GENERATIONS = {143: "spr", 207: "emr", 173: "gnr", 174: "gnr"}  # family 6 model -> generation


def cpuinfo(field: str) -> str:
    """A field of the first CPU in /proc/cpuinfo ("" where there is no such file or field)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_capabilities() -> dict:
    """The CPU's feature flags as torch sees them (none on a torch without the call), its vendor,
    family and model number."""
    import torch

    get = getattr(torch.cpu, "get_capabilities", None)
    numbers = {k: int(v) for k in ("cpu family", "model") if (v := cpuinfo(k)).isdigit()}
    return {
        **(dict(get()) if get is not None else {}),
        "vendor": cpuinfo("vendor_id"),
        "family": numbers.get("cpu family", 0),
        "model": numbers.get("model", 0),
    }


def cpu_kind(capabilities: dict | None = None) -> str:
    """amx_<spr|emr|gnr> | amx | amd_<zen4|zen5> | amd_bf16 | avx512_bf16 | avx512 | avx2 | other: one
    kind per precision decision, instruction set and generation (a figure of one kind never stands
    for another's)."""
    caps = cpu_capabilities() if capabilities is None else capabilities
    if caps.get("amx_bf16"):
        generation = INTEL_AMX_GENERATIONS.get(caps.get("model", 0)) if caps.get("family") == 6 else None
        return f"amx_{generation}" if generation else "amx"
    if caps.get("avx512_bf16") and caps.get("vendor") == AMD:
        generation = AMD_GENERATIONS.get(caps.get("family", 0))
        return f"amd_{generation}" if generation else "amd_bf16"
    for kind, flag in (("avx512_bf16", "avx512_bf16"), ("avx512", "avx512_f"), ("avx2", "avx2")):
        if caps.get(flag):
            return kind
    return "other"


def cpu_auto_precision(capabilities: dict | None = None) -> tuple[str, str]:
    """(precision, why) of `precision: auto` on this CPU: bf16 where it multiplies bf16 natively and
    fast (AMX; AMD's AVX512-BF16), fp32 elsewhere (training/precision.py has the measurements). The
    same flag means opposite things on the two vendors, so the vendor is read beside the flags."""
    caps = cpu_capabilities() if capabilities is None else capabilities
    if caps.get("amx_bf16"):
        return "bf16", "auto: CPU with AMX"
    if caps.get("avx512_bf16") and caps.get("vendor") == AMD:
        return "bf16", "auto: AMD CPU with AVX512-BF16"
    if caps.get("avx512_bf16"):
        return "fp32", "auto: Intel AVX512-BF16 without AMX runs bf16 slower than fp32"
    return "fp32", "auto: no native bf16 on this CPU"


def cpu_name() -> str:
    return cpuinfo("model name") or platform.processor() or "unknown"


def machine_record() -> dict:
    """Who ran a figure: the CPU, its kind and flags, the threads, torch and the precision auto picks."""
    import torch

    caps = cpu_capabilities()
    return {
        "name": cpu_name(),
        "kind": cpu_kind(caps),
        "vendor": caps.get("vendor", ""),
        "family": caps.get("family", 0),
        "model": caps.get("model", 0),
        "amx_bf16": bool(caps.get("amx_bf16")),
        "avx512_bf16": bool(caps.get("avx512_bf16")),
        "avx2": bool(caps.get("avx2")),
        "cores": os.cpu_count() or 1,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "auto_precision": cpu_auto_precision(caps)[0],
    }
