"""preprocess: decode the raw data once into the uint8 array store; report what could not be used."""

from __future__ import annotations

import argparse
from pathlib import Path

from imgstudy import params as P
from imgstudy.data.prepare import preprocess as run  # the stage's callable, as the other stages' run()
from stages import cli


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--reports", type=Path, required=True)
    args = parser.parse_args()
    p = P.load(args.params)
    d, pre = p.download, p.preprocess
    summary = run(d.dataset, d.location, d.checksum, args.raw, args.store, args.reports, pre, p.base.seed)
    print(
        f"preprocess: {summary['decoded']} images at {pre.size}x{pre.size} -> {args.store}"
        + (
            f"; {summary['skipped']} skipped, listed in {args.reports / 'decode_errors.csv'}"
            if summary["skipped"]
            else ""
        )
    )


if __name__ == "__main__":
    main()
