"""Using a trained model: decode new images exactly as its training data was, top-k classes,
Grad-CAM overlays. The preprocessing comes from the model's card, never re-typed."""

from __future__ import annotations

import copy
import glob
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imgstudy.data.decode import DecodeSpec, decode
from imgstudy.data.images import to_unit
from imgstudy.data.raw import IMAGE_SUFFIXES
from imgstudy.evaluation.explain import cam_maps, overlay
from imgstudy.evaluation.inference import predict_probs
from imgstudy.training import checkpoint
from imgstudy.training.inputs import Inputs
from imgstudy.training.precision import Precision


def expand_inputs(items: list[str]) -> list[Path]:
    """Files, folders (searched recursively for images) and glob patterns, in a stable order."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif any(ch in item for ch in "*?["):
            out += sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
        else:
            out.append(path)  # missing files are reported per file by predict()
    return out


class OnnxRunner:
    """The model and its normalization as one ONNX Runtime session, built in memory (nothing is
    written to disk): (B, C, H, W) float images in [0, 1] -> (B, classes) probabilities."""

    def __init__(self, model: torch.nn.Module, inputs: Inputs, size: int, threads: int = 0):
        import onnxruntime as ort

        from imgstudy.serving.export import onnx_graph

        graph = io.BytesIO()
        onnx_graph(copy.deepcopy(model).cpu(), inputs, size, graph)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = ort.InferenceSession(graph.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        logits = self.session.run(None, {"image": x.detach().cpu().float().numpy()})[0]
        return torch.from_numpy(logits).softmax(1).numpy()


# The fastest correct path on every CPU measured (bench/results.md): ONNX Runtime (fp32) answers one
# image several times sooner than PyTorch eager (8x on the AMX Xeon), with probabilities equal within
# ONNX_TOLERANCE. Also where `auto` trains in bf16: on the AMX Xeon it beat PyTorch's bf16 too (1.3 ms
# against 10.3 per image, 1.2x the images/s at batch 256), and bf16 moved probabilities by up to 0.06.
ONNX_TOLERANCE = 1e-4


@dataclass
class Predictor:
    model: torch.nn.Module
    card: checkpoint.ModelCard
    device: torch.device
    precision: Precision
    onnx: OnnxRunner | None = None  # the classifying path when set; Grad-CAM always runs the PyTorch model

    @classmethod
    def load(cls, path: Path, device: torch.device | None = None, backend: str = "auto") -> Predictor:
        """backend: auto (ONNX Runtime on a CPU, PyTorch on a GPU) | onnx | torch."""
        device = device or torch.device("cpu")
        model, card = checkpoint.load(path, device)
        precision = checkpoint.inference_precision(card, device)
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"backend {backend!r}; choose auto, onnx or torch")
        use_onnx = backend == "onnx" or (backend == "auto" and device.type == "cpu")
        return cls(
            model, card, device, precision, OnnxRunner(model, card.inputs, card.image_size) if use_onnx else None
        )

    @property
    def spec(self) -> DecodeSpec:
        pre = self.card.params["preprocess"]
        return DecodeSpec(
            self.card.stored_channels, self.card.image_size, pre["resize"], pre["equalize"], pre["clahe_clip"]
        )

    def decode(self, source: str | Path | bytes) -> np.ndarray:
        """(size, size, stored channels) uint8, as preprocess made the training images."""
        return decode(io.BytesIO(source) if isinstance(source, bytes) else source, self.spec)

    def top_k(self, image: np.ndarray, k: int) -> list[tuple[str, float]]:
        batch = self.card.inputs.prepare(torch.from_numpy(image[None]))
        if self.onnx is not None:
            probs = torch.from_numpy(self.onnx(to_unit(batch, self.card.inputs.channels))[0])
        else:
            probs = predict_probs(self.model, batch, self.card.inputs, 1, self.device, self.precision)[0]
        best = probs.argsort(descending=True)[:k]
        return [(self.card.classes[i], float(probs[i])) for i in best.tolist()]

    def cam(self, image: np.ndarray, target: int | None = None, method: str = "gradcam") -> np.ndarray:
        """(H, W, 3) uint8 overlay of the class activation map for `target` (default: the top class)."""
        x = self.card.inputs(self.card.inputs.prepare(torch.from_numpy(image[None])).to(self.device))
        x = x.requires_grad_(True)
        if target is None:
            with torch.no_grad():
                target = int(self.model(x).argmax(1))
        mask = np.asarray(cam_maps(self.model, self.model.cam_layer, x, [target], method))[0]
        return overlay(image, mask)

    def predict(self, paths: list[Path], k: int, cam_dir: Path | None = None) -> list[dict]:
        """One row per input: the top-k classes, or the reason the file could not be used."""
        rows = []
        for path in paths:
            row: dict = {"path": str(path)}
            try:
                image = self.decode(path)
            except (ValueError, FileNotFoundError, IsADirectoryError) as e:
                rows.append({**row, "status": "error", "error": str(e)})
                continue
            row["status"], row["error"] = "ok", ""
            for rank, (name, p) in enumerate(self.top_k(image, k), start=1):
                row[f"class_{rank}"], row[f"prob_{rank}"] = name, round(p, 6)
            if cam_dir is not None:
                cam_dir.mkdir(parents=True, exist_ok=True)
                target = self.card.classes.index(row["class_1"])
                Image.fromarray(self.cam(image, target)).save(cam_dir / f"{path.stem}_cam.png")
            rows.append(row)
        return rows
