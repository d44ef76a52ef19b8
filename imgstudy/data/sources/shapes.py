"""A generated segmentation dataset: noisy gray images holding one disc, square or triangle,
with its binary mask. Built offline from a seed, so the segmentation branch runs anywhere."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from imgstudy.data.raw import RawData, write_origin
from imgstudy.data.sources.pairs import PairsDataset

KINDS = ("disc", "square", "triangle")


def draw_shapes(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (n, side, side) uint8, masks (n, side, side) uint8 0/1, kinds (n,) index into KINDS)."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, side, side), np.uint8)
    masks = np.empty((n, side, side), np.uint8)
    kinds = np.arange(n) % len(KINDS)
    for i, kind in enumerate(kinds):
        mask = Image.new("L", (side, side), 0)
        r = rng.uniform(0.12, 0.3) * side
        cx, cy = rng.uniform(r, side - r, 2)
        box = [cx - r, cy - r, cx + r, cy + r]
        draw = ImageDraw.Draw(mask)
        if KINDS[kind] == "disc":
            draw.ellipse(box, fill=1)
        elif KINDS[kind] == "square":
            draw.rectangle(box, fill=1)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=1)
        m = np.asarray(mask)
        background, foreground = rng.uniform(40, 110), rng.uniform(150, 220)
        noise = rng.normal(0, 25, (side, side))
        images[i] = np.clip(np.where(m > 0, foreground, background) + noise, 0, 255).astype(np.uint8)
        masks[i] = m
    return images, masks, kinds


def write_shapes(dest: Path, n: int, side: int, seed: int) -> None:
    """images/<kind>/<i>.png and masks/<kind>/<i>.png (0/255): the layout of the masks source."""
    images, masks, kinds = draw_shapes(n, side, seed)
    for i, (image, mask, kind) in enumerate(zip(images, masks, kinds)):
        for sub, array in (("images", image), ("masks", mask * 255)):
            path = dest / sub / KINDS[kind] / f"{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(path)


@dataclass(frozen=True)
class ShapesDataset:
    """The built-in offline segmentation set: generated discs, squares and triangles with masks."""

    count: int = 900
    side: int = 96
    seed: int = 0

    def fetch(self, dest: Path, source: str) -> dict:
        tmp = dest.parent / f".{dest.name}.gen"
        shutil.rmtree(tmp, ignore_errors=True)
        write_shapes(tmp, self.count, self.side, self.seed)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return write_origin(dest, {"source": "generated", "location": f"imgstudy shapes, seed {self.seed}"})

    def read(self, dest: Path) -> RawData:
        return PairsDataset("masks", str(dest)).read(dest)
