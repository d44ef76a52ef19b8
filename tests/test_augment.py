"""Batch augmentation changes images by the stated amounts, per sample, reproducibly."""

from __future__ import annotations

import math

import torch

from imgstudy.training.augment import Augment


def bar_image(b: int = 8, side: int = 32) -> torch.Tensor:
    """A horizontal bright bar through the centre: easy to measure rotation and shift on."""
    x = torch.zeros(b, 1, side, side)
    x[:, :, side // 2 - 1 : side // 2 + 1, 4:-4] = 1.0
    return x


def centroid(x: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W) -> (B, 2) as (row, col)
    h, w = x.shape[-2:]
    rows = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
    cols = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w)
    mass = x.sum(dim=(1, 2, 3))
    return torch.stack([(x * rows).sum(dim=(1, 2, 3)) / mass, (x * cols).sum(dim=(1, 2, 3)) / mass], 1)


def angle_of_bar(x: torch.Tensor) -> torch.Tensor:
    """Principal-axis angle (degrees) of each image's ink."""
    h, w = x.shape[-2:]
    r, c = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    out = []
    for img in x[:, 0]:
        m = img.sum()
        cr, cc = (img * r).sum() / m, (img * c).sum() / m
        mrr, mcc, mrc = (
            (img * (r - cr) ** 2).sum() / m,
            (img * (c - cc) ** 2).sum() / m,
            (img * (r - cr) * (c - cc)).sum() / m,
        )
        out.append(0.5 * math.degrees(math.atan2(2 * mrc, mcc - mrr)))
    return torch.tensor(out)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_inactive_augment_is_identity() -> None:
    x = bar_image()
    assert Augment()(x, gen()) is x


def test_rotation_stays_within_range_and_varies_per_sample() -> None:
    angles = angle_of_bar(Augment(rotation=20)(bar_image(64), gen()))
    assert angles.abs().max() <= 21 and angles.abs().max() > 12  # within +-20 deg, and uses the range
    assert angles.std() > 5  # each sample draws its own angle


def test_shift_moves_the_centroid_by_at_most_the_fraction() -> None:
    x = bar_image(64)
    moved = centroid(Augment(shift=0.1)(x, gen())) - centroid(x)
    assert moved.abs().max() <= 0.1 * 32 + 0.5 and moved.abs().max() > 1.5
    assert (moved.min(0).values < -1.5).all() and (moved.max(0).values > 1.5).all()  # both ways, on both axes


