"""Export a trained model to TorchScript and ONNX, normalization included.

    python -m tools.export --model best_model/model.pt --out exported/

The exported graphs take float images (B, C, H, W) with values in [0, 1] (C and H = W as in
exported/card.json) and return class logits; apply softmax for probabilities. Decode and
resize new images as card.json's preprocess settings say (or use tools.predict).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from imgstudy.core.cli import cli
from imgstudy.serving.export import export


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("exported"))
    args = parser.parse_args()
    for kind, path in export(args.model, args.out).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
