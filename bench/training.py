"""Training speed: our train path against the plain way, the train step against the machine's
matmul peak, the feature cache, torch.compile, segmentation per precision and size, and one epoch
of the MNIST study's CNN."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imgstudy.models import build_model
from imgstudy.models.unet import build_unet
from imgstudy.training.augment import Augment
from imgstudy.training.fitting import FitConfig, Phase
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import fit
from imgstudy.training.losses import LOSSES
from imgstudy.training.mixing import Mixing
from imgstudy.training.precision import FP32, Precision, choose_precision
from imgstudy.training.segment import SEG_LOSSES
from imgstudy.training.tasks import ClassifyTask, SegmentTask

CPU = torch.device("cpu")
CE = LOSSES["cross_entropy"](None, 0.0, 0.0)
# No flips: the class is the quadrant, and a flip would move it (label noise for both sides).
AUG = Augment(rotation=10, zoom=0.1, shift=0.1)
RESNET = dict(weights="none", freeze=False, unfreeze_blocks=0, head_dropout=0.0, init="default")


def auto() -> Precision:
    return choose_precision("auto", CPU)


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


def task_for(x, y, val, inputs, augment: Augment, batch: int, precision: Precision, cache: bool = True):
    return ClassifyTask(
        (x, y),
        val,
        inputs,
        CE,
        CPU,
        augment=augment,
        mixing=Mixing(),
        batch_size=batch,
        feature_cache=cache,
        sampling="uniform",
        precision=precision,
    )


def config(epochs: int, batch: int, precision: Precision, lr: float = 1e-3) -> FitConfig:
    return FitConfig(
        phases=(Phase(epochs=epochs, lr=lr),),
        batch_size=batch,
        optimizer="adamw",
        monitor="val_loss",
        patience=0,
        seed=0,
        precision=precision,
    )


def ours(train, test, side: int, epochs: int, batch: int) -> tuple[float, float]:
    """(train images/s, test accuracy) of our engine as the train stage runs it (precision auto)."""
    x, y = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    torch.manual_seed(0)
    model = build_model("resnet18", 3, 4, side, **RESNET)
    inputs = Inputs.fit(x, "native", "imagenet", channels_last=True)
    val = (x[:8], y[:8])  # a token validation set (the plain loop has none): the timing is the training
    start = time.perf_counter()
    fit(model, task_for(x, y, val, inputs, AUG, batch, auto()), config(epochs, batch, auto()), CPU, lambda r, m: None)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        xt = torch.from_numpy(test[0])
        pred = torch.cat([model(inputs(xt[i : i + 256])).argmax(1) for i in range(0, len(xt), 256)])
    return len(y) * epochs / seconds, float((pred.numpy() == test[1]).mean())


def write_files(train, test, folder: Path) -> None:
    """The plain pipeline's input: one PNG per image in class folders (ImageFolder layout)."""
    for split, (images, labels) in (("train", train), ("test", test)):
        for i, (img, c) in enumerate(zip(images, labels)):
            (folder / split / str(c)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / split / str(c) / f"{i:05d}.png")


def plain(train, test, side: int, epochs: int, batch: int, folder: Path) -> tuple[float, float]:
    """(train images/s, test accuracy) the plain way: ImageFolder + per-image PIL transforms, fp32."""
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
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
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


def feature_cache_speedup(side: int = 224, n: int = 64, batch: int = 16) -> tuple[float, float, float]:
    """(speedup, seconds per epoch running the frozen backbone, seconds per epoch on cached features)."""
    x = torch.from_numpy(quadrant_rgb(n, side, 3)[0])
    y = torch.arange(n) % 4
    inputs = Inputs.fit(x, "native", "imagenet", channels_last=True)
    times = {}
    for cache in (False, True):
        torch.manual_seed(0)
        model = build_model("vgg19", 3, 4, side, **{**RESNET, "freeze": True})
        seconds = []
        fit(
            model,
            task_for(x, y, (x[:batch], y[:batch]), inputs, Augment(), batch, FP32, cache),
            config(3, batch, FP32),
            CPU,
            lambda r, m, s=seconds: s.append(r.seconds),
        )
        times[cache] = float(np.median(seconds[1:]))  # steady-state epochs (the cache fills before epoch 1)
    return times[False] / times[True], times[False], times[True]


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

        def step(net=net, optimizer=optimizer, x=x, y=y):
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


def mnist_cnn_epoch_seconds(n: int = 50_000, batch: int = 128) -> float:
    """One epoch of the MNIST study's CNN over n 28 px digits with the study's augmentation (rotation,
    zoom, shift, imperfect digits) as the train stage runs it: for planning full-data runs."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8))
    y = torch.from_numpy(rng.integers(0, 10, n))
    torch.manual_seed(0)
    model = build_model("mnist_cnn", 1, 10, 28)
    inputs = Inputs.fit(x[:1000], "native", "dataset", channels_last=True)
    study = Augment(rotation=10, zoom=0.1, shift=0.1, shrink=0.3, thin=0.3)
    seconds = []
    fit(
        model,
        task_for(x, y, (x[:batch], y[:batch]), inputs, study, batch, auto()),
        config(1, batch, auto()),
        CPU,
        lambda r, m: seconds.append(r.seconds),
    )
    return seconds[0]


def segmentation_rates(side: int, n: int = 64, batch: int = 8) -> dict[str, float]:
    """UNet train images/s at `side` px: fp32 contiguous, fp32 channels_last, and bf16 (autocast)."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (n, side, side, 1), dtype=np.uint8))
    m = torch.from_numpy(rng.integers(0, 2, (n, side, side)))
    rates = {}
    for name, channels_last, precision in (
        ("fp32", False, FP32),
        ("fp32 channels_last", True, FP32),
        ("bf16 channels_last", True, choose_precision("bf16", CPU)),
    ):
        torch.manual_seed(0)
        model = build_unet(1, 2, 3, 16, True, 0.0, "transpose", "none", "none", "default")
        inputs = Inputs.fit(x, "native", "dataset", channels_last)
        task = SegmentTask(
            (x, m),
            (x[:batch], m[:batch]),
            inputs,
            SEG_LOSSES["dice_bce"](2.0),
            CPU,
            augment=Augment(rotation=10),
            batch_size=batch,
        )
        seconds = []
        fit(
            model,
            task,
            FitConfig(
                phases=(Phase(epochs=2, lr=1e-3),),
                batch_size=batch,
                optimizer="adamw",
                monitor="val_dice",
                patience=0,
                seed=0,
                precision=precision,
            ),
            CPU,
            lambda r, mod, s=seconds: s.append(r.seconds),
        )
        rates[name] = n / seconds[-1]
    return rates
