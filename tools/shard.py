"""One machine's share of the grid: the per-variant stages of every N-th variant.

    dvc repro --pull $(python -m tools.shard --shards 3 --index 0)    # on machine 0 of 3
    dvc push --run-cache
    ...
    dvc repro --pull                                                 # where they are collected

The variants of `grid` (and of `seg_grid`) are dealt round-robin over the shards, so the shares are
disjoint and together cover the grid (docs/teams.md).
"""

from __future__ import annotations

import argparse

from imgstudy.core.cli import cli
from imgstudy.core.errors import UserError
from imgstudy.params import load

STAGES = {"grid": ("train", "evaluate"), "seg_grid": ("seg_train", "seg_evaluate")}


def share(grid: list[str], seg_grid: list[str], shards: int, index: int) -> list[str]:
    if not 0 <= index < shards:
        raise UserError(f"--index {index}: choose 0 to {shards - 1} for {shards} shards")
    dealt = {"grid": grid[index::shards], "seg_grid": seg_grid[index::shards]}
    return [f"{stage}@{variant}" for key, variants in dealt.items() for variant in variants for stage in STAGES[key]]


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--shards", type=int, required=True)
    parser.add_argument("--index", type=int, required=True)
    args = parser.parse_args()
    study = load(args.params)
    print(" ".join(share(study.grid, study.seg_grid, args.shards, args.index)))


if __name__ == "__main__":
    main()
