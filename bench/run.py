"""The speed benchmark: our train path against the plain way, measured in one run.

    make bench        # = .venv/bin/python bench/run.py   (about 20 minutes on 2 cores)
    .venv/bin/python bench/run.py --skip-grid           # the micro benchmarks only (~5 min)

Writes bench/results.json (the keys below) and bench/results.md (the table the README quotes).

- speedup_vs_plain_{224,64}: train images/s of our engine (uint8 arrays decoded once, batched
  tensor augmentation, channels_last, precision auto) over the plain pipeline (torchvision
  ImageFolder over PNG files, PIL per-image transforms every epoch, DataLoader defaults,
  float32, default memory format); same ResNet18, same augmentations, same images, same epochs.
- accuracy_delta_vs_plain: our test accuracy minus the plain one's in the 64 px comparison.
- data_path_ratio: our train step throughput over the model's bare step on a batch in memory.
- fp32_peak_fraction, bf16_peak_fraction: achieved FLOP/s of the ResNet18 224 px train step
  (FLOPs from torch.utils.flop_counter) in fp32 / bf16 autocast, over a fp32 / bf16 matmul
  measured in the same run.
- compile_speedup_64: steady-state ResNet18 train step under torch.compile over eager (and
  the seconds the compilation costs): measured to decide whether the engine should compile.
- feature_cache_speedup: epoch time of a frozen VGG19 at 224 px run every epoch over the epoch
  time with cached features (same head).
- noop_repro_seconds, grid_minutes, peak_rss_mb: the default pipeline (params.yaml) built from
  scratch in a temporary copy of the project: its wall time, then a `dvc repro` with nothing
  changed, and the peak resident memory of its largest stage process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from imgstudy.models import build_model  # noqa: E402
from imgstudy.training.augment import Augment  # noqa: E402
from imgstudy.training.inputs import Inputs  # noqa: E402
from imgstudy.training.loop import FitConfig, Phase, fast_bf16, fit  # noqa: E402
from imgstudy.training.losses import LOSSES  # noqa: E402

REPEATS = 3
# No flips: the class is the quadrant, and a flip would move it (label noise for both sides).
AUG = Augment(rotation=10, zoom=0.1, shift=0.1)
RESNET = dict(weights="none", freeze=False, unfreeze_blocks=0, head_dropout=0.0, init="default")


def quadrant_rgb(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB noise photos with a coloured square in one quadrant; the class is the quadrant."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    images = rng.integers(0, 90, (n, side, side, 3), dtype=np.uint8)
    half, sq = side // 2, side // 4
    for i, c in enumerate(labels):
        top, left = half * (c // 2) + rng.integers(0, half - sq), half * (c % 2) + rng.integers(0, half - sq)
        images[i, top : top + sq, left : left + sq] = rng.integers(180, 256, 3)
    return images, labels


def fit_config(epochs: int, batch: int) -> FitConfig:
    return FitConfig(
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
        bf16=fast_bf16(torch.device("cpu")),
        feature_cache=True,
        augment=AUG,
    )


def ours(train, test, side: int, epochs: int, batch: int) -> tuple[float, float]:
    """(train images/s, test accuracy) of our engine."""
    x, y = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    torch.manual_seed(0)
    model = build_model("resnet18", 3, 4, side, **RESNET)
    inputs = Inputs.fit(x, "native", "imagenet", channels_last=True)
    val = (x[:8], y[:8])  # a token validation set (the plain loop has none): the timing is the training
    start = time.perf_counter()
    fit(
        model,
        (x, y),
        val,
        inputs,
        LOSSES["cross_entropy"](None, 0.0, 0.0),
        fit_config(epochs, batch),
        torch.device("cpu"),
        lambda r, m: None,
    )
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        xt = torch.from_numpy(test[0])
        pred = torch.cat([model(inputs(xt[i : i + 256])).argmax(1) for i in range(0, len(xt), 256)])
    return len(y) * epochs / seconds, (pred.numpy() == test[1]).mean()


def write_files(train, test, folder: Path) -> None:
    """The plain pipeline's input: one PNG per image in class folders (ImageFolder layout)."""
    for split, (images, labels) in (("train", train), ("test", test)):
        for i, (img, c) in enumerate(zip(images, labels)):
            (folder / split / str(c)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / split / str(c) / f"{i:05d}.png")


