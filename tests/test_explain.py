"""Activation maps of a model that only looks at one corner: Grad-CAM finds the corner, and
deleting what it highlights hurts the prediction more than deleting random pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from imgstudy.evaluation.explain import CAM_METHODS, area_under, cam_maps, deletion_curves, pick_samples


class CornerNet(nn.Module):
    """Bright top-left corner -> class 0; the rest of the image cannot matter."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        mask = torch.zeros(1, 1, 28, 28)
        mask[..., :8, :8] = 1.0
        self.register_buffer("mask", mask)
        self.masked = nn.Identity()  # the CAM layer: a map that is zero outside the corner
        self.head = nn.Linear(4, 2)
        with torch.no_grad():
            self.conv.weight.fill_(0.2)
            self.conv.bias.zero_()
            # decision boundary at a corner activation of 0.8: a bright corner gives ~1.1,
            # a corner filled with the image's mean colour ~0.5
            self.head.weight.copy_(torch.tensor([[4.0] * 4, [-4.0] * 4]))
            self.head.bias.copy_(torch.tensor([-12.8, 12.8]))

    @property
    def cam_layer(self) -> nn.Module:
        return self.masked

    def forward(self, x):
        f = self.masked(self.relu(self.conv(x)) * self.mask)
        return self.head(f.mean(dim=(2, 3)) * 12)


def images(n: int = 6) -> torch.Tensor:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(0, 0.3, (n, 1, 28, 28))).float()
    x[:, :, 1:7, 1:7] = 1.0  # bright corner content
    x[:, :, 15:25, 15:25] = 1.0  # a bright distractor the model ignores
    return x


@pytest.mark.parametrize("method", CAM_METHODS.names())
def test_maps_concentrate_on_the_corner(method: str) -> None:
    model = CornerNet().eval()
    masks = cam_maps(model, model.cam_layer, images().requires_grad_(True), [0] * 6, method)
    corner = masks[:, :8, :8].sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
    assert (corner > 0.95).all(), corner
    assert masks[:, 15:25, 15:25].max() < 0.05


def test_deletion_beats_random_deletion() -> None:
    model = CornerNet().eval()
    x = images()
    masks = np.asarray(cam_maps(model, model.cam_layer, x.clone().requires_grad_(True), [0] * 6, "gradcam"))
    cam, random = deletion_curves(model, x, masks, [0] * 6, lambda z: z, steps=10, seed=0)
    assert cam[0] == pytest.approx(random[0]) and cam[0] > 0.9  # nothing deleted yet
    assert area_under(cam) < area_under(random) - 0.2, (cam, random)
    assert cam[2] < 0.7 < random[2]  # 20% deleted: the corner is gone, random barely touched it


def test_samples_per_class_right_and_wrong() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    preds = np.array([0, 1, 0, 1, 1, 0])
    picks = pick_samples(labels, preds, 2, per_class=1)
    assert picks[0].tolist() == [0, 1] and picks[1].tolist() == [3, 5]
