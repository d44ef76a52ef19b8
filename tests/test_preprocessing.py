"""Each preprocessing switch checked by its numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from imgstudy.data.images import equalize, letterbox_pad, resize_batch, resize_one, to_unit
from imgstudy.training.augment import Augment
from imgstudy.training.inputs import Inputs


def low_contrast(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(100, 8, (64, 64, 1)).clip(80, 120).astype(np.uint8)


def test_global_equalization_flattens_the_histogram() -> None:
    image = low_contrast()
    out = equalize(image, "global")
    assert image.max() - image.min() <= 40 and out.min() <= 5 and out.max() >= 250
    cdf = np.cumsum(np.bincount(out.ravel(), minlength=256)) / out.size
    levels = np.unique(out)
    # A flat histogram has a linear CDF: at each occupied level, CDF ~ level / 255.
    assert np.abs(cdf[levels] - levels / 255).max() < 0.06


def test_clahe_raises_local_contrast_within_its_clip() -> None:
    image = low_contrast()
    out = equalize(image, "clahe", clahe_clip=2.0)
    assert out.std() > 2 * image.std()
    assert out.std() < equalize(image, "global").std()  # clipped: less than full equalization


def test_colour_equalization_changes_lightness_only() -> None:
    import cv2

    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0] = low_contrast()[:32, :32, 0]  # a dim red picture
    out = equalize(image, "global")
    before, after = (cv2.cvtColor(x, cv2.COLOR_RGB2LAB).astype(int) for x in (image, out))
    assert after[..., 0].std() > 3 * before[..., 0].std()  # lightness spread...
    colour_shift = np.abs(after[..., 1:] - before[..., 1:]).max(-1)
    # ...colour (a*, b*) kept, except where a lighter red leaves the RGB gamut and is clipped
    assert np.median(colour_shift) == 0 and (colour_shift <= 2).mean() > 0.5


def test_letterbox_keeps_the_aspect_ratio_and_stretch_does_not() -> None:
    image = np.full((20, 40, 1), 255, np.uint8)  # a 2:1 white rectangle
    boxed = resize_one(image, 32, "letterbox")[..., 0]
    rows = np.flatnonzero(boxed.mean(1) > 128)
    assert (rows.min(), rows.max()) == (8, 23) and boxed[:6].max() == 0  # 16 rows of 32: still 2:1
    assert resize_one(image, 32, "stretch").min() == 255
    batch = resize_batch(np.stack([image] * 3), 32, "letterbox")
    assert np.abs(batch[0].astype(int) - boxed[..., None]).max() <= 2


def test_dataset_zscore_uses_the_training_images_only() -> None:
    train = torch.full((10, 4, 4, 1), 100, dtype=torch.uint8)
    train[:5] = 200
    inputs = Inputs.fit(train, "native", "dataset", False)
    assert abs(inputs.mean[0] - 150 / 255) < 1e-6 and abs(inputs.std[0] - 50 / 255) < 1e-6
    test = torch.full((2, 4, 4, 1), 250, dtype=torch.uint8)  # not seen by fit
    assert torch.allclose(inputs(test), torch.full((2, 1, 4, 4), (250 - 150) / 50.0), atol=1e-5)


def test_zca_whitening_gives_identity_covariance_on_training_data() -> None:
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(48, 48))
    x = rng.normal(size=(4000, 48)) @ mix  # strongly correlated pixels
    x = ((x - x.min()) / (x.max() - x.min()) * 255).astype(np.uint8).reshape(4000, 4, 4, 3)
    images = torch.from_numpy(x)
    inputs = Inputs.fit(images, "native", "zca", False, zca_epsilon=1e-6)
    white = inputs(images).reshape(4000, -1).double()
    cov = torch.cov(white.T)
    assert torch.allclose(cov, torch.eye(48, dtype=torch.float64), atol=0.05)
    raw = torch.cov(images.reshape(4000, -1).double().T)
    assert (raw - torch.diag(torch.diag(raw))).abs().max() > 10 * (cov - torch.eye(48)).abs().max()


def test_per_image_standardization() -> None:
    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8))
    x = Inputs.fit(images, "native", "per_image", False)(images).reshape(5, -1)
    assert torch.allclose(x.mean(1), torch.zeros(5), atol=1e-5) and torch.allclose(x.std(1), torch.ones(5), atol=1e-4)


def test_the_card_restores_the_same_inputs() -> None:
    """What a model's card keeps is enough to prepare and normalize images exactly as in training."""
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8))
    cases = [("gray", "dataset", "clahe"), ("rgb", "imagenet", "global"), ("native", "zca", "none")]
    for channels, normalize, equalization in cases:
        inputs = Inputs.fit(images, channels, normalize, True, zca_epsilon=0.1, equalize=equalization, clahe_clip=3.0)
        card = inputs.card()
        assert card["kind"] == normalize and card["equalize"] == equalization and card["clahe_clip"] == 3.0
        extra = {"whitening": inputs.whitening, "pixel_mean": inputs.pixel_mean} if normalize == "zca" else {}
        again = Inputs.from_card({**card, **extra})
        batch = images[:5]
        assert torch.equal(again.prepare(batch), inputs.prepare(batch))
        assert torch.equal(again(again.prepare(batch)), inputs(inputs.prepare(batch)))
        assert again(batch).is_contiguous(memory_format=torch.channels_last)
        reference = np.stack([equalize(i, equalization, 3.0) for i in batch.numpy()])  # the clip is the card's
        assert np.array_equal(inputs.prepare(batch).numpy(), reference)
    old = {k: v for k, v in inputs.card().items() if k not in ("equalize", "clahe_clip")}  # a card from before
    restored = Inputs.from_card({**old, "whitening": inputs.whitening, "pixel_mean": inputs.pixel_mean})
    assert (restored.equalize, restored.clahe_clip) == ("none", 2.0)


