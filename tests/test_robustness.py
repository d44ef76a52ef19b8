"""Each corruption changes images by its stated amount."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_augment import angle_of_bar, bar_image, centroid

from imgstudy.evaluation.robustness import CORRUPTIONS, LEVELS


def square(b: int = 4, side: int = 40, size: int = 16) -> torch.Tensor:
    x = torch.zeros(b, 1, side, side)
    lo = (side - size) // 2
    x[:, :, lo : lo + size, lo : lo + size] = 1.0
    return x


@pytest.mark.parametrize("severity", [1, 2, 3])
def test_geometric_corruptions_by_their_amounts(severity: int) -> None:
    blob = square(4, 40, 8)  # small enough to stay inside the frame
    moved = centroid(CORRUPTIONS["shift"](blob, severity)) - centroid(blob)
    assert torch.allclose(moved.abs(), torch.full_like(moved, LEVELS["shift"][severity - 1] * 40), atol=0.6)
    angles = angle_of_bar(CORRUPTIONS["rotate"](bar_image(4, 40), severity))
    expected = LEVELS["rotate"][severity - 1]
    assert np.allclose(np.abs(angles.numpy()), expected, atol=1.5) and angles[0] * angles[1] < 0  # alternating
    sides = (CORRUPTIONS["zoom"](square(), severity)[:, 0, 20] > 0.5).sum(1).float() / 16
    z = LEVELS["zoom"][severity - 1]
    assert sides[0] == pytest.approx(1 + z, abs=0.1) and sides[1] == pytest.approx(1 - z, abs=0.1)


@pytest.mark.parametrize("severity", [1, 2, 3])
def test_photometric_corruptions_by_their_amounts(severity: int) -> None:
    x = torch.full((4, 1, 32, 32), 0.5)
    x[:, :, :16] = 0.3
    c = CORRUPTIONS["contrast"](x, severity)
    assert (c.std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3))).allclose(torch.tensor(LEVELS["contrast"][severity - 1]))
    delta = CORRUPTIONS["brightness"](x, severity).mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))
    b = LEVELS["brightness"][severity - 1]
    assert torch.allclose(delta, torch.tensor([b, -b, b, -b]), atol=1e-6)
    noise = CORRUPTIONS["noise"](x, severity) - x
    assert noise.std().item() == pytest.approx(LEVELS["noise"][severity - 1], rel=0.05)
    assert torch.equal(CORRUPTIONS["noise"](x, severity), CORRUPTIONS["noise"](x, severity))  # fixed noise


@pytest.mark.parametrize("severity", [1, 2, 3])
def test_blur_is_a_gaussian_of_the_stated_sigma(severity: int) -> None:
    from scipy.ndimage import gaussian_filter

    sigma = LEVELS["blur"][severity - 1]
    x = torch.from_numpy(np.random.default_rng(0).random((1, 1, 31, 31))).float()
    y = CORRUPTIONS["blur"](x, severity)[0, 0].numpy()
    radius = max(1, math.ceil(3 * sigma))
    reference = gaussian_filter(x[0, 0].numpy(), sigma, mode="nearest", truncate=radius / sigma)
    assert np.allclose(y, reference, atol=1e-5)
    point = torch.zeros(1, 1, 31, 31)
    point[0, 0, 15, 15] = 1.0
    assert CORRUPTIONS["blur"](point, severity).sum().item() == pytest.approx(1.0, abs=1e-5)  # moves ink, keeps it


def test_imperfect_digits_are_thinner_and_smaller() -> None:
    x = square(2, 40, 16)
    y = CORRUPTIONS["imperfect"](x, 3)
    side = (y[:, 0, 20] > 0.5).sum(1).float()
    assert torch.allclose(side, torch.full((2,), (16 - 2) * LEVELS["imperfect"][2]), atol=1.0)


def test_unknown_severity() -> None:
    with pytest.raises(ValueError, match="severity 4"):
        CORRUPTIONS["zoom"](square(), 4)
