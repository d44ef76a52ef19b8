"""download: write the raw files of the dataset named in params under the raw folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from imgstudy import params as P
from imgstudy.data.catalog import dataset
from stages import cli


def run(name: str, location: str, checksum: str, source: str, raw: Path) -> dict:
    return dataset(name, location, checksum).fetch(raw / name, source)


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", type=Path, required=True)
    args = parser.parse_args()
    d = P.load(args.params).download
    origin = run(d.dataset, d.location, d.checksum, d.source, args.raw)
    print(f"download: {d.dataset} from {origin['source']} -> {args.raw / d.dataset}")


if __name__ == "__main__":
    main()
