"""The one place that decides the arithmetic precision of training and inference.

bf16 autocast pays where the hardware multiplies bf16 natively and fast: CUDA GPUs that support
it; CPUs with AMX (Intel Xeon Sapphire Rapids and later; `torch.cpu.get_capabilities()` has
`amx_bf16`), where bf16 matmuls reach ~2 TFLOP/s against 270-440 GFLOP/s in fp32 on 2 cores; and
AMD CPUs with AVX512-BF16 (Zen 4 and later): on a 2-core AMD EPYC (family 26, Zen 5) bf16 matmuls
reached 635-741 GFLOP/s against 160 in fp32, the ResNet18 224 px train step ran 2.2-2.5x fp32 and
the MNIST study's CNN 1.7x. Elsewhere bf16 is slower than fp32: ~10x on AVX2-only CPUs (emulated),
and 0.65x on an Intel Xeon whose AVX512-BF16 is exposed but not AMX (measured: 163 vs 250 GFLOP/s).
The same flag means opposite things on the two vendors, so `auto` reads the vendor beside the flags;
`torch.backends.cpu.get_cpu_capability()` says "AVX512" on all three and cannot tell them apart.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16
    reason: str  # why: "asked for", "auto: AMX", ...

    @property
    def dtype(self) -> torch.dtype | None:
        return DTYPES[self.name]

    def autocast(self, device: torch.device):
        """The autocast context of this precision on `device` (a no-op context for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, self.dtype)

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


FP32 = Precision("fp32", "default")
AMD = "AuthenticAMD"


def cpuinfo(field: str) -> str:
    """A field of the first CPU in /proc/cpuinfo ("" where there is no such file or field)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() == field:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_vendor() -> str:
    """The CPU's vendor id ("GenuineIntel", "AuthenticAMD"; "" where the system does not say)."""
    return cpuinfo("vendor_id")


def cpu_capabilities() -> dict:
    """The CPU's feature flags as torch sees them (none on a torch without the call), and its vendor."""
    get = getattr(torch.cpu, "get_capabilities", None)
    return {**(dict(get()) if get is not None else {}), "vendor": cpu_vendor()}


def choose_precision(requested: str, device: torch.device, capabilities: dict | None = None) -> Precision:
    """requested: fp32 | bf16 | fp16 (taken as asked) or auto (bf16 where it runs natively, else fp32)."""
    if requested not in (*DTYPES, "auto"):
        raise ValueError(f"precision {requested!r}; choose one of {[*DTYPES, 'auto']}")
    if requested != "auto":
        return Precision(requested, "asked for")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision("bf16", "auto: CUDA with bf16")
        return Precision("fp32", "auto: this GPU has no fast bf16")
    if device.type == "cpu":
        caps = cpu_capabilities() if capabilities is None else capabilities
        if caps.get("amx_bf16"):
            return Precision("bf16", "auto: CPU with AMX")
        if caps.get("avx512_bf16") and caps.get("vendor") == AMD:
            return Precision("bf16", "auto: AMD CPU with AVX512-BF16")
        if caps.get("avx512_bf16"):
            return Precision("fp32", "auto: Intel AVX512-BF16 without AMX runs bf16 slower than fp32")
        return Precision("fp32", "auto: no native bf16 on this CPU")
    return Precision("fp32", f"auto: {device.type}")


def cpu_kind(capabilities: dict | None = None) -> str:
    """The kind of CPU, for benchmarks kept per kind: one per precision decision and instruction set,
    amx | amd_bf16 (AMD with AVX512-BF16) | avx512 | avx2 | other."""
    caps = cpu_capabilities() if capabilities is None else capabilities
    if caps.get("amx_bf16"):
        return "amx"
    if caps.get("avx512_bf16") and caps.get("vendor") == AMD:
        return "amd_bf16"
    for kind, flag in (("avx512", "avx512_f"), ("avx2", "avx2")):
        if caps.get(flag):
            return kind
    return "other"