def square_side(x: torch.Tensor) -> torch.Tensor:
    """Width of the bright region (pixels above half) along the middle row of each image."""
    return (x[:, 0, x.shape[2] // 2] > 0.5).sum(1).float()


def test_zoom_and_shrink_scale_the_object() -> None:
    x = torch.zeros(64, 1, 32, 32)
    x[:, :, 10:22, 10:22] = 1.0  # a 12 px square in the centre
    zoomed = square_side(Augment(zoom=0.15)(x, gen())) / 12
    assert zoomed.min() >= 0.85 - 1 / 12 and zoomed.max() <= 1.15 + 1 / 12 and zoomed.std() > 0.04
    shrunk = square_side(Augment(shrink=0.4)(x, gen())) / 12
    assert shrunk.max() <= 1 + 1 / 12 and shrunk.min() <= 0.7  # only ever smaller, down to 0.6


def mirrored_or_same(y: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """Which images of y are x mirrored along dim; every other one must be x unchanged."""
    flipped = torch.tensor([torch.allclose(a, b.flip(dim), atol=1e-5) for a, b in zip(y, x)])
    same = torch.tensor([torch.allclose(a, b, atol=1e-5) for a, b in zip(y, x)])
    assert (flipped | same).all()
    return flipped


def test_flips_are_exact_mirrors() -> None:
    x = torch.rand(400, 1, 8, 8)
    flipped = mirrored_or_same(Augment(hflip=True)(x, gen()), x, dim=-1)
    assert 170 <= flipped.sum() <= 230  # probability 1/2: 200 +- 10 of 400


def test_thinning_erodes_strokes_with_the_given_probability() -> None:
    x = bar_image(200)
    y = Augment(thin=0.5)(x, gen())
    thinned = y.sum(dim=(1, 2, 3)) < x.sum(dim=(1, 2, 3))
    assert 70 < thinned.sum() < 130
    assert torch.equal(y[thinned][0, 0, 16, 5:-5], torch.zeros(22))  # a 2-px bar erodes away entirely


def test_contrast_and_brightness_ranges() -> None:
    x = torch.full((64, 1, 4, 4), 0.5)
    x[:, :, :2] = 0.25
    bright = Augment(brightness=0.1)(x, gen()).mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))
    assert bright.abs().max() <= 0.1 + 1e-6 and bright.std() > 0.02
    span = Augment(contrast=0.5)(x, gen())
    ratio = (span[:, 0, 3, 0] - span[:, 0, 0, 0]) / 0.25
    assert ratio.min() >= 0.5 - 1e-5 and ratio.max() <= 1.5 + 1e-5


def test_same_generator_same_augmentation() -> None:
    aug = Augment(rotation=15, zoom=0.1, shift=0.1, contrast=0.2, hflip=True, thin=0.3)
    x = torch.rand(16, 3, 16, 16)
    assert torch.equal(aug(x, gen(5)), aug(x, gen(5)))
    assert not torch.equal(aug(x, gen(5)), aug(x, gen(6)))
    assert aug(x, gen(5)).shape == x.shape


def test_each_geometric_switch_alone_moves_pixels_and_vflip_mirrors_rows() -> None:
    x = torch.rand(400, 1, 8, 8)
    for switch in ({"rotation": 20}, {"zoom": 0.2}, {"shift": 0.2}, {"shrink": 0.3}, {"hflip": True}, {"vflip": True}):
        assert not torch.equal(Augment(**switch)(x[:32], gen()), x[:32]), switch
    assert 170 <= mirrored_or_same(Augment(vflip=True)(x, gen()), x, dim=-2).sum() <= 230


def test_contrast_spans_its_range_per_image_around_each_images_mean_and_clamps() -> None:
    x = torch.full((200, 1, 4, 4), 0.4)
    x[:, :, :2] = 0.2
    x[100:] += 0.3  # two different image means: each image keeps its own
    y = Augment(contrast=0.5)(x, gen())
    ratio = (y[:, 0, 3, 0] - y[:, 0, 0, 0]) / 0.2
    assert ratio.min() < 0.55 and ratio.max() > 1.45  # both ends of [0.5, 1.5] drawn
    assert torch.allclose(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-6)
    pushed = Augment(brightness=0.9)(torch.full((64, 1, 2, 2), 0.5), gen())
    assert pushed.min() == 0.0 and pushed.max() == 1.0  # clamped to [0, 1] on both sides


def test_thinning_erodes_a_thick_stroke_by_one_pixel_each_side() -> None:
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 6:10, 2:-2] = 1.0  # a 4-px bar
    y = Augment(thin=0.5)(x, gen())
    thinned = y.sum(dim=(1, 2, 3)) < x.sum(dim=(1, 2, 3))
    assert 15 < thinned.sum() < 49
    expected = torch.zeros(16, 16)
    expected[7:9, 3:-3] = 1.0
    assert all(torch.equal(img[0], expected) for img in y[thinned])


def test_policy_and_erasing_run_inside_the_call_from_their_generators() -> None:
    from imgstudy.training.augment import apply_policy, random_erase

    x = torch.rand(8, 3, 8, 8)
    assert torch.equal(Augment(erase=1.0)(x, gen(3)), random_erase(x, 1.0, gen(3)))
    torch.manual_seed(4)
    ours = Augment(policy="trivialaugment")(x, gen())
    torch.manual_seed(4)
    assert torch.equal(ours, apply_policy(x, "trivialaugment"))
    aug = Augment(rotation=15, contrast=0.2, brightness=0.1, erase=0.5)
    torch.manual_seed(1)
    first = aug(x, gen(2))
    torch.manual_seed(2)  # the global generator does not matter, only the one passed
    assert torch.equal(first, aug(x, gen(2)))


