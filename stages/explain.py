"""explain: class activation maps of test images of every class (right and wrong), a mean map
per class, and a deletion test of how faithful the maps are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from imgstudy import params as P
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
from imgstudy.training import checkpoint
from imgstudy.training.runtime import select_device, setup_runtime
from stages import cli, variant_parser


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def run(p: P.Params, store: Path, splits: Path, model_dir: Path, out: Path, metrics: Path) -> dict:
    setup_runtime(p.base.seed, p.base.threads)
    device = select_device(p.base.device)
    model, card = checkpoint.load(model_dir / "model.pt", device)
    stored, labels = load_split(open_store(store), splits, "test")
    images = card.inputs.prepare(stored)  # what the model sees; the figures show the images as stored
    e, classes = p.explain, card.classes
    probs = predict_probs(model, images, card.inputs, 256, device, checkpoint.inference_precision(card, device))
    preds = probs.argmax(1).numpy()
    memory = torch.channels_last if card.inputs.channels_last else torch.contiguous_format

    def normalize(x_unit: torch.Tensor) -> torch.Tensor:
        return card.inputs.normalize(x_unit).contiguous(memory_format=memory)

    def maps(pos: np.ndarray, targets: list[int]) -> np.ndarray:
        # requires_grad on the input: gradients reach the target layer even through frozen blocks
        x = card.inputs(images[pos].to(device)).requires_grad_(True)
        return np.asarray(cam_maps(model, model.cam_layer, x, targets, e.method))

    out.mkdir(parents=True, exist_ok=True)
    shown, shown_masks = [], []
    for c, pos in pick_samples(labels.numpy(), preds, len(classes), e.per_class).items():
        if len(pos) == 0:
            continue  # a tiny test split may miss a class
        masks = maps(pos, preds[pos].tolist())
        titles = [
            ("right" if preds[i] == c else "WRONG") + f": {classes[preds[i]]} {probs[i, preds[i]]:.2f}" for i in pos
        ]
        plot_class_grid(
            out / f"class_{c:03d}_{_safe(classes[c])}.png",
            stored[pos].numpy(),
            masks,
            titles,
            f"{e.method}: true class {classes[c]}",
        )
        shown.append(pos)
        shown_masks.append(masks)
    mean_maps = {}
    for c in range(len(classes)):
        pos = np.flatnonzero(labels.numpy() == c)[: e.mean_map_samples]
        if len(pos):  # where the model finds evidence for class c, on average over its test images
            mean_maps[classes[c]] = maps(pos, [c] * len(pos)).mean(0)
    plot_mean_maps(out / "mean_maps.png", mean_maps, f"mean {e.method} map per class")

    pos, masks = np.concatenate(shown), np.concatenate(shown_masks)
    x_unit = to_unit(images[pos].to(device), card.inputs.channels).contiguous()
    cam_curve, random_curve = deletion_curves(
        model, x_unit, masks, preds[pos].tolist(), normalize, e.deletion_steps, p.base.seed
    )
    plot_deletion(out / "deletion.png", cam_curve, random_curve, e.method)
    result = {
        "method": e.method,
        "samples": int(len(pos)),
        "deletion_auc": area_under(cam_curve),
        "random_deletion_auc": area_under(random_curve),
    }
    result["faithfulness_gap"] = result["random_deletion_auc"] - result["deletion_auc"]
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / "explain.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


@cli
def main() -> None:
    parser = variant_parser(
        __doc__,
        model="model folder of this variant",
        out="overlay folder of this variant",
        metrics="metrics folder of this variant",
    )
    args = parser.parse_args()
    p = P.load(args.params, args.variant)
    result = run(p, args.store, args.splits, args.model, args.out, args.metrics)
    print(
        f"explain {args.variant}: {result['samples']} images, deletion AUC {result['deletion_auc']:.3f} vs "
        f"random {result['random_deletion_auc']:.3f} -> {args.out}"
    )


if __name__ == "__main__":
    main()
