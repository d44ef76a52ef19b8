"""Precision follows the hardware: bf16 where the CPU multiplies it natively and fast (AMX; AMD's
AVX512-BF16), fp32 elsewhere, decided in one place for training and inference alike."""

from __future__ import annotations

import ast
import platform
from pathlib import Path

import pytest
import torch

from conftest import ROOT, cnn_params, split_store, train_variant, write_quadrant_store
from imgstudy.core import machine
from imgstudy.core.machine import cpu_kind
from imgstudy.params import resolve
from imgstudy.training import checkpoint
from imgstudy.training.precision import choose_precision

CPU = torch.device("cpu")
# What cpu_capabilities() reports on the kinds of machine seen here (the flags that matter, the vendor).
INTEL, AMD = {"vendor": "GenuineIntel"}, {"vendor": "AuthenticAMD"}
SAPPHIRE_RAPIDS = {"family": 6, "model": 143}
XEON_AMX = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": True, "amx_tile": True, **INTEL}
EPYC_AVX2 = {"avx2": True, "avx512_f": False, "avx512_bf16": False, "amx_bf16": False, **AMD}
XEON_NO_AMX = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": False, **INTEL}  # AMX hidden by a VM
XEON_AVX512 = {"avx2": True, "avx512_f": True, "avx512_bf16": False, "amx_bf16": False, **INTEL}
EPYC_ZEN5 = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": False, **AMD, "family": 26}
EPYC_ZEN4 = {**EPYC_ZEN5, "family": 25, "model": 17}
MACHINES = {
    "xeon_amx": XEON_AMX,
    "epyc_avx2": EPYC_AVX2,
    "xeon_no_amx": XEON_NO_AMX,
    "xeon_avx512": XEON_AVX512,
    "epyc_zen5": EPYC_ZEN5,
    "epyc_zen4": EPYC_ZEN4,
    "xeon_spr": {**XEON_AMX, **SAPPHIRE_RAPIDS},
}


def test_auto_takes_bf16_where_the_cpu_multiplies_it_fast() -> None:
    auto = {name: choose_precision("auto", CPU, caps) for name, caps in MACHINES.items()}
    assert {name: p.name for name, p in auto.items()} == {
        "xeon_amx": "bf16",
        "epyc_avx2": "fp32",  # emulated: about 10x slower
        "xeon_no_amx": "fp32",  # AVX512-BF16 on an Intel Xeon: measured 163 vs 250 GFLOP/s (bf16 vs fp32 matmul)
        "xeon_avx512": "fp32",
        "epyc_zen5": "bf16",  # the same flag on AMD Zen 5: 635-741 vs 160 GFLOP/s
        "epyc_zen4": "bf16",  # Zen 4: the ResNet18 step 334 vs 168 GFLOP/s
        "xeon_spr": "bf16",
    }
    assert "AMX" in auto["xeon_amx"].reason and "AMD" in auto["epyc_zen5"].reason
    assert "Intel" in auto["xeon_no_amx"].reason
    # one kind per generation: a Zen 4's figures never overwrite a Zen 5's
    assert {name: cpu_kind(c) for name, c in MACHINES.items()} == {
        "xeon_amx": "amx",  # a Xeon whose model number names no known generation
        "epyc_avx2": "avx2",
        "xeon_no_amx": "avx512_bf16",
        "xeon_avx512": "avx512",
        "epyc_zen5": "amd_zen5",
        "epyc_zen4": "amd_zen4",
        "xeon_spr": "amx_spr",
    }


def test_the_vendor_is_read_from_the_cpu() -> None:
    """The decision rests on the vendor beside the flags, so it must be this machine's own."""
    caps = machine.cpu_capabilities()
    assert caps["vendor"] == machine.cpuinfo("vendor_id")
    if Path("/proc/cpuinfo").is_file() and platform.machine() == "x86_64":  # ARM's cpuinfo names no vendor
        assert caps["vendor"] in ("GenuineIntel", "AuthenticAMD"), caps["vendor"]
    assert machine.cpuinfo("no such field") == ""


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
    split_store(tmp_path, "official", 0.2, 0.1, seed=0)
    raw = cnn_params(epochs=1, batch_size=32)
    raw["train"]["speed"]["precision"] = "auto"  # the decision under test
    p = resolve(raw, "F0")
    monkeypatch.setattr(machine, "cpu_capabilities", lambda: XEON_AMX)
    train_variant(p, tmp_path, "m")
    assert "precision bf16 (auto: CPU with AMX)" in capsys.readouterr().out
    _, card = checkpoint.load(tmp_path / "m/model.pt", CPU)
    assert card.precision == "bf16"
    assert checkpoint.inference_precision(card, CPU).name == "bf16"  # still AMX here
    monkeypatch.setattr(machine, "cpu_capabilities", lambda: EPYC_AVX2)
    assert checkpoint.inference_precision(card, CPU).name == "fp32"  # the same model on an AVX2 machine