def test_batch_resize_in_chunks_keeps_black_white_and_pillows_values() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 12, 18, 3), dtype=np.uint8)
    images[:, :4] = 0  # a black band and a white one: no overshoot, no offset
    images[:, -4:] = 255
    whole = resize_batch(images, 6, "stretch")
    assert whole.dtype == np.uint8 and whole.shape == (5, 6, 6, 3)
    assert np.array_equal(whole, resize_batch(images, 6, "stretch", chunk=2))  # chunks of 2, 2, 1
    assert whole[:, 0].max() == 0 and whole[:, -1].min() == 255
    pil = np.stack([np.asarray(Image.fromarray(i).resize((6, 6), Image.Resampling.BILINEAR)) for i in images])
    assert np.abs(whole.astype(int) - pil).max() <= 1  # Pillow's antialiased bilinear, to rounding
    boxed = resize_batch(images[:, :, :12], 12, "letterbox")  # already square: untouched
    assert np.array_equal(boxed, images[:, :, :12])
    with pytest.raises(ValueError, match=r"resize mode 'crop'; choose one of \('letterbox', 'stretch'\)"):
        resize_batch(images, 6, "crop")
    with pytest.raises(ValueError, match=r"resize mode 'crop'"):
        resize_one(images[0], 6, "crop")


def test_letterbox_pads_with_black_uint8_centred() -> None:
    out = letterbox_pad(np.full((1, 2, 4, 1), 7, np.uint8))
    assert out.dtype == np.uint8 and out[0, ..., 0].tolist() == [[0] * 4, [7] * 4, [7] * 4, [0] * 4]


def test_clahe_uses_its_clip_limit_and_tiles_and_unknown_modes_are_refused() -> None:
    import cv2

    rng = np.random.default_rng(1)
    image = rng.normal(100, 8, (256, 256, 1)).clip(80, 120).astype(np.uint8)  # tiles of 1,024 pixels: clips bind
    for clip, tiles in ((1.0, 8), (4.0, 8), (2.0, 4)):
        reference = cv2.createCLAHE(clipLimit=clip, tileGridSize=(tiles, tiles)).apply(image[..., 0])
        assert np.array_equal(equalize(image, "clahe", clahe_clip=clip, tiles=tiles)[..., 0], reference)
    assert not np.array_equal(equalize(image, "clahe", 1.0), equalize(image, "clahe", 4.0))
    with pytest.raises(ValueError, match=r"equalize mode 'local'; choose one of \('none', 'global', 'clahe'\)"):
        equalize(image, "local")


