"""Convolutional nets built from scratch: the MNIST study's CNN and CNN+BiGRU, and the
dog-breed study's baseline CNN whose every choice is a param."""
from __future__ import annotations

import torch
from torch import nn

from imgstudy.models import MODELS, ModelSpec
from imgstudy.registry import Registry

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")
for _name, _cls in {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus, "softsign": nn.Softsign,
                    "tanh": nn.Tanh, "selu": nn.SELU, "elu": nn.ELU, "gelu": nn.GELU}.items():
    ACTIVATIONS.register(_name)(_cls)
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
HEADS = ("flatten", "gap")


def mnist_block(c_in: int, c_out: int) -> nn.Sequential:
    """[conv 3x3 same + ReLU + BatchNorm] x2, max-pool 2x2, dropout 0.3 (the study's order)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(c_out),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(c_out),
        nn.MaxPool2d(2), nn.Dropout(0.3),
    )


def mnist_features(in_channels: int) -> nn.Sequential:
    return nn.Sequential(mnist_block(in_channels, 32), mnist_block(32, 64), mnist_block(64, 128))


class MnistCNN(nn.Module):
    """Three conv blocks (32, 64, 128) then dense 512-512-classes with dropout and BN."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int):
        super().__init__()
        self.features = mnist_features(in_channels)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * (image_size // 8) ** 2, 512),  # three 2x2 pools: side // 8
            nn.ReLU(inplace=True), nn.Dropout(0.25), nn.BatchNorm1d(512),
            nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.BatchNorm1d(512),
            nn.Linear(512, num_classes),
        )

    @property
    def cam_layer(self) -> nn.Module:
        # The last BatchNorm of block 3: the finest map with class evidence, before pooling
        # shrinks a 28px input to 3x3.
        return self.features[2][5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.features(x))


class CnnBiGRU(nn.Module):
    """The same conv blocks; the map read as a sequence of 128-dim vectors by two BiGRUs."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int):
        super().__init__()
        self.features = mnist_features(in_channels)
        self.gru1 = nn.GRU(128, 512, batch_first=True, bidirectional=True)
        self.drop1 = nn.Dropout(0.25)
        self.gru2 = nn.GRU(1024, 256, batch_first=True, bidirectional=True)
        self.drop2 = nn.Dropout(0.5)
        self.out = nn.Linear(512, num_classes)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[2][5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)  # (B, 128, h, w)
        seq = f.flatten(2).transpose(1, 2)  # (B, h*w, 128): one step per map position
        seq, _ = self.gru1(seq)  # (B, T, 1024), all steps returned
        _, last = self.gru2(self.drop1(seq))  # last: (2, B, 256), final state of each direction
        return self.out(self.drop2(torch.cat([last[0], last[1]], dim=1)))


class BaselineCNN(nn.Module):
    """conv blocks of the given widths ([conv, BN?, activation] + pool), then flatten or global
    average pooling, then dense layers with dropout: the dog-breed study's ablation space."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int, widths: list[int], kernel: int,
                 pool: str, batchnorm: bool, dropout: float, activation: str, head: str, dense: list[int]):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head {head!r}; choose one of {HEADS}")
        if pool not in POOLS:
            raise ValueError(f"pool {pool!r}; choose one of {sorted(POOLS)}")
        if image_size >> len(widths) < 1:
            raise ValueError(f"{len(widths)} pooling blocks shrink a {image_size}px image to nothing")
        act = ACTIVATIONS[activation]
        layers, c = [], in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, kernel, padding=kernel // 2)]
            layers += [nn.BatchNorm2d(w)] if batchnorm else []
            layers += [act(), POOLS[pool](2)]
            c = w
        self.features = nn.Sequential(*layers)
        side = image_size >> len(widths)
        dims = [c if head == "gap" else c * side * side, *dense]
        mlp: list[nn.Module] = [nn.AdaptiveAvgPool2d(1)] if head == "gap" else []
        mlp.append(nn.Flatten())
        for a, b in zip(dims, dims[1:]):
            mlp += [nn.Dropout(dropout), nn.Linear(a, b), act()]
        mlp += [nn.Dropout(dropout), nn.Linear(dims[-1], num_classes)]
        self.head = nn.Sequential(*mlp)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-2]  # the last activation, before the last pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


MODELS.register("mnist_cnn")(ModelSpec(MnistCNN))
MODELS.register("cnn_gru")(ModelSpec(CnnBiGRU))
MODELS.register("cnn")(ModelSpec(BaselineCNN, options="cnn"))
