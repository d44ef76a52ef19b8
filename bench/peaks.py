"""What the machine can reach, and how much of it a training step reaches.

A peak fraction divides a step's FLOP/s by the machine's peak in that arithmetic: the higher of a
tuned GEMM's best (torch's matmul over several sizes, in the thread count of the run) and the
theoretical peak, cores x FLOP per cycle x clock. The first alone under-reads some machines (a Zen 5's
matmul below what its ResNet18 step reached gave a fraction of 1.77), the second alone over-reads a VM's
throttled clock; the higher of the two keeps every fraction at or below 1.
"""

from __future__ import annotations

import os
import time

import torch

from imgstudy.core.machine import cpu_capabilities, cpu_kind, cpuinfo
from imgstudy.models import build_model
from imgstudy.training.precision import FP32, Precision

CPU = torch.device("cpu")
RESNET = dict(weights="none", freeze=False, unfreeze_blocks=0, head_dropout=0.0, init="default")
# FLOP per cycle per core (an FMA counts 2): fp32 by the vector units, bf16 by the dot-product or matrix
# units. Zen 4 runs AVX-512 on 256-bit pipes (2 x 8 lanes), Zen 5 on 512-bit ones; AVX512-BF16's vdpbf16ps
# doubles fp32's rate; AMX's TMUL does 1,024 bf16 multiply-adds per cycle.
FLOP_PER_CYCLE = {
    "amd_zen4": {"fp32": 32, "bf16": 64},
    "amd_zen5": {"fp32": 64, "bf16": 128},
    "amd_bf16": {"fp32": 32, "bf16": 64},
    "amx": {"fp32": 64, "bf16": 2048},
    "amx_spr": {"fp32": 64, "bf16": 2048},
    "amx_emr": {"fp32": 64, "bf16": 2048},
    "amx_gnr": {"fp32": 64, "bf16": 2048},
    "avx512_bf16": {"fp32": 64, "bf16": 128},
    "avx512": {"fp32": 64, "bf16": 64},
    "avx2": {"fp32": 32, "bf16": 32},
}


def theoretical_peak(dtype: str) -> float:
    """cores (torch's threads) x FLOP per cycle x the clock /proc/cpuinfo reports; 0 when unknown."""
    mhz = cpuinfo("cpu MHz")
    per_cycle = FLOP_PER_CYCLE.get(cpu_kind(cpu_capabilities()), {}).get(dtype, 0)
    cores = min(torch.get_num_threads(), os.cpu_count() or 1)
    return cores * per_cycle * float(mhz) * 1e6 if mhz else 0.0


def bare_step_rate(side: int, batch: int, precision: Precision = FP32, steps: int = 6) -> tuple[float, float]:
    """(images/s, FLOP/s) of the ResNet18 train step on one batch already in memory."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = build_model("resnet18", 3, 4, side, **RESNET).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(batch, 3, side, side).contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch) % 4

    def step():
        with precision.autocast(CPU):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    return batch / seconds, counter.get_total_flops() / seconds


def matmul_peak(dtype: torch.dtype, sizes=(1024, 2048, 4096), seconds: float = 1.0) -> float:
    """The machine's matmul FLOP/s in `dtype`: the best over several sizes, each after a warm-up
    and timed over about `seconds` (one small matmul under-reads what AMX reaches on large ones)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        a @ b
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or reps < 2:
            a @ b
            reps += 1
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
    return best