def test_to_unit_converts_gray_and_rgb_by_luma_and_refuses_other_counts() -> None:
    rgb = torch.tensor([[[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [51, 102, 204]]]], dtype=torch.uint8)
    gray = to_unit(rgb, 1)
    expected = [[0.299, 0.587], [0.114, (0.299 * 51 + 0.587 * 102 + 0.114 * 204) / 255]]
    assert gray.shape == (1, 1, 2, 2) and torch.allclose(gray[0, 0], torch.tensor(expected), atol=1e-6)
    u8 = torch.tensor([[[[0], [51]], [[102], [255]]]] * 2, dtype=torch.uint8)  # (2, 2, 2, 1)
    three = to_unit(u8, 3)
    assert three.shape == (2, 3, 2, 2) and all(torch.equal(three[:, k], u8[..., 0] / 255) for k in range(3))
    assert torch.equal(to_unit(rgb, 3), rgb.permute(0, 3, 1, 2) / 255)
    with pytest.raises(ValueError, match="^cannot convert 2 channels to 3$"):
        to_unit(torch.zeros(1, 2, 2, 2, dtype=torch.uint8), 3)
    with pytest.raises(ValueError, match="^cannot convert 3 channels to 2$"):
        to_unit(rgb, 2)


def test_statistics_of_more_images_than_one_chunk_and_fixed_normalizations() -> None:
    rng = np.random.default_rng(2)
    images = torch.from_numpy(rng.integers(0, 256, (5000, 2, 3, 1), dtype=np.uint8))  # two chunks of 4,096
    inputs = Inputs.fit(images, "native", "dataset", False)
    pixels = images.numpy() / 255
    assert inputs.mean[0] == pytest.approx(pixels.mean(), abs=1e-6) and inputs.std[0] == pytest.approx(
        pixels.std(), abs=1e-6
    )
    gray = Inputs.fit(images[:10], "gray", "imagenet", False)
    assert gray.mean == pytest.approx((sum((0.485, 0.456, 0.406)) / 3,))
    assert gray.std == pytest.approx((sum((0.229, 0.224, 0.225)) / 3,))
    rgb = Inputs.fit(images[:10], "rgb", "imagenet", False)
    assert rgb.mean == (0.485, 0.456, 0.406) and rgb.std == (0.229, 0.224, 0.225)
    plain = Inputs.fit(images[:10], "rgb", "none", False)
    assert (plain.mean, plain.std) == ((0.0,) * 3, (1.0,) * 3)
    assert torch.equal(plain(images[:4]), images[:4].permute(0, 3, 1, 2).expand(-1, 3, -1, -1) / 255)
    with pytest.raises(ValueError, match=r"^channels 'gray' / normalize 'minmax': choose from \['native', 'gray'"):
        Inputs.fit(images, "gray", "minmax", False)
    with pytest.raises(ValueError, match=r"^channels 'cmyk' / normalize 'none'"):
        Inputs.fit(images, "cmyk", "none", False)


def test_zca_of_non_square_images_and_augmentation_inside_the_call() -> None:
    rng = np.random.default_rng(4)
    images = torch.from_numpy(rng.integers(0, 256, (300, 2, 5, 1), dtype=np.uint8))  # 10 values per image
    inputs = Inputs.fit(images, "native", "zca", False, zca_epsilon=1e-6)
    assert inputs.whitening.shape == (10, 10)
    white = inputs(images).reshape(300, 10).double()
    assert torch.allclose(white.T @ white / 300, torch.eye(10, dtype=torch.float64), atol=1e-3)
    flip = Augment(hflip=True)
    ours = inputs(images[:8], flip, torch.Generator().manual_seed(9))
    theirs = inputs.finish(flip(inputs.to_unit(images[:8]), torch.Generator().manual_seed(9)))
    assert torch.equal(ours, theirs) and not torch.equal(ours, inputs(images[:8]))


