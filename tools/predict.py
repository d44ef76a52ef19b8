"""Classify image files with a trained model; write top-k classes as CSV or JSON.

    python -m tools.predict photos/ extra.jpg 'more/*.png' --out predictions.csv --cam cams/
    python -m tools.predict img.png --model models/F4/model.pt --top-k 5 --out -

The default model is the study's best variant (best_model/model.pt from the compare stage).
Images are decoded with the preprocessing saved in the model's card. Unreadable inputs get
a row with the reason; the others still get answers.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from imgstudy.core.cli import cli
from imgstudy.params import load
from imgstudy.serving.predict import Predictor, expand_inputs
from imgstudy.training.runtime import select_device


def default_model() -> Path:
    return Path(load("params.yaml").paths.best) / "model.pt"


def write(rows: list[dict], out: str, k: int) -> None:
    if out.endswith(".json"):
        Path(out).write_text(json.dumps(rows, indent=2) + "\n")
        return
    fields = ["path", "status", "error"] + [f for r in range(1, k + 1) for f in (f"class_{r}", f"prob_{r}")]
    stream = sys.stdout if out == "-" else open(out, "w", newline="")
    writer = csv.DictWriter(stream, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    if stream is not sys.stdout:
        stream.close()


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("--model", type=Path, default=None, help="a model.pt (default: the study's best)")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--out", default="-", help="CSV or .json file; - for standard output")
    parser.add_argument("--cam", type=Path, default=None, help="also write Grad-CAM overlays to this folder")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    predictor = Predictor.load(args.model or default_model(), select_device(args.device))
    rows = predictor.predict(expand_inputs(args.inputs), args.top_k, args.cam)
    write(rows, args.out, args.top_k)
    bad = sum(r["status"] != "ok" for r in rows)
    print(f"{len(rows) - bad} classified, {bad} unreadable", file=sys.stderr)


if __name__ == "__main__":
    main()
