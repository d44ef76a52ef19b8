"""download: write the raw files of the dataset named in params under the raw folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from imgstudy import params as P
from imgstudy.sources import DATASETS


def run(dataset: str, source: str, raw: Path) -> dict:
    return DATASETS[dataset].fetch(raw / dataset, source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", type=Path, required=True)
    args = parser.parse_args()
    p = P.load(args.params)
    origin = run(p.download.dataset, p.download.source, args.raw)
    print(f"download: {p.download.dataset} from {origin['source']} -> {args.raw / p.download.dataset}")


if __name__ == "__main__":
    main()
