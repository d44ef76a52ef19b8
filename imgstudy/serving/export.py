"""Export a trained model to TorchScript and ONNX, normalization included.

The exported graphs take float images (B, C, H, W) with values in [0, 1] (C and H = W as in
exported/card.json) and return class logits; apply softmax for probabilities. Decode and
resize new images as card.json's preprocess settings say (or use tools.predict).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from imgstudy.training import checkpoint
from imgstudy.training.inputs import Inputs


class Deployable(nn.Module):
    """normalize -> model, as one graph."""

    def __init__(self, model: nn.Module, inputs: Inputs):
        super().__init__()
        self.model, self.inputs = model, inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [0, 1] -> (B, classes)
        return self.model(self.inputs.normalize(x))


def onnx_graph(model: nn.Module, inputs: Inputs, size: int, target) -> None:
    """normalize -> model as an ONNX graph with a dynamic batch size, written to `target` (a path or
    a file object: the web app keeps it in memory)."""
    model = model.to(memory_format=torch.contiguous_format).float().eval()
    example = torch.rand(2, inputs.channels, size, size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the normalization's constants are constant
        torch.onnx.export(
            Deployable(model, inputs).eval(),
            (example,),
            target,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )


def export(model_path: Path, out: Path) -> dict[str, Path]:
    model, card = checkpoint.load(model_path, torch.device("cpu"))
    model = model.to(memory_format=torch.contiguous_format).float().eval()
    wrapped = Deployable(model, card.inputs).eval()
    example = torch.rand(2, card.inputs.channels, card.image_size, card.image_size)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.jit.trace(wrapped, example).save(str(out / "model.ts"))
    onnx_graph(model, card.inputs, card.image_size, str(out / "model.onnx"))
    (out / "card.json").write_text(
        json.dumps(
            {
                "classes": card.classes,
                "image_size": card.image_size,
                "channels": card.inputs.channels,
                "stored_channels": card.stored_channels,
                "preprocess": card.params["preprocess"],
                "model": card.model,
                "input": "float32 (B, C, H, W) in [0, 1]",
                "output": "logits (B, classes)",
            },
            indent=2,
        )
        + "\n"
    )
    return {"torchscript": out / "model.ts", "onnx": out / "model.onnx", "card": out / "card.json"}