def test_pairs_move_images_and_masks_together_and_change_only_image_colours() -> None:
    x = torch.rand(32, 1, 8, 8)
    masks = (torch.rand(32, 8, 8) > 0.5).long()
    for switch in ({"rotation": 20}, {"zoom": 0.2}, {"shift": 0.2}, {"shrink": 0.3}, {"hflip": True}, {"vflip": True}):
        y, m = Augment(**switch).pair(x, masks, gen())
        assert not torch.equal(m, masks) and m.dtype == torch.long and set(m.unique().tolist()) <= {0, 1}, switch
    y, m = Augment(vflip=True).pair(x, masks, gen())
    for i in range(32):  # each sample either flipped (image and mask alike) or left alone
        flipped = torch.allclose(y[i], x[i].flip(-2), atol=1e-5)
        assert flipped or torch.allclose(y[i], x[i], atol=1e-5)
        assert torch.equal(m[i], masks[i].flip(-2) if flipped else masks[i])
    y, m = Augment(contrast=0.5, brightness=0.2).pair(x, masks, gen())
    assert torch.equal(m, masks) and not torch.equal(y, x) and 0 <= y.min() and y.max() <= 1
    torch.manual_seed(1)
    first = Augment(rotation=20, erase=0.5).pair(x, masks, gen(7))
    torch.manual_seed(2)
    second = Augment(rotation=20, erase=0.5).pair(x, masks, gen(7))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def pixel_centres(side: int) -> torch.Tensor:
    """Pixel centres in grid_sample's normalized [-1, 1] coordinates (align_corners=False)."""
    return (torch.arange(side) * 2 + 1) / side - 1


def two_blobs(b: int, side: int = 64, offset: float = 0.4) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel 0: a Gaussian blob right of the centre; channel 1: one below it (normalized [-1, 1]
    coordinates, x then y). Returns the images and each blob's position (2, 2)."""
    u = pixel_centres(side)
    yy, xx = torch.meshgrid(u, u, indexing="ij")
    where = torch.tensor([[offset, 0.0], [0.0, offset]])
    blobs = torch.stack([torch.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 0.05**2)) for px, py in where])
    return blobs.expand(b, 2, side, side).clone(), where


def blob_positions(x: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) -> (B, 2 blobs, 2 coordinates x, y): each channel's intensity-weighted centroid."""
    u = pixel_centres(x.shape[-1])
    mass = x.sum(dim=(2, 3))
    return torch.stack(
        [(x * u.view(1, 1, 1, -1)).sum(dim=(2, 3)) / mass, (x * u.view(1, 1, -1, 1)).sum(dim=(2, 3)) / mass], -1
    )


def test_rotation_zoom_and_flip_together_are_a_similarity_drawn_within_their_ranges() -> None:
    """Combined, the three must still map the image by one rotation, one scale and a mirror: both
    blobs keep their distance ratio and their right angle, whatever the draw."""
    x, where = two_blobs(400)
    p = blob_positions(Augment(rotation=30, zoom=0.2, hflip=True)(x, gen(1)))
    scale = p.norm(dim=-1) / where.norm(dim=-1)  # (B, 2): one zoom per image, the same for both blobs
    assert torch.allclose(scale[:, 0], scale[:, 1], atol=1e-3)
    assert scale.min() >= 0.8 - 0.01 and scale.max() <= 1.2 + 0.01 and scale.std() > 0.08
    a, c = p[:, 0], p[:, 1]
    cos = (a * c).sum(-1) / (a.norm(dim=-1) * c.norm(dim=-1))
    assert cos.abs().max() < 1e-3  # still at a right angle: no shear
    cross = a[:, 0] * c[:, 1] - a[:, 1] * c[:, 0]
    mirrored = cross < 0  # the blob order around the centre turns over only when flipped
    assert 170 <= mirrored.sum() <= 230  # a flip with probability 1/2: 200 +- 10 of 400
    # blob 0's angle, mirrored back where flipped, is the rotation: within 30 degrees either way
    angle = torch.rad2deg(torch.atan2(a[:, 1], torch.where(mirrored, -a[:, 0], a[:, 0])))
    assert angle.abs().max() <= 30.5 and angle.abs().max() > 25


