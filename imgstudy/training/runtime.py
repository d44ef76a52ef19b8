"""Where and how a stage runs: the device, seeds and threads, index batches."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch


def select_device(name: str) -> torch.device:
    """'auto' takes CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("base.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def setup_runtime(seed: int, threads: int) -> None:
    """Seed every generator and fix the thread count once, before any work."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


def batches(n: int, batch_size: int, gen: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Index batches over n samples, shuffled when a generator is given."""
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
