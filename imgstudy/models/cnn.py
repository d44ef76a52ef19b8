"""The MNIST study's CNN, built exactly as described in DESIGN.md."""
from __future__ import annotations

import torch
from torch import nn

from imgstudy.models import MODELS


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """[conv 3x3 same + ReLU + BatchNorm] x2, max-pool 2x2, dropout 0.3 (the study's order)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(c_out),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(c_out),
        nn.MaxPool2d(2), nn.Dropout(0.3),
    )


class MnistCNN(nn.Module):
    """Three conv blocks (32, 64, 128) then dense 512-512-classes with dropout and BN."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int):
        super().__init__()
        self.features = nn.Sequential(
            conv_block(in_channels, 32), conv_block(32, 64), conv_block(64, 128)
        )
        # Grad-CAM reads the last BatchNorm of block 3: the finest map with class evidence,
        # before pooling shrinks a 28px input to 3x3.
        self.cam_layer = self.features[2][5]
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * (image_size // 8) ** 2, 512),  # three 2x2 pools: side // 8
            nn.ReLU(inplace=True), nn.Dropout(0.25), nn.BatchNorm1d(512),
            nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.BatchNorm1d(512),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.features(x))


@MODELS.register("mnist_cnn")
def mnist_cnn(in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return MnistCNN(in_channels, num_classes, image_size)
