"""Train-stage throughput with each speed switch on and off, measured in one run.

    .venv/bin/python bench/speed_switches.py [--quick]

Runs the real engine (imgstudy.training.loop.fit) on synthetic uint8 images, so the data path
(uint8 -> float, normalization, memory format) is included. Prints a markdown table and
writes bench/out/speed_switches.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from imgstudy.models import build_model  # noqa: E402
from imgstudy.training.inputs import Inputs  # noqa: E402
from imgstudy.training.loop import FitConfig, Phase, fit  # noqa: E402
from imgstudy.training.losses import LOSSES  # noqa: E402

TRANSFER = dict(weights="none", freeze=True, unfreeze_blocks=0, head_dropout=0.2, init="xavier_uniform")


def data(n: int, side: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    return (
        torch.from_numpy(rng.integers(0, 256, (n, side, side, channels), dtype=np.uint8)),
        torch.from_numpy(rng.integers(0, 10, n)),
    )


def images_per_second(
    model_name: str,
    options: dict,
    side: int,
    channels: int,
    n: int,
    epochs: int,
    batch: int,
    channels_last: bool,
    bf16: bool,
    cache: bool,
) -> float:
    torch.manual_seed(0)
    x, y = data(n, side, channels)
    model = build_model(model_name, channels, 10, side, **options)
    inputs = Inputs.fit(x, "native", "dataset", channels_last)
    cfg = FitConfig(
        phases=(Phase(epochs, 1e-3),),
        batch_size=batch,
        optimizer="adamw",
        weight_decay=0.0,
        momentum=0.9,
        nesterov=False,
        scheduler="none",
        warmup_epochs=0,
        step_size=1,
        gamma=0.5,
        grad_clip=0.0,
        monitor="val_loss",
        patience=99,
        seed=0,
        bf16=bf16,
        feature_cache=cache,
    )
    val = (x[:batch], y[:batch])
    start = time.perf_counter()
    fit(
        model, (x, y), val, inputs, LOSSES["cross_entropy"](None, 0.0, 0.0), cfg, torch.device("cpu"), lambda r, m: None
    )
    return n * epochs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer images: a smoke run")
    args = parser.parse_args()
    k = 4 if args.quick else 1
    rows, results = [], {}

    def measure(label, base, **switches):
        ips = images_per_second(**{**base, **switches})
        results[label] = ips
        return ips

    cnn = dict(model_name="mnist_cnn", options={}, side=28, channels=1, n=4096 // k, epochs=1, batch=256, cache=False)
    res = dict(
        model_name="resnet18",
        options={**TRANSFER, "freeze": False},
        side=64,
        channels=3,
        n=1024 // k,
        epochs=1,
        batch=64,
        cache=False,
    )
    for name, base in (("mnist_cnn 28px", cnn), ("resnet18 64px", res)):
        plain = measure(f"{name} fp32", base, channels_last=False, bf16=False)
        cl = measure(f"{name} fp32 channels_last", base, channels_last=True, bf16=False)
        bf = measure(f"{name} bf16 channels_last", base, channels_last=True, bf16=True)
        rows += [
            (name, "fp32, contiguous", plain, 1.0),
            (name, "fp32, channels_last", cl, cl / plain),
            (name, "bf16, channels_last", bf, bf / plain),
        ]
    frozen = dict(
        model_name="mobilenet_v2",
        options=TRANSFER,
        side=224,
        channels=3,
        n=256 // k,
        epochs=4,
        batch=32,
        channels_last=True,
        bf16=False,
    )
    every = measure("mobilenet_v2 frozen 224px, backbone every epoch", frozen, cache=False)
    cached = measure("mobilenet_v2 frozen 224px, cached features", frozen, cache=True)
    rows += [
        ("mobilenet_v2 frozen 224px, 4 epochs", "backbone every epoch", every, 1.0),
        ("mobilenet_v2 frozen 224px, 4 epochs", "cached features", cached, cached / every),
    ]

    print("| model | switches | images/s | vs first row |\n|---|---|---|---|")
    for model, switches, ips, ratio in rows:
        print(f"| {model} | {switches} | {ips:.0f} | {ratio:.2f}x |")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "speed_switches.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )


if __name__ == "__main__":
    main()
