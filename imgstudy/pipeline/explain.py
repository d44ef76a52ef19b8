"""explain@<variant>: class activation maps of test images of every class (right and wrong), a mean
map per class, and a deletion test of how faithful the maps are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from imgstudy.data.images import to_unit
from imgstudy.data.store import load_split, open_store
from imgstudy.evaluation.explain import (
    area_under,
    cam_maps,
    deletion_curves,
    pick_samples,
    plot_class_grid,
    plot_deletion,
    plot_mean_maps,
)
from imgstudy.evaluation.inference import predict_probs
from imgstudy.params import Params
from imgstudy.pipeline.common import load_trained


@dataclass(frozen=True)
class Files:
    variant: str
    store: Path
    splits: Path
    model: Path  # the variant's model folder
    out: Path  # the figures: one grid per class, the mean maps, the deletion curves
    metrics: Path  # explain.json


def safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def run(params: Params, files: Files) -> dict:
    trained = load_trained(params, files.model)
    model, card, device, settings = trained.model, trained.card, trained.device, params.explain
    stored, labels = load_split(open_store(files.store), files.splits, "test")
    images = card.inputs.prepare(stored)  # what the model sees; the figures show the images as stored
    probs = predict_probs(model, images, card.inputs, 256, device, trained.precision)
    preds = probs.argmax(1).numpy()
    memory = torch.channels_last if card.inputs.channels_last else torch.contiguous_format

    def normalize(x_unit: torch.Tensor) -> torch.Tensor:
        return card.inputs.normalize(x_unit).contiguous(memory_format=memory)

    def maps(pos: np.ndarray, targets: list[int]) -> np.ndarray:
        # requires_grad on the input: gradients reach the target layer even through frozen blocks
        x = card.inputs(images[pos].to(device)).requires_grad_(True)
        return np.asarray(cam_maps(model, model.cam_layer, x, targets, settings.method))

    files.out.mkdir(parents=True, exist_ok=True)
    shown, shown_masks = [], []
    for c, pos in pick_samples(labels.numpy(), preds, len(card.classes), settings.per_class).items():
        if len(pos) == 0:
            continue  # a tiny test split may miss a class
        masks = maps(pos, preds[pos].tolist())
        titles = [
            ("right" if preds[i] == c else "WRONG") + f": {card.classes[preds[i]]} {probs[i, preds[i]]:.2f}"
            for i in pos
        ]
        heading = f"{settings.method}: true class {card.classes[c]}"
        plot_class_grid(files.out / f"class_{c:03d}_{safe_name(card.classes[c])}.png", stored[pos].numpy(), masks,
                        titles, heading)  # fmt: skip
        shown.append(pos)
        shown_masks.append(masks)
    mean_maps = {}
    for c in range(len(card.classes)):
        pos = np.flatnonzero(labels.numpy() == c)[: settings.mean_map_samples]
        if len(pos):  # where the model finds evidence for class c, on average over its test images
            mean_maps[card.classes[c]] = maps(pos, [c] * len(pos)).mean(0)
    plot_mean_maps(files.out / "mean_maps.png", mean_maps, f"mean {settings.method} map per class")

    pos, masks = np.concatenate(shown), np.concatenate(shown_masks)
    x_unit = to_unit(images[pos].to(device), card.inputs.channels).contiguous()
    cam_curve, random_curve = deletion_curves(
        model, x_unit, masks, preds[pos].tolist(), normalize, settings.deletion_steps, params.base.seed
    )
    plot_deletion(files.out / "deletion.png", cam_curve, random_curve, settings.method)
    result = {
        "method": settings.method,
        "samples": int(len(pos)),
        "deletion_auc": area_under(cam_curve),
        "random_deletion_auc": area_under(random_curve),
    }
    result["faithfulness_gap"] = result["random_deletion_auc"] - result["deletion_auc"]
    files.metrics.mkdir(parents=True, exist_ok=True)
    (files.metrics / "explain.json").write_text(json.dumps(result, indent=2) + "\n")
    return {"variant": files.variant, "out": str(files.out), **result}


def describe(result: dict) -> str:
    return (
        f"explain {result['variant']}: {result['samples']} images, deletion AUC {result['deletion_auc']:.3f} vs "
        f"random {result['random_deletion_auc']:.3f} -> {result['out']}"
    )
