"""UNet for segmentation: (B, C, H, W) -> (B, classes, H, W) logits.

The contracting path is either the classic double-conv stack (depth, base width, BatchNorm,
dropout as params) or a torchvision backbone cut into its blocks (resnet18, mobilenet_v2,
with ImageNet weights as the classifiers use them); the expanding path up-samples by
transposed convolution or bilinear interpolation and concatenates the skip at each scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imgstudy.core.registry import Registry
from imgstudy.models.transfer import ARCHS, adapt_first_conv
from imgstudy.models.weights import resolve_weights
from imgstudy.params.choices import INITS, UPSAMPLE


def double_conv(c_in: int, c_out: int, batchnorm: bool, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in (c_in, c_out):
        layers += [nn.Conv2d(c, c_out, 3, padding=1, bias=not batchnorm)]
        layers += [nn.BatchNorm2d(c_out)] if batchnorm else []
        layers += [nn.ReLU(inplace=True)]
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class Up(nn.Module):
    """Up-sample to the skip's size, concatenate the skip, double conv."""

    def __init__(self, c_in: int, c_skip: int, c_out: int, mode: str, batchnorm: bool, dropout: float):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_in // 2, 2, stride=2) if mode == "transpose" else None
        c_up = c_in // 2 if mode == "transpose" else c_in
        self.conv = double_conv(c_up + c_skip, c_out, batchnorm, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.up is not None:
            x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:  # odd sizes, or a backbone stage that is not exactly x2
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], 1))


class UNet(nn.Module):
    def __init__(
        self,
        encoder: nn.ModuleList,
        skip_widths: list[int],
        in_channels: int,
        num_classes: int,
        width: int,
        upsample: str,
        batchnorm: bool,
        dropout: float,
    ):
        super().__init__()
        self.encoder = encoder  # stages; the output of each is a skip, the last one the bottleneck
        widths = skip_widths[::-1]
        ups, c = [], widths[0]
        for skip, out in zip(widths[1:], [max(width, w) for w in widths[1:]]):
            ups.append(Up(c, skip, out, upsample, batchnorm, dropout))
            c = out
        self.decoder = nn.ModuleList(ups)
        self.head = nn.Conv2d(c, num_classes, 1)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size, skips = x.shape[-2:], []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for up in self.decoder:
            x = up(x, skips.pop())
        x = self.head(x)
        # backbones start at 1/2 or 1/4 resolution: the logits come back to the input size
        return x if x.shape[-2:] == size else F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def plain_encoder(
    in_channels: int, depth: int, width: int, batchnorm: bool, dropout: float
) -> tuple[nn.ModuleList, list[int]]:
    """The classic contracting path: double conv at full size, then depth x (max-pool, double conv)."""
    widths = [width * 2**k for k in range(depth + 1)]
    stages = [double_conv(in_channels, widths[0], batchnorm, 0.0)]
    for k in range(1, depth + 1):  # dropout in the deepest stage, as the original UNet
        stages.append(
            nn.Sequential(
                nn.MaxPool2d(2), double_conv(widths[k - 1], widths[k], batchnorm, dropout if k == depth else 0.0)
            )
        )
    return nn.ModuleList(stages), widths


def backbone_encoder(arch: str, in_channels: int, weights: str) -> tuple[nn.ModuleList, list[int]]:
    """A torchvision backbone's blocks, merged so that each stage ends where the resolution halves."""
    from torchvision.models import get_model  # on use: torchvision takes seconds to import

    blocks = ARCHS[arch](get_model(arch, weights=resolve_weights(arch, weights, f"UNet encoder {arch}")))
    seq = nn.Sequential(*blocks)
    adapt_first_conv(seq, in_channels)
    blocks = list(seq)
    with torch.no_grad():  # a dry run finds where each resolution ends
        x, sizes, widths = torch.zeros(1, in_channels, 64, 64), [], []
        for b in blocks:
            b.eval()
            x = b(x)
            sizes.append(x.shape[-1])
            widths.append(x.shape[1])
    stages, current, stage_widths = [], [], []
    for i, b in enumerate(blocks):
        current.append(b)
        if i == len(blocks) - 1 or sizes[i + 1] != sizes[i]:
            stages.append(nn.Sequential(*current))
            stage_widths.append(widths[i])
            current = []
    return nn.ModuleList(stages), stage_widths


def init_new_layers(modules: list[nn.Module], init: str) -> None:
    """Xavier uniform or Kaiming for the layers the UNet adds (not the pretrained ones)."""
    if init == "default":
        return
    for m in (layer for module in modules for layer in module.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            if init == "xavier_uniform":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# encoder name -> builder(in_channels, depth, width, batchnorm, dropout, weights)
ENCODERS: Registry = Registry("UNet encoder")
ENCODERS.register("none")(lambda c, depth, width, bn, dropout, weights: plain_encoder(c, depth, width, bn, dropout))
for _arch in ("resnet18", "mobilenet_v2"):
    ENCODERS.register(_arch)(lambda c, depth, width, bn, dropout, weights, _a=_arch: backbone_encoder(_a, c, weights))


def build_unet(
    in_channels: int,
    num_classes: int,
    depth: int,
    width: int,
    batchnorm: bool,
    dropout: float,
    upsample: str,
    encoder: str,
    weights: str,
    init: str,
) -> UNet:
    if upsample not in UPSAMPLE or init not in INITS:
        raise ValueError(f"upsample {upsample!r} / init {init!r}: choose from {UPSAMPLE} / {INITS}")
    stages, widths = ENCODERS[encoder](in_channels, depth, width, batchnorm, dropout, weights)
    model = UNet(stages, widths, in_channels, num_classes, width, upsample, batchnorm, dropout)
    init_new_layers([model.decoder, model.head] + ([model.encoder] if encoder == "none" else []), init)
    return model
