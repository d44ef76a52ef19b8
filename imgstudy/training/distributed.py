"""Distributed data-parallel helpers around torch.distributed (gloo on CPU, nccl on GPUs).

A process group exists only when the train stage runs under torchrun; every helper is a
no-op for a single process, so the same code trains on one core or many machines.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
from torch import nn


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    """Rank 0 alone writes files, logs and checkpoints."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_env() -> torch.device | None:
    """Join the process group torchrun set up; returns this rank's GPU, if it has one."""
    if not launched_by_torchrun() or active():
        return None
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        return device
    return None


def relaunch_command(processes: int, module: str, args: list[str]) -> list[str]:
    """This same stage under torchrun with `processes` workers on this machine. Across machines,
    run torchrun yourself (--nnodes, --rdzv-endpoint); the stage joins the group it finds."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        "-m",
        module,
        *args,
    ]


def wrap(net: nn.Module) -> nn.Module:
    if world_size() == 1:
        return net
    return nn.parallel.DistributedDataParallel(
        net, device_ids=None if not next(net.parameters()).is_cuda else [next(net.parameters()).device.index]
    )


def sum_all(*values: float) -> list[float]:
    """Sum numbers over the ranks (for epoch-level loss and accuracy)."""
    if world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def shard(idx: torch.Tensor) -> torch.Tensor:
    """This rank's part of a global batch of indices: together the ranks see the whole batch."""
    return idx[rank() :: world_size()]


def from_rank0(make):
    """make() on rank 0, its result handed to every rank (e.g. the working folder rank 0 locked)."""
    if world_size() == 1:
        return make()
    objects = [make() if is_main() else None]
    dist.broadcast_object_list(objects, src=0)
    return objects[0]
