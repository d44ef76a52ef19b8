"""preprocess: decode the raw files once into the uint8 array store."""
from __future__ import annotations

import argparse
from pathlib import Path

from imgstudy import params as P
from imgstudy.images import resize_batch
from imgstudy.sources import DATASETS
from imgstudy.split import stratified_subset
from imgstudy.store import write_store


def run(dataset: str, raw: Path, store: Path, size: int, resize: str, max_samples: int, seed: int) -> int:
    data = DATASETS[dataset].read(raw / dataset)
    keep = stratified_subset(data.labels, data.official, max_samples or len(data.labels), seed)
    images = resize_batch(data.images[keep], size, resize)
    write_store(store, images, data.labels[keep], data.classes, [data.sources[i] for i in keep],
                data.official[keep], meta={"dataset": dataset, "resize": resize})
    return len(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args()
    p = P.load(args.params)
    pre = p.preprocess
    n = run(p.download.dataset, args.raw, args.store, pre.size, pre.resize, pre.max_samples, p.base.seed)
    print(f"preprocess: {n} images at {pre.size}x{pre.size} -> {args.store}")


if __name__ == "__main__":
    main()