def test_the_clahe_clip_reaches_fit_prepare_and_the_card() -> None:
    # 128 px: CLAHE's 8 x 8 tiles hold 256 pixels each, enough for the clip limit to bite
    rng = np.random.default_rng(2)
    images = torch.from_numpy(rng.normal(120, 10, (6, 128, 128, 1)).clip(0, 255).astype(np.uint8))
    fits = {
        clip: Inputs.fit(images, "native", "dataset", False, equalize="clahe", **({"clahe_clip": clip} if clip else {}))
        for clip in (1.0, 8.0, None)
    }
    assert fits[8.0].std[0] > fits[1.0].std[0] + 0.02  # a higher limit: more contrast in the statistics
    for clip, inputs in fits.items():
        reference = np.stack([equalize(i, "clahe", clip or 2.0) for i in images.numpy()])  # 2.0: the default
        assert np.array_equal(inputs.prepare(images).numpy(), reference)
        assert np.array_equal(Inputs.from_card(inputs.card()).prepare(images).numpy(), reference)
        assert inputs.std[0] == pytest.approx(float((reference / 255).std()), rel=1e-6)


def test_dataset_statistics_are_per_channel() -> None:
    images = torch.zeros(4, 2, 2, 3, dtype=torch.uint8)
    images[..., 0], images[..., 1], images[:2, ..., 2] = 51, 102, 255  # channel 2: half 0, half 255
    inputs = Inputs.fit(images, "native", "dataset", False)
    assert inputs.mean == pytest.approx((0.2, 0.4, 0.5)) and inputs.std == pytest.approx((1e-6, 1e-6, 0.5))


def test_zca_matches_its_definition_over_more_than_one_chunk() -> None:
    # 4,100 images: two chunks of the 4,096 the fit reads at a time; per-pixel means that differ
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4100, 12)) @ rng.normal(size=(12, 12)) + rng.normal(size=12) * 3
    x = ((x - x.min()) / (x.max() - x.min()) * 255).astype(np.uint8).reshape(4100, 2, 2, 3)
    inputs = Inputs.fit(torch.from_numpy(x), "native", "zca", False)  # the default epsilon, 1e-5
    v = x.transpose(0, 3, 1, 2).reshape(4100, -1) / 255  # channel-major, as the model sees a batch
    mean = v.mean(0)
    s, u = np.linalg.eigh((v - mean).T @ (v - mean) / len(v))
    w = u @ np.diag(1 / np.sqrt(s + 1e-5)) @ u.T
    assert np.allclose(inputs.pixel_mean.numpy(), mean, atol=1e-6)
    assert np.allclose(inputs.whitening.numpy(), w, rtol=1e-5, atol=1e-4)


def test_zca_refuses_images_too_large_for_its_matrix_by_name() -> None:
    with pytest.raises(ValueError, match=r"10000-dimensional images needs a 10000x10000 matrix.*at most 8192 values"):
        Inputs.fit(torch.zeros(2, 100, 100, 1, dtype=torch.uint8), "native", "zca", False)


def test_imagenet_statistics_for_gray_images_average_the_three_channels() -> None:
    inputs = Inputs.fit(torch.zeros(2, 4, 4, 3, dtype=torch.uint8), "gray", "imagenet", False)
    assert (inputs.channels, inputs.kind) == (1, "imagenet")
    assert inputs.mean == pytest.approx((0.449,)) and inputs.std == pytest.approx((0.226,))
    assert inputs(torch.full((1, 4, 4, 3), 255, dtype=torch.uint8)).shape == (1, 1, 4, 4)


def test_letterbox_pads_an_image_as_tall_as_its_channel_count() -> None:
    # 3 rows, 6 columns, 3 channels: the height equals the channel count, and it is still not square
    image = np.full((3, 6, 3), 200, np.uint8)
    for out in (resize_one(image, 6, "letterbox"), resize_batch(image[None], 6, "letterbox")[0]):
        assert out.shape == (6, 6, 3) and out[0].max() == 0 and out[-1].max() == 0  # bands above and below
        assert (out[2:4] == 200).all()


def test_clahe_uses_8_by_8_tiles_and_a_clip_of_2_by_default() -> None:
    import cv2

    image = low_contrast()
    reference = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(image[..., 0])
    assert np.array_equal(equalize(image, "clahe")[..., 0], reference)
    assert not np.array_equal(cv2.createCLAHE(clipLimit=2.0, tileGridSize=(9, 9)).apply(image[..., 0]), reference)
