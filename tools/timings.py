"""What the study took on this machine: training time per variant, and inference speed on request.

    python -m tools.timings              # train seconds and epochs per variant (timings/, from the last build)
    python -m tools.timings --latency    # also ms per image at batch 1 and 256, measured now

The stages write their wall times to timings/ (git-ignored, no DVC output) with the machine they ran on,
so the study's hashed outputs stay byte-identical from one build to the next; this prints them, with
the machine named. Latency is measured here, not in the build: it says what this machine does now.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from imgstudy.core.cli import cli
from imgstudy.core.timings import read_timings
from imgstudy.evaluation.tables import display_name, to_markdown
from imgstudy.params import load


def latency(model_dir: Path, store: Path, splits: Path, repeats: int) -> tuple[float, float]:
    """Milliseconds per image at batch 1 and 256 of one trained model on its test images."""
    import torch

    from imgstudy.data.store import load_split, open_store
    from imgstudy.evaluation.inference import latency_ms
    from imgstudy.training import checkpoint

    device = torch.device("cpu")
    model, card = checkpoint.load(model_dir / "model.pt", device)
    images = card.inputs.prepare(load_split(open_store(store), splits, "test")[0])
    precision = checkpoint.inference_precision(card, device)
    b1, b256 = (latency_ms(model, card.inputs, images, b, device, precision, repeats) for b in (1, 256))
    return b1, b256


def table(params_path: str, with_latency: bool, repeats: int) -> str:
    study = load(params_path)
    paths = study.paths
    times = read_timings(Path(paths.timings))
    header = ["variant", "train s", "epochs"] + (["ms/image b1", "ms/image b256"] if with_latency else [])
    rows, machine = [], None
    for name in study.grid + study.seg_grid:
        record = times.get(f"{name}.train")
        machine = machine or (record or {}).get("machine")
        row = [display_name(name), f"{record['seconds']:.0f}" if record else "-"]
        row.append(str(len(record["epochs"])) if record else "-")
        model = Path(paths.models) / name  # a classifier's (latency is measured for classifiers)
        if with_latency and name in study.grid and (model / "model.pt").is_file():
            row += [f"{ms:.3f}" for ms in latency(model, Path(paths.store), Path(paths.splits), repeats)]
        elif with_latency:
            row += ["-", "-"]
        rows.append(row)
    where = (
        f"Trained on {machine['name']} ({machine['kind']}, {machine['threads']} threads, precision auto "
        f"{machine['auto_precision']}); '-': not trained here (pulled, or not built yet)."
        if machine
        else "No variant was trained on this machine (timings/ is empty)."
    )
    return to_markdown(header, rows) + "\n" + where


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--latency", action="store_true", help="measure ms per image of each trained variant")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per batch size (the median is shown)")
    args = parser.parse_args()
    print(table(args.params, args.latency, args.repeats))


if __name__ == "__main__":
    main()
