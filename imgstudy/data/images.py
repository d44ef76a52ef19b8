"""Image array operations: resize (letterbox or stretch) and histogram equalization."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from imgstudy.params.choices import EQUALIZE, RESIZES

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's convert("L")
CHANNELS = {"native": None, "gray": 1, "rgb": 3}  # params name -> channels (None: as stored)
RESIZE_MODES, EQUALIZE_MODES = RESIZES, EQUALIZE


def letterbox_pad(images: np.ndarray) -> np.ndarray:
    """Pad (N, H, W, C) with zeros to a centred square, so a resize keeps the aspect ratio."""
    n, h, w, c = images.shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    out = np.zeros((n, side, side, c), np.uint8)
    out[:, top : top + h, left : left + w] = images
    return out


def resize_one(image: np.ndarray, size: int, mode: str) -> np.ndarray:
    """(H, W, C) uint8 -> (size, size, C) uint8; antialiased (Pillow's bilinear filter)."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode {mode!r}; choose one of {RESIZE_MODES}")
    if mode == "letterbox" and image.shape[0] != image.shape[1]:
        image = letterbox_pad(image[None])[0]
    if image.shape[:2] == (size, size):
        return image
    channels = image.shape[2]
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    out = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    return out[..., None] if channels == 1 else out


def resize_batch(images: np.ndarray, size: int, mode: str, chunk: int = 4096) -> np.ndarray:
    """(N, H, W, C) uint8 of one shape -> (N, size, size, C) uint8, antialiased, in chunks."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode {mode!r}; choose one of {RESIZE_MODES}")
    if mode == "letterbox" and images.shape[1] != images.shape[2]:
        images = letterbox_pad(images)
    if images.shape[1:3] == (size, size):
        return np.ascontiguousarray(images)
    out = np.empty((len(images), size, size, images.shape[3]), np.uint8)
    for i in range(0, len(images), chunk):
        x = torch.from_numpy(np.ascontiguousarray(images[i : i + chunk])).permute(0, 3, 1, 2).float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i : i + chunk] = y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


def equalize(image: np.ndarray, mode: str, clahe_clip: float = 2.0, tiles: int = 8) -> np.ndarray:
    """(H, W, C) uint8 histogram equalization: 'global' spreads the whole histogram flat;
    'clahe' equalizes 8x8 tiles with a clip limit (OpenCV). Colour images are equalized on
    their lightness only (LAB), so hues do not shift."""
    if mode == "none":
        return image
    if mode not in EQUALIZE_MODES:
        raise ValueError(f"equalize mode {mode!r}; choose one of {EQUALIZE_MODES}")
    import cv2

    op = (
        cv2.equalizeHist
        if mode == "global"
        else cv2.createCLAHE(clipLimit=clahe_clip, tileGridSize=(tiles, tiles)).apply
    )
    if image.shape[2] == 1:
        return op(np.ascontiguousarray(image[..., 0]))[..., None]
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB)
    lab[..., 0] = op(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def to_unit(u8: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, H, W, C) uint8 -> (B, channels, H, W) float in [0, 1]; gray <-> RGB as needed."""
    x = u8.permute(0, 3, 1, 2).float().div_(255)
    if x.shape[1] == channels:
        return x
    if channels == 1 and x.shape[1] == 3:
        return (x * torch.tensor(LUMA, device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1)
    raise ValueError(f"cannot convert {x.shape[1]} channels to {channels}")
