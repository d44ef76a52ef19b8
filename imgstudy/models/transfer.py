"""torchvision backbones for transfer learning: ImageNet weights, blocks, freezing, new head.

Every backbone becomes TransferNet = blocks (the convolutional feature extractor, cut
into the architecture's own stages) -> global average pool -> dropout -> new linear
head, so freezing, "unfreeze the last N blocks", Grad-CAM's target layer and cached
features work the same way for all of them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from imgstudy.models.registry import MODELS
from imgstudy.models.weights import resolve_weights
from imgstudy.params.choices import INITS, WEIGHTS


def _vgg_blocks(m: nn.Module) -> list[nn.Module]:
    """VGG's five conv stages, each ending at its max-pool."""
    blocks, current = [], []
    for layer in m.features:
        current.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            blocks.append(nn.Sequential(*current))
            current = []
    return blocks


def _resnet_blocks(m: nn.Module) -> list[nn.Module]:
    return [nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool), m.layer1, m.layer2, m.layer3, m.layer4]


def _feature_children(m: nn.Module) -> list[nn.Module]:
    """MobileNet and EfficientNet: each child of `features` is one (inverted-residual) stage."""
    return list(m.features.children())


def _densenet_blocks(m: nn.Module) -> list[nn.Module]:
    """Stem, then each dense block with the transition after it; the final norm + ReLU last."""
    f = m.features
    return [
        nn.Sequential(f.conv0, f.norm0, f.relu0, f.pool0),
        nn.Sequential(f.denseblock1, f.transition1),
        nn.Sequential(f.denseblock2, f.transition2),
        nn.Sequential(f.denseblock3, f.transition3),
        nn.Sequential(f.denseblock4, f.norm5, nn.ReLU()),
    ]


# arch -> how to cut it into blocks; the feature width is read from a dry run.
ARCHS: dict[str, Callable[[nn.Module], list[nn.Module]]] = {
    "vgg16": _vgg_blocks,
    "vgg19": _vgg_blocks,
    "resnet18": _resnet_blocks,
    "resnet50": _resnet_blocks,
    "mobilenet_v2": _feature_children,
    "mobilenet_v3_small": _feature_children,
    "mobilenet_v3_large": _feature_children,
    "efficientnet_b0": _feature_children,
    "densenet121": _densenet_blocks,
}


def adapt_first_conv(blocks: nn.Sequential, in_channels: int) -> None:
    """Grayscale input: replace the first RGB conv by one whose filters sum the RGB filters,
    which gives the pretrained response to a gray image replicated on three channels."""
    if in_channels == 3:
        return
    for parent in blocks.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.in_channels == 3:
                if in_channels != 1:
                    raise ValueError(f"transfer backbones take 1 or 3 channels, got {in_channels}")
                conv = nn.Conv2d(
                    1,
                    child.out_channels,
                    child.kernel_size,
                    child.stride,
                    child.padding,
                    child.dilation,
                    child.groups,
                    child.bias is not None,
                )
                with torch.no_grad():
                    conv.weight.copy_(child.weight.sum(dim=1, keepdim=True))
                    if child.bias is not None:
                        conv.bias.copy_(child.bias)
                setattr(parent, name, conv)
                return
    raise ValueError("no 3-channel input convolution found to adapt")


def init_layer(layer: nn.Module, init: str) -> None:
    """xavier_uniform | kaiming (weights) with zero biases, or torchvision's own init (default)."""
    if init == "default":
        return
    if init == "xavier_uniform":
        nn.init.xavier_uniform_(layer.weight)
    else:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def init_all(module: nn.Module, init: str) -> None:
    """Every convolution and linear layer of a network trained from scratch (no pretrained weights)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            init_layer(layer, init)


class TransferNet(nn.Module):
    def __init__(self, blocks: list[nn.Module], in_channels: int, num_classes: int, head_dropout: float, init: str):
        super().__init__()
        self.blocks = nn.Sequential(*blocks)
        adapt_first_conv(self.blocks, in_channels)
        with torch.no_grad():
            width = self.blocks(torch.zeros(1, in_channels, 64, 64)).shape[1]
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(head_dropout), nn.Linear(width, num_classes)
        )
        init_layer(self.head[-1], init)
        self.frozen_blocks = 0

    @property
    def cam_layer(self) -> nn.Module:
        return self.blocks[-1]  # the last feature map, before pooling

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, width, h, w)
        return self.blocks(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))

    def freeze(self, trainable_blocks: int) -> None:
        """Freeze the backbone except its last `trainable_blocks` blocks; the head always trains.

        Frozen blocks also stay in eval mode (BatchNorm keeps its ImageNet statistics), as
        Keras does for frozen layers; see train().
        """
        n = len(self.blocks)
        if not 0 <= trainable_blocks <= n:
            raise ValueError(f"unfreeze_blocks must be in 0..{n} for this backbone, got {trainable_blocks}")
        self.frozen_blocks = n - trainable_blocks
        for i, block in enumerate(self.blocks):
            block.requires_grad_(i >= self.frozen_blocks)
        self.train(self.training)

    def train(self, mode: bool = True) -> TransferNet:
        super().train(mode)
        for block in list(self.blocks)[: self.frozen_blocks]:
            block.eval()
        return self


def build_transfer(
    arch: str,
    in_channels: int,
    num_classes: int,
    image_size: int,
    weights: str,
    freeze: bool,
    unfreeze_blocks: int,
    head_dropout: float,
    init: str,
) -> TransferNet:
    if weights not in WEIGHTS:
        raise ValueError(f"weights {weights!r}; choose one of {WEIGHTS}")
    if init not in INITS:
        raise ValueError(f"init {init!r}; choose one of {INITS}")
    from torchvision.models import get_model  # on use: torchvision takes seconds to import

    chosen = resolve_weights(arch, weights, f"training {arch}")
    backbone = get_model(arch, weights=chosen)
    model = TransferNet(ARCHS[arch](backbone), in_channels, num_classes, head_dropout, init)
    model.pretrained = chosen is not None
    if not model.pretrained:  # from scratch: the chosen init for the backbone too, not only the new head
        init_all(model.blocks, init)
    if freeze:
        model.freeze(unfreeze_blocks)
    return model


for _arch in ARCHS:
    MODELS.register(_arch)(lambda c, k, s, _a=_arch, **o: build_transfer(_a, c, k, s, **o))