def test_pairs_draw_rotation_and_zoom_within_range_and_the_mask_follows_the_image() -> None:
    x, where = two_blobs(200)
    masks = (x[:, 0] > 0.5).long()  # blob 0 as the object
    y, m = Augment(rotation=30, zoom=0.2).pair(x, masks, gen(2))
    p = blob_positions(y)
    scale = p.norm(dim=-1) / where.norm(dim=-1)
    assert torch.allclose(scale[:, 0], scale[:, 1], atol=1e-3) and scale.min() >= 0.79 and scale.max() <= 1.21
    angle = torch.rad2deg(torch.atan2(p[:, 0, 1], p[:, 0, 0]))
    assert angle.abs().max() <= 30.5 and angle.abs().max() > 25
    mask_at = blob_positions(m[:, None].float().expand(-1, 2, -1, -1))[:, 0]
    assert (mask_at - p[:, 0]).norm(dim=-1).max() < 0.03  # within a pixel (2 / 64) of the image's blob


def test_pairs_sample_masks_by_nearest_so_no_class_is_invented() -> None:
    masks = torch.zeros(64, 16, 16, dtype=torch.long)
    masks[:, :, 8:] = 2  # classes 0 and 2 side by side: blending them would make 1s on the border
    _, m = Augment(rotation=20, zoom=0.1).pair(torch.rand(64, 1, 16, 16), masks, gen())
    assert set(m.unique().tolist()) == {0, 2}


def test_pairs_apply_each_photometric_switch_alone_to_the_image_only() -> None:
    x = torch.rand(16, 1, 8, 8) * 0.5 + 0.25
    masks = (torch.rand(16, 8, 8) > 0.5).long()
    for switch in ({"contrast": 0.5}, {"brightness": 0.2}, {"erase": 1.0}):
        y, m = Augment(**switch).pair(x, masks, gen())
        assert torch.equal(m, masks) and (y - x).abs().max() > 0.05, switch


def test_erasing_boxes_span_the_area_and_aspect_ranges() -> None:
    from imgstudy.training.augment import random_erase

    y = random_erase(torch.zeros(300, 1, 64, 64), 1.0, gen())
    rows, cols = (y[:, 0] > 0).any(2), (y[:, 0] > 0).any(1)
    bh, bw = rows.sum(1).float(), cols.sum(1).float()
    area, aspect = bh * bw / 64**2, bh / bw
    assert area.min() >= 0.015 and area.max() <= 0.34  # (0.02, 0.33), rounded to whole pixels
    assert aspect.min() < 0.5 and aspect.max() > 2  # log-uniform in (0.3, 3.3): wide and tall boxes


def test_fill_decides_what_a_moved_image_shows_where_it_has_no_pixels() -> None:
    """zeros: black; nearest (ImageDataGenerator): the edge pixels; reflect (Keras' RandomRotation and
    RandomZoom): the mirror image. A constant image stays constant unless filled with zeros."""
    ones = torch.ones(4, 1, 16, 16)
    moved = {
        fill: Augment(shift=0.4, rotation=30, fill=fill)(ones.clone(), torch.Generator().manual_seed(0))
        for fill in ("zeros", "nearest", "reflect")
    }
    assert (
        moved["zeros"].min() == 0 and torch.allclose(moved["nearest"], ones) and torch.allclose(moved["reflect"], ones)
    )
    ramp = torch.linspace(0, 1, 16).repeat(4, 1, 16, 1)  # brighter to the right
    nearest, reflect = (
        Augment(shift=0.4, fill=fill)(ramp.clone(), torch.Generator().manual_seed(1)) for fill in ("nearest", "reflect")
    )
    assert not torch.allclose(nearest, reflect)
