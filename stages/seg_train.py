"""seg_train: fit one segmentation variant's UNet on the store's masks; keep the best val Dice.

Resumes like train: segmentation/models/<variant>/state.pt holds the last finished epoch for a
fingerprint of the params and data, and dvc.yaml marks the folder `persist`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import yaml

from imgstudy import params as P
from imgstudy.data.store import load_pairs, open_store
from imgstudy.models.unet import build_unet
from imgstudy.training.checkpoint import fingerprint, finished_epochs
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import EpochResult, fit
from imgstudy.training.precision import choose_precision
from imgstudy.training.runtime import select_device, setup_runtime
from imgstudy.training.segment import save_model, seg_fit_config, seg_task
from imgstudy.training.tracking import Tracker
from stages import cli, variant_parser


def run(p: P.Params, store: Path, splits: Path, out: Path, live_dir: Path, variant: str) -> list[EpochResult]:
    setup_runtime(p.base.seed, p.base.threads)
    device, s = select_device(p.base.device), p.segment
    precision = choose_precision(s.speed.precision, device)
    st = open_store(store)
    train, val = load_pairs(st, splits, "train"), load_pairs(st, splits, "val")
    inputs = Inputs.fit(train[0], s.channels, s.normalize, channels_last=s.speed.channels_last)
    torch.manual_seed(p.base.seed)
    model = build_unet(inputs.channels, len(st.mask_classes), **s.unet.model_dump(), init=s.init)
    resolved = p.model_dump(mode="json")
    out.mkdir(parents=True, exist_ok=True)
    state, stamp = out / "state.pt", fingerprint(resolved, store, splits, ("base", "segment"))
    done = finished_epochs(state, stamp)
    if done is None:  # another configuration's files: start over
        for stale in (state, out / "model.pt"):
            stale.unlink(missing_ok=True)
    (out / "params.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    print(
        f"seg_train: UNet ({s.unet.encoder} encoder) on {device}, precision {precision}, {len(train[0])} train / "
        f"{len(val[0])} val images, classes {st.mask_classes}{', resuming' if done is not None else ''}",
        flush=True,
    )
    tracker = Tracker(
        live_dir, done, resolved, p.tracking.uri if p.tracking.mlflow else None, p.tracking.experiment, f"seg-{variant}"
    )
    card = {
        "unet": s.unet.model_dump() | {"init": s.init},
        "mask_classes": st.mask_classes,
        "image_size": st.size,
        "stored_channels": st.channels,
        "inputs": inputs.card(),
        "params": resolved,
        "precision": precision.name,
    }

    def on_epoch(r: EpochResult, model: torch.nn.Module) -> None:
        tracker.epoch(r)
        m = r.metrics
        if r.improved:
            save_model(out / "model.pt", model, card | {"epoch": r.epoch, "val_dice": m["val_dice"]})
        print(
            f"epoch {r.epoch + 1} train loss {m['train_loss']:.4f} | val loss {m['val_loss']:.4f} dice "
            f"{m['val_dice']:.4f} pixel acc {m['val_pixel_accuracy']:.4f} | {r.seconds:.0f}s"
            + (" *best" if r.improved else ""),
            flush=True,
        )

    began = time.perf_counter()
    history = fit(
        model,
        seg_task(s, train, val, inputs, device),
        seg_fit_config(s, p.base.seed, precision),
        device,
        on_epoch,
        state,
        stamp,
    )
    summary = {
        "seconds": round(time.perf_counter() - began + sum(r.seconds for r in history[: done or 0]), 1),
        "epochs": len(history),
        "best_val_dice": max(r.metrics["val_dice"] for r in history),
        "parameters": sum(w.numel() for w in model.parameters()),
        "precision": precision.name,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    tracker.finish([out / "model.pt", out / "summary.json"])
    return history


@cli
def main() -> None:
    parser = variant_parser(__doc__, out="model folder of this variant", live="DVCLive folder of this variant")
    args = parser.parse_args()
    run(P.load(args.params, args.variant), args.store, args.splits, args.out, args.live, args.variant)


if __name__ == "__main__":
    main()
