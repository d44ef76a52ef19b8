"""explain: class activation maps of a few test images of every class, as overlay PNGs."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from imgstudy import checkpoint
from imgstudy import params as P
from imgstudy.engine import predict_logits, select_device, setup_runtime
from imgstudy.explain import cam_maps, first_per_class, plot_class_grid
from imgstudy.store import load_split, open_store


def run(p: P.Params, store: Path, splits: Path, model_dir: Path, out: Path) -> list[Path]:
    setup_runtime(p.base.seed, p.base.threads)
    device = select_device(p.base.device)
    model, card = checkpoint.load(model_dir / "model.pt", device)
    images, labels = load_split(open_store(store), splits, "test")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for c, pos in first_per_class(labels.numpy(), len(card.classes), p.explain.per_class).items():
        if len(pos) == 0:
            continue  # a tiny test split may miss a class
        x_u8 = images[pos]
        probs = predict_logits(model, x_u8, card.inputs, len(pos), device, card.bf16).softmax(1)
        pred = probs.argmax(1).tolist()
        x = card.inputs(x_u8.to(device)).requires_grad_(True)
        masks = cam_maps(model, model.cam_layer, x, pred, p.explain.method)
        titles = [f"pred {card.classes[k]} {probs[i, k]:.2f}" for i, k in enumerate(pred)]
        safe = "".join(ch if ch.isalnum() else "_" for ch in card.classes[c])
        path = out / f"class_{c:03d}_{safe}.png"
        plot_class_grid(path, x_u8.numpy(), np.asarray(masks), titles,
                        f"{p.explain.method}: true class {card.classes[c]}")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--splits", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True, help="model folder of this variant")
    parser.add_argument("--out", type=Path, required=True, help="overlay folder of this variant")
    args = parser.parse_args()
    p = P.load(args.params, args.variant)
    written = run(p, args.store, args.splits, args.model, args.out)
    print(f"explain {args.variant}: {len(written)} overlay PNGs -> {args.out}")


if __name__ == "__main__":
    main()
