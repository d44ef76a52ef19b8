"""Image array operations: resize whole uint8 batches (letterbox or stretch)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

RESIZE_MODES = ("letterbox", "stretch")


def letterbox_pad(images: np.ndarray) -> np.ndarray:
    """Pad (N, H, W, C) with zeros to a centred square, so a resize keeps the aspect ratio."""
    n, h, w, c = images.shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    out = np.zeros((n, side, side, c), np.uint8)
    out[:, top:top + h, left:left + w] = images
    return out


def resize_batch(images: np.ndarray, size: int, mode: str, chunk: int = 4096) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N, size, size, C) uint8, antialiased, in chunks to bound memory."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode {mode!r}; choose one of {RESIZE_MODES}")
    if mode == "letterbox" and images.shape[1] != images.shape[2]:
        images = letterbox_pad(images)
    if images.shape[1:3] == (size, size):
        return np.ascontiguousarray(images)
    out = np.empty((len(images), size, size, images.shape[3]), np.uint8)
    for i in range(0, len(images), chunk):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + chunk])).permute(0, 3, 1, 2).float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i:i + chunk] = y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out
