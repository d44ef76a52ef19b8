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

import torch

from imgstudy.core.machine import cpu_auto_precision

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
        return Precision(*cpu_auto_precision(capabilities))
    return Precision("fp32", f"auto: {device.type}")
