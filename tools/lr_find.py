"""The learning-rate range test (Smith 2017, as fastai's lr_find): train a fresh model of a variant
for a few hundred steps while the learning rate grows exponentially, plot the loss against it and
suggest the rate where the loss falls fastest.

    python -m tools.lr_find --variant F0                 # after `dvc repro split`
    python -m tools.lr_find --variant F0 --steps 200 --out lr_find/

Writes lr_find/<variant>.png (loss against lr, log scale) and lr_find/<variant>.json (the curve and
the suggestion); the suggestion is a starting point for train.lr (for one-cycle, its peak).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from imgstudy.core.cli import cli
from imgstudy.data.store import load_split, open_store
from imgstudy.params import Params, load
from imgstudy.training.classify import make_task, prepare
from imgstudy.training.fitting import Task
from imgstudy.training.optim import make_optimizer, param_groups
from imgstudy.training.precision import Precision, choose_precision
from imgstudy.training.runtime import select_device, setup_runtime


def lr_range_test(
    model: nn.Module,
    task: Task,
    optimizer: str,
    device: torch.device,
    precision: Precision,
    *,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    batch_size: int = 64,
    seed: int = 0,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    diverge: float = 4.0,
) -> tuple[list[float], list[float]]:
    """(learning rates, smoothed losses) over at most `steps` optimizer steps from `start` to `end`;
    stops early once the smoothed loss exceeds `diverge` times its minimum."""
    net = task.begin_phase(model)
    net.train()
    opt = make_optimizer(optimizer, param_groups(net, start), weight_decay, momentum, False)
    factor = (end / start) ** (1 / max(1, steps - 1))
    gen = torch.Generator().manual_seed(seed)
    order = torch.cat([task.epoch_order(gen) for _ in range(math.ceil(steps * batch_size / task.train_size) + 1)])
    lrs, losses, average, best = [], [], 0.0, math.inf
    for step in range(steps):
        lr = start * factor**step
        for group in opt.param_groups:
            group["lr"] = lr
        x, target = task.train_batch(order[step * batch_size : (step + 1) * batch_size], gen)
        with precision.autocast(device):
            logits = net(x)
        loss = task.loss(logits.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        average = 0.98 * average + 0.02 * loss.item()  # exponential smoothing, bias-corrected below
        smoothed = average / (1 - 0.98 ** (step + 1))
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if not math.isfinite(smoothed) or smoothed > diverge * best:
            break
    return lrs, losses


def suggest(lrs: list[float], losses: list[float], skip: int = 10) -> float:
    """The rate where the smoothed loss falls fastest against log(lr), in the stretch before its minimum.
    The first `skip` steps are left out (as fastai does): the average there rests on a few batches."""
    low = int(np.argmin(losses))
    start = min(skip, max(0, low - 2))
    if low - start < 2:
        return lrs[low]
    slope = np.gradient(np.asarray(losses[start : low + 1]), np.log(np.asarray(lrs[start : low + 1])))
    return float(lrs[start + int(np.argmin(slope))])


def plot(path, lrs: list[float], losses: list[float], suggested: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.axvline(suggested, color="r", ls="--", label=f"suggested lr {suggested:.2g}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss (smoothed)", title="learning-rate range test")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(
    params: Params, store: Path, splits: Path, out: Path, variant: str, steps: int, start: float, end: float
) -> dict:
    setup_runtime(params.base.seed, params.base.threads)
    device, settings = select_device(params.base.device), params.train
    precision = choose_precision(settings.speed.precision, device)
    opened = open_store(store)
    train_split, val_split = load_split(opened, splits, "train"), load_split(opened, splits, "val")
    inputs, model, loss_fn = prepare(settings, opened, train_split, device, params.base.seed)
    task = make_task(settings, train_split, val_split, inputs, loss_fn, device, precision)
    lrs, losses = lr_range_test(
        model,
        task,
        settings.optimizer,
        device,
        precision,
        start=start,
        end=end,
        steps=steps,
        batch_size=settings.batch_size,
        seed=params.base.seed,
        weight_decay=settings.weight_decay,
        momentum=settings.momentum,
    )
    result = {"variant": variant, "suggested_lr": suggest(lrs, losses), "lr": lrs, "loss": losses}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{variant}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(out / f"{variant}.png", lrs, losses, result["suggested_lr"])
    return result


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--start", type=float, default=1e-7)
    parser.add_argument("--end", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("lr_find"))
    args = parser.parse_args()
    params = load(args.params, args.variant)
    paths = params.paths
    result = run(
        params, Path(paths.store), Path(paths.splits), args.out, args.variant, args.steps, args.start, args.end
    )
    print(
        f"lr_find {args.variant}: suggested lr {result['suggested_lr']:.3g} (loss against lr: "
        f"{args.out / (args.variant + '.png')})"
    )


if __name__ == "__main__":
    main()
