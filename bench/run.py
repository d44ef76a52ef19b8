"""The speed benchmark: our paths against the plain ones, measured in one run, kept per kind of machine.

    make bench        # = .venv/bin/python bench/run.py   (about 30 minutes on 2 cores)
    .venv/bin/python bench/run.py --skip-grid           # without building the default study

Writes bench/results.json (one entry per kind of CPU and generation - amx_spr, amd_zen4, amd_zen5, avx512_bf16,
avx2, ... (imgstudy/core/machine.py); a run on one kind keeps the others') and bench/results.md.

- speedup_vs_plain_{224,64}: train images/s of our engine (uint8 arrays decoded once, batched
  tensor augmentation, channels_last, precision auto) over the plain pipeline (torchvision
  ImageFolder over PNG files, PIL per-image transforms every epoch, DataLoader defaults, fp32,
  default memory format); same ResNet18, augmentations, images and epochs.
- accuracy_delta_vs_plain: our test accuracy minus the plain one's in the 64 px comparison.
- data_path_ratio: our train step throughput over the model's bare step on a batch in memory.
- fp32_peak_fraction, bf16_peak_fraction: achieved FLOP/s of the ResNet18 224 px train step (FLOPs
  from torch.utils.flop_counter) in fp32 / bf16 autocast, over the peak of that arithmetic: the higher
  of the best matmul over sizes 1024-4096 measured in the same run and cores x FLOP/cycle x clock
  (bench/peaks.py); never above 1.
- compile_speedup_64, feature_cache_speedup: torch.compile over eager; a frozen VGG19 at 224 px
  running its backbone every epoch over training the head on cached features.
- mnist_cnn_epoch_seconds: one epoch of the MNIST study's CNN over 50,000 digits with its augmentation.
- segmentation_{64,128}: UNet train images/s per precision and memory format.
- inference: the default study's best model: latency_ms_b1 and images/s at batch 256 with PyTorch
  eager, ONNX Runtime and bf16 (where fast), and each path's largest probability difference.
- make_run_minutes, stage_seconds, stage_kind_seconds, noop_repro_seconds, start_up_seconds: the default
  study built from scratch by the code at --before and by this tree, one after the other, each stage timed
  from DVC's verbose log; `dvc repro` with nothing to do against DVC's floor (bench/stages.py).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import machine  # noqa: E402
import peaks as P  # noqa: E402
import training as T  # noqa: E402
from inference import inference_paths  # noqa: E402

import stages as S  # noqa: E402

REPEATS = 3
BEFORE = "5cb8a02"  # the code before the stages were merged and their imports made lazy (the previous round)


def versus_plain(results: dict, rows: list, tmp: Path) -> None:
    for side, n, epochs, batch in ((64, 2000, 2, 64), (224, 192, 1, 32)):
        train, test = T.quadrant_rgb(n, side, 0), T.quadrant_rgb(400 if side == 64 else 64, side, 1)
        T.write_files(train, test, tmp / str(side))
        # Interleaved repeats (ours, plain, ours, plain, ...): shared VMs drift by 30% within minutes,
        # so each side's median is compared, not one lucky or unlucky run.
        runs = [
            (T.ours(train, test, side, epochs, batch), T.plain(train, test, side, epochs, batch, tmp / str(side)))
            for _ in range(REPEATS)
        ]
        ours_ips, plain_ips = (float(np.median([r[i][0] for r in runs])) for i in (0, 1))
        results[f"speedup_vs_plain_{side}"] = ours_ips / plain_ips
        rows.append(
            (
                f"ResNet18 {side} px, {n} images x {epochs} epochs: ours / plain images/s (median of {REPEATS} "
                "interleaved runs)",
                f"{ours_ips:.1f} / {plain_ips:.1f}",
                f"{ours_ips / plain_ips:.2f}x",
            )
        )
        if side == 64:
            ours_acc, plain_acc = runs[0][0][1], runs[0][1][1]  # the same in every repeat (seeded)
            results["accuracy_delta_vs_plain"] = ours_acc - plain_acc
            rows.append(
                (
                    "test accuracy, ours - plain (64 px)",
                    f"{ours_acc:.4f} - {plain_acc:.4f}",
                    f"{ours_acc - plain_acc:+.4f}",
                )
            )
            bare_ips, _ = P.bare_step_rate(64, batch, T.auto(), steps=20)
            results["data_path_ratio"] = ours_ips / bare_ips
            rows.append(
                (
                    "train stage / bare step on a batch in memory (64 px)",
                    f"{ours_ips:.1f} / {bare_ips:.1f}",
                    f"{ours_ips / bare_ips:.2f}",
                )
            )


def peaks(results: dict, rows: list) -> None:
    bf16 = T.choose_precision("bf16", T.CPU)
    for name, precision, dtype in (("fp32", T.FP32, torch.float32), ("bf16", bf16, torch.bfloat16)):
        _, flops = P.bare_step_rate(224, 16, precision, steps=3)
        matmul, theory = P.matmul_peak(dtype), P.theoretical_peak(name)
        peak = max(matmul, theory)
        results[f"{name}_peak_fraction"] = flops / peak
        results[f"{name}_matmul_gflops"], results[f"{name}_theoretical_gflops"] = matmul / 1e9, theory / 1e9
        rows.append(
            (
                f"ResNet18 224 px train step, {name}: achieved / peak GFLOP/s (the higher of the best matmul, "
                f"{matmul / 1e9:.0f}, and cores x FLOP/cycle x clock, {theory / 1e9:.0f})",
                f"{flops / 1e9:.0f} / {peak / 1e9:.0f}",
                f"{flops / peak:.2f}",
            )
        )


def others(results: dict, rows: list) -> None:
    speedup, seconds = T.compile_speedup()
    results["compile_speedup_64"] = speedup
    rows.append(
        (
            "ResNet18 64 px train step: torch.compile / eager, steady state",
            f"compiled in {seconds:.0f} s",
            f"{speedup:.2f}x",
        )
    )
    speedup, every, cached = T.feature_cache_speedup()
    results["feature_cache_speedup"] = speedup
    rows.append(
        (
            "frozen VGG19 224 px, seconds per epoch: backbone every epoch / cached features",
            f"{every:.2f} / {cached:.4f}",
            f"{speedup:.0f}x",
        )
    )
    seconds = T.mnist_cnn_epoch_seconds()
    results["mnist_cnn_epoch_seconds"] = seconds
    rows.append(
        ("MNIST study's CNN, one epoch of 50,000 digits with its augmentation (precision auto)", f"{seconds:.0f} s", "")
    )
    for side in (64, 128):
        rates = T.segmentation_rates(side)
        results[f"segmentation_{side}"] = rates
        rows.append(
            (
                f"UNet {side} px train images/s: " + " / ".join(rates),
                " / ".join(f"{r:.1f}" for r in rates.values()),
                f"{max(rates, key=rates.get)} fastest",
            )
        )


def inference(results: dict, rows: list, model: Path) -> None:
    paths = inference_paths(model)
    results["inference"] = {
        "model": str(model.relative_to(model.parents[2])) if len(model.parents) > 2 else str(model),
        **paths,
    }
    base = paths["pytorch_fp32"]
    for name, p in paths.items():
        if "skipped" in p:
            rows.append((f"inference {name}", p["skipped"], ""))
            continue
        rows.append(
            (
                f"inference {name}: ms per image at batch 1 / images/s at batch 256 (max prob diff "
                f"{p['max_prob_diff']:.1e})",
                f"{p['latency_ms_b1']:.2f} / {p['images_per_s_b256']:.0f}",
                f"{base['latency_ms_b1'] / p['latency_ms_b1']:.1f}x / "
                f"{p['images_per_s_b256'] / base['images_per_s_b256']:.1f}x",
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--skip-grid",
        action="store_true",
        help="skip building the default study twice (the inference benchmark then uses best_model/model.pt)",
    )
    parser.add_argument("--before", default=BEFORE, help="the code the stage times are compared with (a git rev)")
    args = parser.parse_args()
    torch.manual_seed(0)
    results: dict = {}
    rows: list[tuple[str, str, str]] = []
    model = ROOT / "best_model" / "model.pt"
    if not args.skip_grid:
        model = ROOT / "bench" / "out" / "best_model.pt"
        stage_results, stage_rows = S.compare_versions(args.before, model)
        results.update(stage_results)
        rows += stage_rows
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest process waited for
        rows.append(("peak memory of the largest stage process", f"{peak_kb / 1024:.0f} MB", ""))
        machine.save(ROOT / "bench" / "results.json", results, rows)  # kept if a later measure fails
    with tempfile.TemporaryDirectory() as tmp:
        versus_plain(results, rows, Path(tmp))
    peaks(results, rows)
    others(results, rows)
    if model.is_file():
        inference(results, rows, model)
    kinds = machine.save(ROOT / "bench" / "results.json", results, rows)
    text = "# Benchmark results, per kind of machine\n\nWritten by `make bench` (bench/run.py).\n\n" + machine.markdown(
        kinds
    )
    (ROOT / "bench" / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
