"""Convolutional nets built from scratch: the MNIST study's CNN and CNN+BiGRU, and the
dog-breed study's baseline CNN whose every choice is a param."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from imgstudy.core.registry import Registry
from imgstudy.models.registry import MODELS
from imgstudy.params.choices import BN_ORDERS, HEADS


class Exponential(nn.Module):
    """exp(x), Keras' "exponential" activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x)


ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")
for _name, _cls in {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "tanh": nn.Tanh,
    "selu": nn.SELU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "exponential": Exponential,
    # Keras' softmax activation in a hidden layer: over the channels (features) of each position
    "softmax": partial(nn.Softmax, dim=1),
}.items():
    ACTIVATIONS.register(_name)(_cls)
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
# Where a block's BatchNorm sits. conv_bn_act normalizes what the activation sees (Ioffe & Szegedy);
# conv_act_bn is Keras' Conv2D(activation=...) followed by BatchNormalization(), the studies' form. With a
# sigmoid the order matters: normalized inputs keep it in its nearly linear middle.


def mnist_block(c_in: int, c_out: int) -> nn.Sequential:
    """[conv 3x3 same + ReLU + BatchNorm] x2, max-pool 2x2, dropout 0.3 (the study's order)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(c_out),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(c_out),
        nn.MaxPool2d(2),
        nn.Dropout(0.3),
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
            nn.ReLU(inplace=True),
            nn.Dropout(0.25),
            nn.BatchNorm1d(512),
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.BatchNorm1d(512),
            nn.Linear(512, num_classes),
        )

    @property
    def cam_layer(self) -> nn.Module:
        # The last BatchNorm of block 3: the finest map with class evidence, before pooling
        # shrinks a 28px input to 3x3.
        return self.features[2][5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.features(x))


class GRUDirection(nn.Module):
    """One direction of a GRU layer with a chosen candidate activation (Keras' GRU(activation=...);
    PyTorch's nn.GRU has tanh only). Gates as Keras with reset_after=True, which is also PyTorch's form:
    r, z = sigmoid(x W + b + h U + c); n = act(x W_n + b_n + r * (h U_n + c_n)); h' = (1 - z) n + z h."""

    def __init__(self, n_in: int, n_hidden: int, activation: nn.Module):
        super().__init__()
        self.x2h, self.h2h, self.act = nn.Linear(n_in, 3 * n_hidden), nn.Linear(n_hidden, 3 * n_hidden), activation
        nn.init.xavier_uniform_(self.x2h.weight)  # Keras' initializers: glorot, orthogonal, zero biases
        for gate in self.h2h.weight.view(3, n_hidden, n_hidden):
            nn.init.orthogonal_(gate)
        nn.init.zeros_(self.x2h.bias)
        nn.init.zeros_(self.h2h.bias)

    def forward(self, x: torch.Tensor, reverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, n_in) -> every step's state (B, T, n_hidden) and the last one (B, n_hidden)."""
        gx = self.x2h(x)  # all input projections at once: (B, T, 3H)
        h = x.new_zeros(x.shape[0], self.h2h.in_features)
        states = []
        for t in reversed(range(x.shape[1])) if reverse else range(x.shape[1]):
            xr, xz, xn = gx[:, t].chunk(3, 1)
            hr, hz, hn = self.h2h(h).chunk(3, 1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            h = (1 - z) * self.act(xn + r * hn) + z * h
            states.append(h)
        if reverse:
            states.reverse()
        return torch.stack(states, 1), h


class BiGRU(nn.Module):
    """Keras' Bidirectional(GRU(units, activation)): both directions' states concatenated."""

    def __init__(self, n_in: int, units: int, activation: nn.Module):
        super().__init__()
        self.forward_dir, self.backward_dir = (
            GRUDirection(n_in, units, activation),
            GRUDirection(n_in, units, activation),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, n_in) -> sequences (B, T, 2 units) and final states (B, 2 units)."""
        seq_f, last_f = self.forward_dir(x, reverse=False)
        seq_b, last_b = self.backward_dir(x, reverse=True)
        return torch.cat([seq_f, seq_b], 2), torch.cat([last_f, last_b], 1)


class CnnBiGRU(nn.Module):
    """The same conv blocks; the map read as a sequence of 128-dim vectors by two bidirectional GRUs
    of 512 and 256 units with ReLU candidates, as the study built it."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int):
        super().__init__()
        self.features = mnist_features(in_channels)
        self.gru1 = BiGRU(128, 512, nn.ReLU())
        self.drop1 = nn.Dropout(0.25)
        self.gru2 = BiGRU(1024, 256, nn.ReLU())
        self.drop2 = nn.Dropout(0.5)
        self.out = nn.Linear(512, num_classes)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[2][5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)  # (B, 128, h, w)
        seq = f.flatten(2).transpose(1, 2)  # (B, h*w, 128): one step per map position
        seq, _ = self.gru1(seq)  # (B, T, 1024), all steps returned
        _, last = self.gru2(self.drop1(seq))  # (B, 512): the final state of each direction
        return self.out(self.drop2(last))


class BaselineCNN(nn.Module):
    """conv blocks of the given widths ([conv, BN?, activation] or [conv, activation, BN?] by bn_order, then a
    pool), then flatten or global average pooling, then dense layers with dropout: the dog-breed study's
    ablation space."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        widths: list[int],
        kernel: int,
        pool: str,
        batchnorm: bool,
        dropout: float,
        activation: str,
        head: str,
        dense: list[int],
        bn_order: str,
    ):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head {head!r}; choose one of {HEADS}")
        if bn_order not in BN_ORDERS:
            raise ValueError(f"bn_order {bn_order!r}; choose one of {BN_ORDERS}")
        if pool not in POOLS:
            raise ValueError(f"pool {pool!r}; choose one of {sorted(POOLS)}")
        if image_size >> len(widths) < 1:
            raise ValueError(f"{len(widths)} pooling blocks shrink a {image_size}px image to nothing")
        act = ACTIVATIONS[activation]
        layers, c = [], in_channels
        for w in widths:
            norm = [nn.BatchNorm2d(w)] if batchnorm else []
            conv = nn.Conv2d(c, w, kernel, padding=kernel // 2)
            layers += [conv, *norm, act()] if bn_order == "conv_bn_act" else [conv, act(), *norm]
            layers.append(POOLS[pool](2))
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
        return self.features[-2]  # the last block's output before its pool (activation or BN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


MODELS.register("mnist_cnn")(MnistCNN)
MODELS.register("cnn_gru")(CnnBiGRU)
MODELS.register("cnn")(BaselineCNN)
