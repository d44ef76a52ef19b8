"""robustness: accuracy of one variant's model on corrupted copies of the test split, and on the
MNIST study's mixed altered test set when robustness.altered.enabled."""

from __future__ import annotations

import csv
import json
from functools import partial
from pathlib import Path

import numpy as np

from imgstudy import params as P
from imgstudy.data.store import load_split, open_store
from imgstudy.evaluation.metrics import plot_confusion
from imgstudy.evaluation.plots import plot_robustness
from imgstudy.evaluation.robustness import CORRUPTIONS, SEVERITIES, altered_set_predictions, predictions_under
from imgstudy.training import checkpoint
from imgstudy.training.augment import Augment
from imgstudy.training.runtime import select_device, setup_runtime
from stages import cli, variant_parser


def altered(p: P.Params, model, card, precision, images, labels, device, plots: Path) -> dict:
    """Accuracy on the test images + an augmented copy + an imperfect copy, and its confusion matrix."""
    a = p.robustness.altered
    clean, aug, imp = altered_set_predictions(
        model,
        card.inputs,
        precision,
        images,
        Augment(rotation=a.rotation, zoom=a.zoom, shift=a.shift),
        Augment(thin=1.0, shrink=a.shrink),
        p.base.seed,
        p.robustness.batch_size,
        device,
    )
    y = np.tile(labels.numpy(), 3)
    pred = np.concatenate([clean.numpy(), aug.numpy(), imp.numpy()])
    plot_confusion(plots / "altered_confusion.png", y, pred, card.classes)
    with open(plots / "altered_confusion.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        writer.writerows((card.classes[t], card.classes[q]) for t, q in zip(y.tolist(), pred.tolist()))
    n = len(labels)
    return {
        "altered_accuracy": float((pred == y).mean()),
        "altered_samples": int(3 * n),
        "altered_parts": {
            part: float((pred[i * n : (i + 1) * n] == y[:n]).mean())
            for i, part in enumerate(("original", "augmented", "imperfect"))
        },
    }


def run(
    p: P.Params, store: Path, splits: Path, model_dir: Path, metrics: Path, plots: Path, summary: Path | None = None
) -> dict:
    setup_runtime(p.base.seed, p.base.threads)
    device = select_device(p.base.device)
    model, card = checkpoint.load(model_dir / "model.pt", device)
    precision = checkpoint.inference_precision(card, device)
    all_images, all_labels = load_split(open_store(store), splits, "test")
    all_images = card.inputs.prepare(all_images)
    r = p.robustness
    images, labels = all_images, all_labels
    if r.max_samples and len(labels) > r.max_samples:  # a fixed, evenly spread subset
        keep = np.linspace(0, len(labels) - 1, r.max_samples).round().astype(int)
        images, labels = images[keep], labels[keep]

    def accuracy(corrupt) -> float:
        pred = predictions_under(model, card.inputs, precision, images, corrupt, r.batch_size, device)
        return float((pred == labels).float().mean())

    table = {c: {str(s): accuracy(partial(CORRUPTIONS[c], severity=s)) for s in SEVERITIES} for c in r.corruptions}
    clean = accuracy(None)
    mean = float(np.mean([a for row in table.values() for a in row.values()]))
    result = {
        "clean_accuracy": clean,
        "mean_corruption_accuracy": mean,
        "samples": int(len(labels)),
        "corruptions": table,
    }
    metrics.mkdir(parents=True, exist_ok=True)
    plots.mkdir(parents=True, exist_ok=True)
    if r.altered.enabled:
        result.update(altered(p, model, card, precision, all_images, all_labels, device, plots))
    (metrics / "robustness.json").write_text(json.dumps(result, indent=2) + "\n")
    with open(plots / "robustness.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["corruption", "severity", "accuracy"])
        writer.writerows((c, s, round(a, 6)) for c, row in table.items() for s, a in row.items())
    plot_robustness(plots / "robustness.png", table, clean)
    if summary is not None:  # what compare reads
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(
            json.dumps(
                {
                    "clean_accuracy": clean,
                    "mean_corruption_accuracy": mean,
                    "altered_accuracy": result.get("altered_accuracy"),
                    "per_corruption": {c: float(np.mean(list(row.values()))) for c, row in table.items()},
                },
                indent=2,
            )
            + "\n"
        )
    return result


@cli
def main() -> None:
    parser = variant_parser(
        __doc__,
        model="model folder of this variant",
        metrics="metrics folder of this variant",
        plots="robustness plots folder of this variant",
        summary="the summary compare reads (.json)",
    )
    args = parser.parse_args()
    p = P.load(args.params, args.variant)
    result = run(p, args.store, args.splits, args.model, args.metrics, args.plots, args.summary)
    print(
        f"robustness {args.variant}: clean {result['clean_accuracy']:.4f}, mean corruption accuracy "
        f"{result['mean_corruption_accuracy']:.4f}"
        + (f", altered set {result['altered_accuracy']:.4f}" if "altered_accuracy" in result else "")
    )


if __name__ == "__main__":
    main()
