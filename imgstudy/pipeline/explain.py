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


CAM_BATCH = 64  # images per pass of the CAM library: its hooks and backward once per batch


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

    def maps(requests: list[tuple[np.ndarray, list[int]]]) -> list[np.ndarray]:
        """Activation maps of every (test positions, target classes) request, computed in batches of
        CAM_BATCH: one pass of the CAM library's hooks per batch, not per class."""
        pos = np.concatenate([p for p, _ in requests])
        targets = [t for _, ts in requests for t in ts]
        out = []
        for start in range(0, len(pos), CAM_BATCH):
            # requires_grad on the input: gradients reach the target layer even through frozen blocks
            x = card.inputs(images[pos[start : start + CAM_BATCH]].to(device)).requires_grad_(True)
            chunk = targets[start : start + CAM_BATCH]
            out.append(np.asarray(cam_maps(model, model.cam_layer, x, chunk, settings.method)))
        return np.split(np.concatenate(out), np.cumsum([len(p) for p, _ in requests])[:-1])

    files.out.mkdir(parents=True, exist_ok=True)
    picked = {c: pos for c, pos in pick_samples(labels.numpy(), preds, len(card.classes), settings.per_class).items()
              if len(pos)}  # fmt: skip  # a tiny test split may miss a class
    averaged = {c: np.flatnonzero(labels.numpy() == c)[: settings.mean_map_samples] for c in range(len(card.classes))}
    averaged = {c: pos for c, pos in averaged.items() if len(pos)}
    requests = [(pos, preds[pos].tolist()) for pos in picked.values()]
    requests += [(pos, [c] * len(pos)) for c, pos in averaged.items()]
    computed = maps(requests)
    shown_masks = computed[: len(picked)]
    for (c, pos), masks in zip(picked.items(), shown_masks):
        titles = [
            ("right" if preds[i] == c else "WRONG") + f": {card.classes[preds[i]]} {probs[i, preds[i]]:.2f}"
            for i in pos
        ]
        heading = f"{settings.method}: true class {card.classes[c]}"
        plot_class_grid(files.out / f"class_{c:03d}_{safe_name(card.classes[c])}.png", stored[pos].numpy(), masks,
                        titles, heading)  # fmt: skip
    # where the model finds evidence for class c, on average over its test images
    mean_maps = {card.classes[c]: m.mean(0) for c, m in zip(averaged, computed[len(picked) :])}
    plot_mean_maps(files.out / "mean_maps.png", mean_maps, f"mean {settings.method} map per class")
    shown = list(picked.values())

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
