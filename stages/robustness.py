"""robustness: accuracy of one variant's model on corrupted copies of the test split."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

from imgstudy import checkpoint
from imgstudy import params as P
from imgstudy.engine import batches, select_device, setup_runtime
from imgstudy.inputs import to_unit
from imgstudy.plots import plot_robustness
from imgstudy.robustness import CORRUPTIONS
from imgstudy.store import load_split, open_store
from stages import variant_parser

SEVERITIES = (1, 2, 3)


@torch.no_grad()
def accuracy_under(model, card, images: torch.Tensor, labels: torch.Tensor, corruption: str | None, severity: int,
                   batch_size: int, device: torch.device) -> float:
    model.eval()
    correct = 0
    memory = torch.channels_last if card.inputs.channels_last else torch.contiguous_format
    for idx in batches(len(labels), batch_size):
        x = to_unit(images[idx].to(device), card.inputs.channels).contiguous()
        if corruption is not None:
            x = CORRUPTIONS[corruption](x, severity)
        x = card.inputs.normalize(x).contiguous(memory_format=memory)
        with torch.autocast(device.type, torch.bfloat16, enabled=card.bf16):
            correct += (model(x).argmax(1).cpu() == labels[idx]).sum().item()
    return correct / max(1, len(labels))


def run(p: P.Params, store: Path, splits: Path, model_dir: Path, metrics: Path, plots: Path) -> dict:
    setup_runtime(p.base.seed, p.base.threads)
    device = select_device(p.base.device)
    model, card = checkpoint.load(model_dir / "model.pt", device)
    images, labels = load_split(open_store(store), splits, "test")
    r = p.robustness
    if r.max_samples and len(labels) > r.max_samples:  # a fixed, evenly spread subset
        keep = np.linspace(0, len(labels) - 1, r.max_samples).round().astype(int)
        images, labels = images[keep], labels[keep]
    table = {c: {str(s): accuracy_under(model, card, images, labels, c, s, r.batch_size, device) for s in SEVERITIES}
             for c in r.corruptions}
    clean = accuracy_under(model, card, images, labels, None, 0, r.batch_size, device)
    mean = float(np.mean([a for row in table.values() for a in row.values()]))
    result = {"clean_accuracy": clean, "mean_corruption_accuracy": mean, "samples": int(len(labels)),
              "corruptions": table}
    metrics.mkdir(parents=True, exist_ok=True)
    plots.mkdir(parents=True, exist_ok=True)
    (metrics / "robustness.json").write_text(json.dumps(result, indent=2) + "\n")
    with open(plots / "robustness.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["corruption", "severity", "accuracy"])
        writer.writerows((c, s, round(a, 6)) for c, row in table.items() for s, a in row.items())
    plot_robustness(plots / "robustness.png", table, clean)
    return result


def main() -> None:
    parser = variant_parser(__doc__, model="model folder of this variant", metrics="metrics folder of this variant",
        plots="plots folder of this variant")
    args = parser.parse_args()
    p = P.load(args.params, args.variant)
    result = run(p, args.store, args.splits, args.model, args.metrics, args.plots)
    print(f"robustness {args.variant}: clean {result['clean_accuracy']:.4f}, "
          f"mean corruption accuracy {result['mean_corruption_accuracy']:.4f}")


if __name__ == "__main__":
    main()
