"""Robust decoding: every image mode to gray/RGB, EXIF orientation, bad files reported, bombs refused."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgstudy.data.decode import DecodeSpec, _to_mode, decode, decode_many
from imgstudy.data.images import equalize

RGB32 = DecodeSpec(channels=3, size=32, resize="stretch", equalize="none", clahe_clip=2.0)
GRAY32 = DecodeSpec(channels=1, size=32, resize="stretch", equalize="none", clahe_clip=2.0)


@pytest.fixture
def zoo(tmp_path: Path) -> dict[str, Path]:
    """One file per case the issue names."""
    f = {}
    f["rgb"] = tmp_path / "rgb.jpg"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(f["rgb"], quality=95)
    f["rgba"] = tmp_path / "rgba.png"
    Image.new("RGBA", (20, 20), (0, 255, 0, 128)).save(f["rgba"])  # half-transparent green on black
    f["palette"] = tmp_path / "palette.png"
    Image.new("RGB", (16, 16), (0, 0, 255)).convert("P").save(f["palette"])
    f["gray16"] = tmp_path / "gray16.png"
    Image.fromarray(np.full((24, 24), 65535 // 2, np.uint16)).save(f["gray16"])
    f["cmyk"] = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(f["cmyk"])  # pure red in CMYK
    # A landscape photo whose EXIF says "rotate 90": it must come out portrait.
    f["exif"] = tmp_path / "exif.jpg"
    img = Image.new("L", (60, 20), 0)
    img.paste(255, (0, 0, 10, 20))  # bright band on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    img.save(f["exif"], exif=exif)
    f["truncated"] = tmp_path / "truncated.jpg"
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    f["truncated"].write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    f["text"] = tmp_path / "text.png"
    f["text"].write_text("this is not a picture")
    return f


def test_modes_decode_to_the_requested_channels(zoo) -> None:
    red = decode(zoo["rgb"], RGB32)
    assert red.shape == (32, 32, 3) and red.dtype == np.uint8 and red[..., 0].mean() > 180
    assert decode(zoo["rgb"], GRAY32).shape == (32, 32, 1)
    green = decode(zoo["rgba"], RGB32)
    assert abs(int(green[..., 1].mean()) - 128) <= 2 and green[..., 0].max() == 0  # composited on black
    assert decode(zoo["palette"], RGB32)[..., 2].min() > 240
    half = decode(zoo["gray16"], GRAY32)
    assert abs(int(half.mean()) - 128) <= 1  # 16-bit scaled, not clipped to 255
    cmyk = decode(zoo["cmyk"], RGB32)
    assert cmyk[..., 0].mean() > 200 and cmyk[..., 1].mean() < 50


def test_exif_orientation_is_applied(zoo) -> None:
    spec = DecodeSpec(channels=1, size=60, resize="letterbox", equalize="none", clahe_clip=2.0)
    out = decode(zoo["exif"], spec)[..., 0]
    # Rotated to portrait (20 wide, 60 high) and letterboxed: columns outside the middle 20 are padding,
    # and the bright band, once on the left edge, now runs along the top.
    assert out[:, :15].max() == 0 and out[:, -15:].max() == 0
    assert out[:8, 25:35].mean() > 200 and out[-8:, 25:35].mean() < 30


def test_bad_files_are_reported_not_fatal(zoo) -> None:
    paths = [str(p) for p in zoo.values()]
    images, kept, bad = decode_many(paths, RGB32, workers=1)
    assert [Path(p).name for p, _ in bad] == ["truncated.jpg", "text.png"]
    assert all("unreadable image" in reason for _, reason in bad)
    assert images.shape == (len(paths) - 2, 32, 32, 3) and len(kept) == len(paths) - 2
    assert np.array_equal(images[0], decode(zoo["rgb"], RGB32))  # order kept


def test_a_photo_whose_exif_pil_warns_about_still_decodes(tmp_path: Path) -> None:
    # One IFD entry (ImageDescription, ASCII) claiming 1,000 bytes past the end: PIL warns and skips it.
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0x010E, 2, 1000, 26) + struct.pack("<I", 0)
    path = tmp_path / "bad_exif.jpg"
    Image.new("L", (8, 8), 99).save(path, exif=b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd)
    with pytest.warns(UserWarning, match="Tag data larger than file"):
        out = decode(path, GRAY32)  # only a bomb warning is an error; this one must not drop the image
    assert out.shape == (32, 32, 1) and abs(int(out.mean()) - 99) <= 1


def test_parallel_decoding_gives_the_same_result(tmp_path: Path, zoo) -> None:
    paths = [str(zoo["rgb"]), str(zoo["text"])] * 40
    serial = decode_many(paths, RGB32, workers=1)
    parallel = decode_many(paths, RGB32, workers=2)
    assert np.array_equal(serial[0], parallel[0]) and serial[1] == parallel[1] and serial[2] == parallel[2]


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("L", (400, 300), 0).save(path)  # compresses to a few hundred bytes
    spec = DecodeSpec(channels=1, size=32, resize="stretch", equalize="none", clahe_clip=2.0, max_pixels=100_000)
    with pytest.raises(ValueError, match="decompression bomb"):
        decode(path, spec)


def test_the_bomb_limit_is_inclusive_and_the_refusal_names_the_pixel_count(tmp_path: Path) -> None:
    at, over = tmp_path / "at.png", tmp_path / "over.png"
    Image.new("L", (400, 250), 7).save(at)  # exactly 100,000 pixels: allowed
    Image.new("L", (400, 251), 7).save(over)
    spec = DecodeSpec(channels=1, size=8, resize="stretch", equalize="none", clahe_clip=2.0, max_pixels=100_000)
    assert decode(at, spec).max() == 7
    with pytest.raises(ValueError, match=r"decompression bomb: .*100400 pixels"):  # PIL's own check, at open
        decode(over, spec)


def test_decoding_leaves_pils_global_pixel_limit_as_it_was(tmp_path, monkeypatch) -> None:
    # A set value, not whatever an earlier decode left: a decode that lost it would pass otherwise.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 12_345)
    Image.new("L", (10, 10)).save(tmp_path / "a.png")
    decode(tmp_path / "a.png", DecodeSpec(1, 8, "stretch", "none", 2.0, max_pixels=1_000))
    assert Image.MAX_IMAGE_PIXELS == 12_345


def test_clahe_uses_the_specs_clip_limit(tmp_path: Path) -> None:
    path = tmp_path / "ramp.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.normal(120, 12, (64, 64))).clip(0, 255).astype(np.uint8)).save(path)
    spec = {"channels": 1, "size": 64, "resize": "stretch", "equalize": "clahe"}
    soft, hard = (decode(path, DecodeSpec(**spec, clahe_clip=c)) for c in (1.0, 8.0))
    raw = np.asarray(Image.open(path))[..., None]
    assert np.array_equal(soft, equalize(raw, "clahe", 1.0)) and np.array_equal(hard, equalize(raw, "clahe", 8.0))
    assert hard.std() > soft.std() + 5  # a higher limit stretches the contrast further


def _u16(mode: str, values: list[int]) -> Image.Image:
    order = ">u2" if mode == "I;16B" else "<u2"
    return Image.frombytes(mode, (len(values), 1), np.array(values, order).tobytes())


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L"])
def test_16_bit_modes_scale_by_65535_and_round(mode: str) -> None:
    # round(v / 65535 * 255): 50000 -> 194.55 -> 195, 60000 -> 233.47 -> 233 (a 256 scale gives 234)
    out = _to_mode(_u16(mode, [0, 50000, 65535, 60000]), 1)
    assert out.mode == "L" and np.asarray(out).tolist() == [[0, 195, 255, 233]]
    # 51272 / 65535 * 255 = 199.502 -> 200; dividing by 65536 gives 199.499 -> 199
    assert np.asarray(_to_mode(_u16(mode, [51272]), 1)).tolist() == [[200]]
    # a dark 16-bit image stays dark: its scale is the mode's, not its values'
    assert np.asarray(_to_mode(_u16(mode, [0, 128, 255]), 1)).tolist() == [[0, 0, 1]]


def test_32_bit_integers_scale_only_past_255_and_floats_stretch_to_the_full_range() -> None:
    small = Image.fromarray(np.array([[0, 100, 255, 7]], np.int32))  # mode I, already 8-bit values
    assert small.mode == "I" and np.asarray(_to_mode(small, 1)).tolist() == [[0, 100, 255, 7]]
    wide = Image.fromarray(np.array([[0, 100, 1000, 50000]], np.int32))  # 16-bit values held in mode I
    assert np.asarray(_to_mode(wide, 1)).tolist() == [[0, 0, 4, 195]]
    just_past = Image.fromarray(np.array([[0, 256]], np.int32))  # 256 is past 8 bits: the 16-bit scale
    assert np.asarray(_to_mode(just_past, 1)).tolist() == [[0, 1]]
    negative = Image.fromarray(np.array([[-5, 0, 200]], np.int32))  # clipped to black, not wrapped to 251
    assert np.asarray(_to_mode(negative, 1)).tolist() == [[0, 0, 200]]
    floats = Image.fromarray(np.array([[-1, 0, 1, 0.5]], np.float32))
    # (v - min) / (max - min) * 255, rounded: 0.5 -> 0.75 * 255 = 191.25 -> 191
    assert floats.mode == "F" and np.asarray(_to_mode(floats, 1)).tolist() == [[0, 128, 255, 191]]
    flat = Image.fromarray(np.full((1, 3), 3.0, np.float32))  # no range: black, not a division by zero
    assert np.asarray(_to_mode(flat, 3)).tolist() == [[[0, 0, 0]] * 3]


def test_alpha_is_composited_on_black_for_every_mode_that_has_it() -> None:
    la = Image.fromarray(np.array([[[200, 128], [200, 255], [200, 0], [100, 64]]], np.uint8), "LA")
    assert np.asarray(_to_mode(la, 1)).tolist() == [[100, 200, 0, 25]]  # v * alpha / 255
    assert np.asarray(_to_mode(la, 3))[0, :, 0].tolist() == [100, 200, 0, 25]
    rgba = Image.fromarray(np.array([[[255, 100, 50, 255], [255, 100, 50, 0]]], np.uint8), "RGBA")
    assert np.asarray(_to_mode(rgba, 3)).tolist() == [[[255, 100, 50], [0, 0, 0]]]
    # palette with a transparent entry (index 1) and one with alpha in the palette (PA)
    pal = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    pal.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    assert np.asarray(_to_mode(pal, 3)).tolist() == [[[10, 20, 30], [200, 100, 0]]]
    pal.info["transparency"] = 1
    assert np.asarray(_to_mode(pal, 3)).tolist() == [[[10, 20, 30], [0, 0, 0]]]
    pa = pal.convert("PA")
    assert pa.mode == "PA" and np.asarray(_to_mode(pa, 3)).tolist() == [[[10, 20, 30], [0, 0, 0]]]
    # gray from RGB: ITU-R 601 luma, L = (299 R + 587 G + 114 B) / 1000
    assert np.asarray(_to_mode(Image.new("RGB", (1, 1), (200, 100, 0)), 1)).tolist() == [[118]]