def plain(train, test, side: int, epochs: int, batch: int, folder: Path) -> tuple[float, float]:
    """(train images/s, test accuracy) the plain way: ImageFolder + per-image PIL transforms."""
    from torchvision import datasets, transforms

    norm = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    augment = transforms.Compose(
        [transforms.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)), transforms.ToTensor(), norm]
    )
    loader = torch.utils.data.DataLoader(
        datasets.ImageFolder(folder / "train", augment), batch_size=batch, shuffle=True
    )
    torch.manual_seed(0)
    model = build_model("resnet18", 3, 4, side, **RESNET)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.0)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    test_loader = torch.utils.data.DataLoader(
        datasets.ImageFolder(folder / "test", transforms.Compose([transforms.ToTensor(), norm])), batch_size=256
    )
    model.eval()
    with torch.no_grad():
        correct = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in test_loader)
    return len(loader.dataset) * epochs / seconds, correct / len(test_loader.dataset)


def bare_step_rate(side: int, batch: int, bf16: bool = False, steps: int = 6) -> tuple[float, float]:
    """(images/s, FLOP/s) of the ResNet18 train step on one batch already in memory."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = build_model("resnet18", 3, 4, side, **RESNET).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(batch, 3, side, side).contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch) % 4

    def step():
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    return batch / seconds, counter.get_total_flops() / seconds


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start)


def feature_cache_speedup(side: int = 224, n: int = 64, batch: int = 16) -> tuple[float, float, float]:
    """(speedup, seconds per epoch running the frozen backbone, seconds per epoch on cached features)."""
    x = torch.from_numpy(quadrant_rgb(n, side, 3)[0])
    y = torch.arange(n) % 4
    inputs = Inputs.fit(x, "native", "imagenet", channels_last=True)
    times = {}
    for cache in (False, True):
        torch.manual_seed(0)
        model = build_model("vgg19", 3, 4, side, **{**RESNET, "freeze": True})
        cfg = FitConfig(
            phases=(Phase(3, 1e-3),),
            batch_size=batch,
            optimizer="adam",
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
            bf16=False,
            feature_cache=cache,
        )
        seconds = []
        fit(
            model,
            (x, y),
            (x[:batch], y[:batch]),
            inputs,
            LOSSES["cross_entropy"](None, 0.0, 0.0),
            cfg,
            torch.device("cpu"),
            lambda r, m: seconds.append(r.seconds),
        )
        times[cache] = float(np.median(seconds[1:]))  # steady-state epochs (the cache fills before epoch 1)
    return times[False] / times[True], times[False], times[True]


def default_grid() -> dict:
    """Build the default pipeline from scratch in a temporary copy, then time a no-op repro."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "study"
        for name in ("dvc.yaml", "params.yaml", "imgstudy", "stages", ".dvc/config", ".dvcignore", ".gitignore"):
            src, dst = ROOT / name, repo / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            (
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
                if src.is_dir()
                else shutil.copy2(src, dst)
            )
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "bench"]):
            subprocess.run(cmd, cwd=repo, env=env, check=True)
        start = time.perf_counter()
        subprocess.run(["dvc", "repro", "-q"], cwd=repo, env=env, check=True)
        grid = time.perf_counter() - start
        start = time.perf_counter()
        out = subprocess.run(["dvc", "repro"], cwd=repo, env=env, check=True, capture_output=True, text=True)
        noop = time.perf_counter() - start
        assert "Running stage" not in out.stdout, out.stdout
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest process waited for
    return {"grid_minutes": grid / 60, "noop_repro_seconds": noop, "peak_rss_mb": peak_kb / 1024}


