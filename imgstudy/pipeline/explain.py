"""The explanation part of evaluate@<variant>: class activation maps of test images of every class (right
and wrong), a mean map per class, and a deletion test of how faithful the maps are.

It runs in evaluate's process on the model, test split and predictions evaluate has: a stage of its own
would import torch, torchvision and the CAM library and load the model again (about 7 s a variant on
2 cores, bench/results.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from imgstudy.data.images import to_unit
from imgstudy.evaluation.explain import (
    area_under,
    cam_maps,
    deletion_curves,
    pick_samples,
    plot_class_grid,
    plot_deletion,
    plot_mean_maps,
)
from imgstudy.params import Params
from imgstudy.pipeline.common import Trained

CAM_BATCH = 64  # images per pass of the CAM library: its hooks and backward once per batch


def safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def activation_maps(trained: Trained, images: torch.Tensor, requests: list[tuple], method: str) -> list[np.ndarray]:
    """Maps of every (test positions, target classes) request, computed CAM_BATCH images at a time."""
    card, model = trained.card, trained.model
    positions = np.concatenate([p for p, _ in requests])
    targets = [t for _, ts in requests for t in ts]
    out = []
    for start in range(0, len(positions), CAM_BATCH):
        # requires_grad on the input: gradients reach the target layer even through frozen blocks
        x = card.inputs(images[positions[start : start + CAM_BATCH]].to(trained.device)).requires_grad_(True)
        out.append(np.asarray(cam_maps(model, model.cam_layer, x, targets[start : start + CAM_BATCH], method)))
    return np.split(np.concatenate(out), np.cumsum([len(p) for p, _ in requests])[:-1])


def run(
    params: Params, trained: Trained, stored: torch.Tensor, images: torch.Tensor, labels: np.ndarray, probs: np.ndarray,
    out: Path, metrics: Path,
) -> dict:  # fmt: skip
    """stored: the test split as stored (what the figures show); images: as the model takes it; probs: the
    model's test predictions. Writes out/ (a grid per class, the mean maps, the deletion curves) and
    metrics/explain.json."""
    card, settings = trained.card, params.explain
    preds = probs.argmax(1)
    picked = {c: pos for c, pos in pick_samples(labels, preds, len(card.classes), settings.per_class).items()
              if len(pos)}  # fmt: skip  # a tiny test split may miss a class
    averaged = {c: np.flatnonzero(labels == c)[: settings.mean_map_samples] for c in range(len(card.classes))}
    averaged = {c: pos for c, pos in averaged.items() if len(pos)}
    requests = [(pos, preds[pos].tolist()) for pos in picked.values()]
    requests += [(pos, [c] * len(pos)) for c, pos in averaged.items()]
    maps = activation_maps(trained, images, requests, settings.method)
    shown = dict(zip(picked, maps[: len(picked)]))
    out.mkdir(parents=True, exist_ok=True)
    for c, pos in picked.items():
        titles = [
            ("right" if preds[i] == c else "WRONG") + f": {card.classes[preds[i]]} {probs[i, preds[i]]:.2f}"
            for i in pos
        ]
        grid = out / f"class_{c:03d}_{safe_name(card.classes[c])}.png"
        plot_class_grid(grid, stored[pos].numpy(), shown[c], titles, f"{settings.method}: true class {card.classes[c]}")
    # where the model finds evidence for class c, on average over its test images
    mean_maps = {card.classes[c]: m.mean(0) for c, m in zip(averaged, maps[len(picked) :])}
    plot_mean_maps(out / "mean_maps.png", mean_maps, f"mean {settings.method} map per class")
    result = faithfulness(params, trained, images, np.concatenate(list(picked.values())), shown, preds, out)
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / "explain.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def faithfulness(params: Params, trained: Trained, images, positions, shown: dict, preds, out: Path) -> dict:
    """The deletion test of the images shown: the predicted class's probability as the most activated
    pixels go, against as many random pixels."""
    card, settings = trained.card, params.explain
    memory = torch.channels_last if card.inputs.channels_last else torch.contiguous_format

    def normalize(x_unit: torch.Tensor) -> torch.Tensor:
        return card.inputs.normalize(x_unit).contiguous(memory_format=memory)

    masks = np.concatenate(list(shown.values()))
    x_unit = to_unit(images[positions].to(trained.device), card.inputs.channels).contiguous()
    cam_curve, random_curve = deletion_curves(
        trained.model, x_unit, masks, preds[positions].tolist(), normalize, settings.deletion_steps, params.base.seed
    )
    plot_deletion(out / "deletion.png", cam_curve, random_curve, settings.method)
    result = {
        "method": settings.method,
        "samples": int(len(positions)),
        "deletion_auc": area_under(cam_curve),
        "random_deletion_auc": area_under(random_curve),
    }
    result["faithfulness_gap"] = result["random_deletion_auc"] - result["deletion_auc"]
    return result


def describe(result: dict) -> str:
    return f"deletion AUC {result['deletion_auc']:.3f} vs random {result['random_deletion_auc']:.3f}"
