"""train: fit one variant's model; keep the best checkpoint (lowest val loss) and its params."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml
from dvclive import Live

from imgstudy import checkpoint
from imgstudy import params as P
from imgstudy.engine import EpochResult, FitConfig, Normalizer, fit, select_device, setup_runtime
from imgstudy.models import build_model
from imgstudy.store import load_split, open_store


def run(p: P.Params, store: Path, splits: Path, out: Path, live_dir: Path) -> list[EpochResult]:
    setup_runtime(p.base.seed, p.base.threads)
    device = select_device(p.base.device)
    st, t = open_store(store), p.train
    train, val = load_split(st, splits, "train"), load_split(st, splits, "val")
    norm = Normalizer.fit(train[0])
    model = build_model(t.model, st.channels, len(st.classes), st.size)
    cfg = FitConfig(t.epochs, t.batch_size, t.optimizer, t.lr, t.weight_decay, t.scheduler, t.loss,
                    t.patience, t.channels_last, p.base.seed)
    out.mkdir(parents=True, exist_ok=True)
    resolved = p.model_dump(mode="json")
    (out / "params.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    print(f"train: {t.model} on {device}, {len(train[1])} train / {len(val[1])} val images")

    with Live(dir=str(live_dir), dvcyaml=None, save_dvc_exp=False) as live:
        def on_epoch(r: EpochResult, model: torch.nn.Module) -> None:
            for name, value in (("train/loss", r.train_loss), ("train/acc", r.train_acc),
                                ("val/loss", r.val_loss), ("val/acc", r.val_acc), ("lr", r.lr)):
                live.log_metric(name, value)
            if r.improved:
                card = checkpoint.ModelCard(t.model, st.channels, st.size, st.classes, norm, t.channels_last,
                                            resolved, r.epoch, r.val_loss, r.val_acc)
                checkpoint.save(out / "model.pt", model, card)
            live.next_step()
            print(f"epoch {r.epoch + 1}/{t.epochs} train loss {r.train_loss:.4f} acc {r.train_acc:.4f} | "
                  f"val loss {r.val_loss:.4f} acc {r.val_acc:.4f} | lr {r.lr:.2e} | {r.seconds:.0f}s"
                  + (" *best" if r.improved else ""), flush=True)

        return fit(model, train, val, norm, cfg, device, on_epoch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--splits", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="model folder of this variant")
    parser.add_argument("--live", type=Path, required=True, help="DVCLive folder of this variant")
    args = parser.parse_args()
    p = P.load(args.params, args.variant)
    run(p, args.store, args.splits, args.out, args.live)


if __name__ == "__main__":
    main()
