"""Precision follows the hardware: bf16 where the CPU multiplies it natively (AMX), fp32 elsewhere,
decided in one place for training and inference alike."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from conftest import ROOT, cnn_params, write_quadrant_store
from imgstudy import params as P
from imgstudy.training import checkpoint, precision
from imgstudy.training.precision import choose_precision, cpu_kind
from stages import split, train

CPU = torch.device("cpu")
# What torch.cpu.get_capabilities() reports on the two kinds of machine (the flags that matter).
XEON_AMX = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": True, "amx_tile": True}
EPYC_AVX2 = {"avx2": True, "avx512_f": False, "avx512_bf16": False, "amx_bf16": False}
XEON_NO_AMX = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": False}  # AMX hidden by a VM


def test_auto_takes_bf16_only_where_the_cpu_has_amx() -> None:
    assert choose_precision("auto", CPU, XEON_AMX).name == "bf16"
    assert choose_precision("auto", CPU, EPYC_AVX2).name == "fp32"
    # AVX512-BF16 alone: measured 163 vs 250 GFLOP/s (bf16 vs fp32 matmul) on such a Xeon
    assert choose_precision("auto", CPU, XEON_NO_AMX).name == "fp32"
    assert "AMX" in choose_precision("auto", CPU, XEON_AMX).reason
    assert [cpu_kind(c) for c in (XEON_AMX, EPYC_AVX2, XEON_NO_AMX)] == ["amx", "avx2", "avx512"]


def test_an_explicit_precision_is_taken_as_asked_and_a_wrong_one_refused() -> None:
    for name in ("fp32", "bf16", "fp16"):
        assert choose_precision(name, CPU, EPYC_AVX2).name == name
    with pytest.raises(ValueError, match="precision 'fp8'"):
        choose_precision("fp8", CPU)


def test_cuda_takes_bf16_when_the_gpu_supports_it(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert choose_precision("auto", torch.device("cuda")).name == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert choose_precision("auto", torch.device("cuda")).name == "fp32"


def test_autocast_contexts_match_the_precision() -> None:
    x = torch.randn(4, 4)
    with choose_precision("bf16", CPU).autocast(CPU):
        assert (x @ x).dtype == torch.bfloat16
    with choose_precision("fp32", CPU).autocast(CPU):
        assert (x @ x).dtype == torch.float32


def test_no_other_place_decides_precision() -> None:
    """Every autocast and bf16 choice in the project goes through imgstudy/training/precision.py."""
    offenders = []
    for folder in ("imgstudy", "stages", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "precision.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Attribute):
                    continue
                on_torch = isinstance(node.value, ast.Name) and node.value.id == "torch"
                if (on_torch and node.attr in ("autocast", "bfloat16", "float16")) or node.attr in (
                    "get_cpu_capability",
                    "get_capabilities",
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    assert not offenders, offenders


def test_train_reports_the_choice_and_the_card_keeps_it(tmp_path: Path, monkeypatch, capsys) -> None:
    write_quadrant_store(tmp_path / "store", 96, test=16)
    split.run(tmp_path / "store", tmp_path / "splits", "official", 0.2, 0.1, seed=0)
    raw = cnn_params(epochs=1, batch_size=32)
    raw["train"]["speed"]["precision"] = "auto"  # the decision under test
    p = P.resolve(raw, "F0")
    monkeypatch.setattr(precision, "cpu_capabilities", lambda: XEON_AMX)
    train.run(p, tmp_path / "store", tmp_path / "splits", tmp_path / "m", tmp_path / "live")
    assert "precision bf16 (auto: CPU with AMX)" in capsys.readouterr().out
    _, card = checkpoint.load(tmp_path / "m/model.pt", CPU)
    assert card.precision == "bf16"
    assert checkpoint.inference_precision(card, CPU).name == "bf16"  # still AMX here
    monkeypatch.setattr(precision, "cpu_capabilities", lambda: EPYC_AVX2)
    assert checkpoint.inference_precision(card, CPU).name == "fp32"  # the same model on an AVX2 machine
