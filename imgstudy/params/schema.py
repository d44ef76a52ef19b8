"""params.yaml as a whole: its sections and the checks that span them."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from imgstudy.params.data import Base, Download, Paths, Preprocess, Split
from imgstudy.params.section import Section
from imgstudy.params.segment import Segment
from imgstudy.params.study import Compare, Evaluate, Explain, Robustness, Search, Tracking
from imgstudy.params.train import Train

# The sections a variant may override (the data stages are shared by all variants). base too: a
# variant that differs only in base.seed is the same configuration on another seed (compare reports
# mean and std across such variants).
VARIANT_SECTIONS = ("base", "train", "evaluate", "robustness", "explain", "segment")


def lookup(tree: dict, dotted: str) -> Any:
    """The value at a dotted key ("train.transfer.init"); KeyError naming the key when there is none."""
    node: Any = tree
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(dotted)
        node = node[key]
    return node


class Params(Section):
    paths: Paths
    base: Base
    download: Download
    preprocess: Preprocess
    split: Split
    train: Train
    evaluate: Evaluate
    robustness: Robustness
    explain: Explain
    compare: Compare
    search: Search
    tracking: Tracking
    segment: Segment
    variants: dict[str, dict[str, dict[str, Any]]]
    grid: list[str] = Field(min_length=1)
    seg_grid: list[str]

    @model_validator(mode="after")
    def _names_exist(self) -> Params:
        for name in self.grid + self.seg_grid:
            if name not in self.variants:
                raise ValueError(
                    f"grid or seg_grid lists {name!r}, which is not under variants: {sorted(self.variants)}"
                )
            if "." in name:
                raise ValueError(
                    f"variant {name!r}: no dots in variant names (DVC reads them as nesting); write A0 for A.0"
                )
        if self.search.variant not in self.variants:
            raise ValueError(f"search.variant {self.search.variant!r} is not under variants: {sorted(self.variants)}")
        tree = self.model_dump()
        for dotted in self.search.space:
            if not dotted.startswith("train.") or not _has(tree, dotted):
                raise ValueError(f"search.space key {dotted!r}: not a train setting (only train settings are searched)")
        for title, dotted in self.compare.columns.items():
            if not _has(tree, dotted):
                raise ValueError(f"compare.columns.{title} names {dotted!r}, which is not a params key")
        return self


def _has(tree: dict, dotted: str) -> bool:
    try:
        lookup(tree, dotted)
    except KeyError:
        return False
    return True
