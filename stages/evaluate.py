"""evaluate: score one variant's best model on the test split; keep its predictions."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from imgstudy import checkpoint
from imgstudy import params as P
from imgstudy.engine import predict_logits, select_device, setup_runtime
from imgstudy.metrics import per_class_report, plot_confusion, summary_metrics, write_confusion_csv
from imgstudy.store import load_split, open_store


def run(p: P.Params, variant: str, store: Path, splits: Path, model_dir: Path, metrics: Path, plots: Path,
        predictions: Path) -> dict:
    setup_runtime(p.base.seed, p.base.threads)
    device = select_device(p.base.device)
    model, card = checkpoint.load(model_dir / "model.pt", device)
    images, labels = load_split(open_store(store), splits, "test")
    probs = predict_logits(model, images, card.inputs, p.evaluate.batch_size, device, card.bf16).softmax(1).numpy()
    y_true, y_pred = labels.numpy(), probs.argmax(1)
    trained = json.loads((model_dir / "summary.json").read_text())
    summary = {**summary_metrics(y_true, probs), "samples": int(len(y_true)), "best_epoch": card.epoch + 1,
               "train_seconds": trained["seconds"], "parameters": trained["parameters"]}
    if (model_dir / "cv.json").is_file():  # k-fold validation scores from the train stage
        cv = json.loads((model_dir / "cv.json").read_text())
        summary.update({k: cv[k] for k in ("val_acc_mean", "val_acc_std", "val_loss_mean", "val_loss_std")})
    for folder in (metrics, plots, predictions.parent):
        folder.mkdir(parents=True, exist_ok=True)
    (metrics / "test.json").write_text(json.dumps(summary, indent=2) + "\n")
    report = per_class_report(y_true, y_pred, card.classes)
    (metrics / "classes.json").write_text(json.dumps(report, indent=2) + "\n")
    write_confusion_csv(plots / "confusion.csv", y_true, y_pred, card.classes)
    plot_confusion(plots / "confusion.png", y_true, y_pred, card.classes)
    # Per-sample predictions: what compare needs for confidence intervals and paired tests.
    np.savez_compressed(predictions, y_true=y_true, probs=probs.astype(np.float32), classes=np.array(card.classes),
                        variant=variant, summary=json.dumps(summary))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--splits", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True, help="model folder of this variant")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics folder of this variant")
    parser.add_argument("--plots", type=Path, required=True, help="plots folder of this variant")
    parser.add_argument("--predictions", type=Path, required=True, help="predictions file (.npz) of this variant")
    args = parser.parse_args()
    p = P.load(args.params, args.variant)
    summary = run(p, args.variant, args.store, args.splits, args.model, args.metrics, args.plots, args.predictions)
    print(f"evaluate {args.variant}: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.items() if isinstance(v, float)))


if __name__ == "__main__":
    main()
