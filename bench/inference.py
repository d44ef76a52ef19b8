"""Inference speed of a trained model: PyTorch eager (fp32), ONNX Runtime, and bf16 autocast where
the CPU runs it natively; latency of one image and throughput at batch 256, with the largest
difference of each path's probabilities from eager fp32's."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from imgstudy.serving.predict import OnnxRunner
from imgstudy.training import checkpoint
from imgstudy.training.precision import choose_precision


def _timed(call, repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def inference_paths(model_path: Path, repeats: int = 20) -> dict:
    """{path: {latency_ms_b1, images_per_s_b256, max_prob_diff}} for eager, onnxruntime and bf16."""
    cpu = torch.device("cpu")
    model, card = checkpoint.load(model_path, cpu)
    model = model.float().eval()
    c, s = card.inputs.channels, card.image_size
    one, many = torch.rand(1, c, s, s), torch.rand(256, c, s, s)
    paths = {}

    def eager(x):
        with torch.no_grad():
            return model(card.inputs.normalize(x).contiguous(memory_format=card.inputs.memory_format)).softmax(1)

    reference = eager(many).numpy()
    runners = {"pytorch_fp32": eager, "onnxruntime": OnnxRunner(model, card.inputs, s)}
    bf16 = choose_precision("auto", cpu)
    if bf16.name == "bf16":
        runners["pytorch_bf16"] = lambda x: _with(bf16, cpu, eager, x)
    for name, run in runners.items():
        out = np.asarray(run(many), dtype=np.float32)
        paths[name] = {
            "latency_ms_b1": 1000 * _timed(lambda r=run: r(one), repeats),
            "images_per_s_b256": 256 / _timed(lambda r=run: r(many), max(3, repeats // 5)),
            "max_prob_diff": float(np.abs(out - reference).max()),
        }
    if bf16.name != "bf16":
        paths["pytorch_bf16"] = {"skipped": f"precision auto is {bf16}"}
    return paths


def _with(precision, device, call, x):
    with precision.autocast(device):
        return call(x).float()
