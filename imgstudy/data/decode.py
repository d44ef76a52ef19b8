"""Robust image decoding: any common mode to gray or RGB uint8, EXIF orientation applied,
bad files reported with the reason instead of crashing the run."""

from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from imgstudy.data.images import equalize, resize_one

# A decompression bomb (a small file that expands to gigapixels) is refused, not decoded.
MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class DecodeSpec:
    channels: int  # 1 (gray) or 3 (RGB)
    size: int
    resize: str  # letterbox | stretch
    equalize: str  # none | global | clahe
    clahe_clip: float
    max_pixels: int = MAX_PIXELS


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Palette, alpha, 16-bit, CMYK ... -> L or RGB, without wrapping 16-bit values."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / hi * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        span = a.max() - a.min() or 1.0
        img = Image.fromarray(((a - a.min()) / span * 255 + 0.5).astype(np.uint8), "L")
    if img.mode in ("P", "PA", "LA", "RGBA"):
        rgba = img.convert("RGBA")  # alpha composited on black: the padding colour
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba).convert("RGB")
    return img.convert("L" if channels == 1 else "RGB")


def decode(path: str | Path, spec: DecodeSpec) -> np.ndarray:
    """One file -> (size, size, channels) uint8. Raises ValueError with the reason if unusable."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, spec.max_pixels  # restored below: PIL's is global
    try:
        img = _open(path, spec)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    array = np.asarray(img, dtype=np.uint8)
    array = array[..., None] if array.ndim == 2 else array
    return resize_one(equalize(array, spec.equalize, spec.clahe_clip), spec.size, spec.resize)


def _open(path: str | Path, spec: DecodeSpec) -> Image.Image:
    """The decoded, upright image in L or RGB mode; ValueError with the reason when it is unusable."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # PIL refuses at open what exceeds MAX_IMAGE_PIXELS (decode sets it to spec.max_pixels):
            # a warning, raised here as an error, above the limit; its own error above twice the limit
            with Image.open(path) as img:
                img.load()  # decode now: a truncated file fails here, not later
                img = ImageOps.exif_transpose(img)
                img = _to_mode(img, spec.channels)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ValueError(f"refused as a decompression bomb: {e}") from None
        except (OSError, SyntaxError, Image.UnidentifiedImageError) as e:
            raise ValueError(f"unreadable image: {e}") from None
    return img


def _decode_or_reason(args: tuple[str, DecodeSpec]) -> np.ndarray | str:
    try:
        return decode(*args)
    except ValueError as e:
        return str(e)


def decode_many(
    paths: list[str], spec: DecodeSpec, workers: int
) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Decode files in parallel, order kept. Returns (images (N_ok, S, S, C), indices of the
    decoded paths, [(path, reason)] of the skipped ones)."""
    images = np.empty((len(paths), spec.size, spec.size, spec.channels), np.uint8)
    kept, bad = [], []
    jobs = [(p, spec) for p in paths]
    if workers > 1 and len(paths) > 64:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_decode_or_reason, jobs, chunksize=64)
            outcomes = list(results)
    else:
        outcomes = [_decode_or_reason(j) for j in jobs]
    for i, out in enumerate(outcomes):
        if isinstance(out, str):
            bad.append((paths[i], out))
        else:
            images[len(kept)] = out
            kept.append(i)
    return images[: len(kept)], kept, bad