def compile_speedup(side: int = 64, batch: int = 64, steps: int = 8) -> tuple[float, float]:
    """(steady-state train step speed of torch.compile over eager, seconds the compilation took)."""
    rates, compile_seconds = {}, 0.0
    for compiled in (False, True):
        torch.manual_seed(0)
        model = build_model("resnet18", 3, 4, side, **RESNET).to(memory_format=torch.channels_last).train()
        net = torch.compile(model) if compiled else model
        optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
        x = torch.randn(batch, 3, side, side).contiguous(memory_format=torch.channels_last)
        y = torch.arange(batch) % 4

        def step():
            loss = torch.nn.functional.cross_entropy(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        start = time.perf_counter()
        step()
        step()
        if compiled:
            compile_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates[compiled] = batch * steps / (time.perf_counter() - start)
    return rates[True] / rates[False], compile_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-grid", action="store_true", help="skip building the default pipeline")
    args = parser.parse_args()
    torch.manual_seed(0)
    results: dict[str, float] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for side, n, epochs, batch in ((64, 2000, 2, 64), (224, 192, 1, 32)):
            train, test = quadrant_rgb(n, side, 0), quadrant_rgb(400 if side == 64 else 64, side, 1)
            write_files(train, test, Path(tmp) / str(side))
            # Interleaved repeats (ours, plain, ours, plain, ...): these shared VMs drift by 30%
            # within minutes, so each side's median is compared, not one lucky or unlucky run.
            runs = [
                (ours(train, test, side, epochs, batch), plain(train, test, side, epochs, batch, Path(tmp) / str(side)))
                for _ in range(REPEATS)
            ]
            ours_ips = float(np.median([o[0] for o, _ in runs]))
            plain_ips = float(np.median([p[0] for _, p in runs]))
            ours_acc, plain_acc = runs[0][0][1], runs[0][1][1]  # the same in every repeat (seeded)
            results[f"speedup_vs_plain_{side}"] = ours_ips / plain_ips
            rows.append(
                (
                    f"ResNet18 {side} px, {n} images x {epochs} epochs: ours / plain images/s "
                    f"(median of {REPEATS} interleaved runs)",
                    f"{ours_ips:.1f} / {plain_ips:.1f}",
                    f"{ours_ips / plain_ips:.2f}x",
                )
            )
            if side == 64:
                results["accuracy_delta_vs_plain"] = float(ours_acc - plain_acc)
                rows.append(
                    (
                        "test accuracy, ours - plain (64 px)",
                        f"{ours_acc:.4f} - {plain_acc:.4f}",
                        f"{ours_acc - plain_acc:+.4f}",
                    )
                )
                bare_ips, _ = bare_step_rate(64, batch, steps=20)
                results["data_path_ratio"] = ours_ips / bare_ips
                rows.append(
                    (
                        "train stage / bare step on a batch in memory (64 px)",
                        f"{ours_ips:.1f} / {bare_ips:.1f}",
                        f"{ours_ips / bare_ips:.2f}",
                    )
                )
    _, fp32_flops = bare_step_rate(224, 16)
    _, bf16_flops = bare_step_rate(224, 16, bf16=True, steps=2)
    fp32_peak, bf16_peak = matmul_peak(torch.float32), matmul_peak(torch.bfloat16, n=1024, reps=2)
    results["fp32_peak_fraction"] = fp32_flops / fp32_peak
    results["bf16_peak_fraction"] = bf16_flops / bf16_peak
    rows.append(
        (
            "ResNet18 224 px train step, fp32: achieved / matmul GFLOP/s",
            f"{fp32_flops / 1e9:.0f} / {fp32_peak / 1e9:.0f}",
            f"{fp32_flops / fp32_peak:.2f}",
        )
    )
    rows.append(
        (
            "ResNet18 224 px train step, bf16: achieved / matmul GFLOP/s",
            f"{bf16_flops / 1e9:.1f} / {bf16_peak / 1e9:.1f}",
            f"{bf16_flops / bf16_peak:.2f}",
        )
    )
    speedup, seconds = compile_speedup()
    results["compile_speedup_64"] = speedup
    rows.append(
        (
            "ResNet18 64 px train step: torch.compile / eager, steady state",
            f"compiled in {seconds:.0f} s",
            f"{speedup:.2f}x",
        )
    )
    speedup, every, cached = feature_cache_speedup()
    results["feature_cache_speedup"] = speedup
    rows.append(
        (
            "frozen VGG19 224 px, seconds per epoch: backbone every epoch / cached features",
            f"{every:.2f} / {cached:.4f}",
            f"{speedup:.0f}x",
        )
    )
    if not args.skip_grid:
        grid = default_grid()
        results.update(grid)
        rows.append(("default grid (params.yaml) from scratch", f"{grid['grid_minutes']:.1f} min", ""))
        rows.append(("`dvc repro` with nothing changed", f"{grid['noop_repro_seconds']:.1f} s", ""))
        rows.append(("peak memory of the largest stage process", f"{grid['peak_rss_mb']:.0f} MB", ""))
    table = "| measure | values | result |\n|---|---|---|\n" + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
    cpu = torch.backends.cpu.get_cpu_capability()
    table += f"\n(torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability {cpu})\n"
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "bench" / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
