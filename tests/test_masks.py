"""Mask decoding, pixel by pixel: each mask mode and file mode to class indices, the reasons a pair
is refused, nearest-exact resizing, pairing by folder and by manifest, NIfTI slice orientation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgstudy.data.masks import (
    MaskSpec,
    decode_masks,
    nifti_slices,
    pair_folders,
    pair_manifest,
    resize_masks,
    to_classes,
    window,
)

BINARY = MaskSpec("binary", (), 4, "stretch")
LABELS = MaskSpec("labels", (), 4, "stretch")


def test_binary_masks_threshold_at_half_scale_over_every_channel() -> None:
    out = to_classes(np.array([[0, 127, 128, 255]], np.uint8), BINARY)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 0, 1, 1]]  # bright = above 127
    rgb = np.zeros((1, 3, 3), np.uint8)
    rgb[0, 0, 2], rgb[0, 1, 0] = 200, 100  # bright in blue only; dim in red only
    assert to_classes(rgb, BINARY).tolist() == [[1, 0, 0]]


def test_binary_label_images_take_every_nonzero_class_as_the_object() -> None:
    assert to_classes(np.array([[0, 1, 0, 1]], np.uint8), BINARY).tolist() == [[0, 1, 0, 1]]
    assert to_classes(np.array([[0, 2, 2, 0]], np.uint8), BINARY).tolist() == [[0, 1, 1, 0]]  # not empty
    assert to_classes(np.array([[0, 1, 2, 127]], np.uint8), BINARY).tolist() == [[0, 1, 1, 1]]  # dim: labels
    assert to_classes(np.zeros((2, 2), np.uint8), BINARY).tolist() == [[0, 0], [0, 0]]


def test_label_masks_keep_indices_up_to_255_and_refuse_what_is_not_one_band_of_indices() -> None:
    out = to_classes(np.array([[0, 7, 255]], np.uint16), LABELS)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 7, 255]]
    with pytest.raises(ValueError, match="^labels mask holds value 256; class indices must be below 256$"):
        to_classes(np.array([[0, 256]], np.uint16), LABELS)
    with pytest.raises(ValueError, match="^labels mask has 3 channels; expected one band of class indices$"):
        to_classes(np.zeros((2, 2, 3), np.uint8), LABELS)


def test_color_masks_read_gray_and_rgba_files_by_their_first_three_channels() -> None:
    spec = MaskSpec("colors", ((0, 0, 0), (255, 255, 255), (9, 9, 9)), 4, "stretch")
    gray = to_classes(np.array([[0, 255, 9]], np.uint8), spec)  # a gray mask is its own RGB
    assert gray.dtype == np.uint8 and gray.tolist() == [[0, 1, 2]]
    rgba = np.array([[[255, 255, 255, 0], [9, 9, 9, 255]]], np.uint8)  # alpha ignored
    assert to_classes(rgba, spec).tolist() == [[1, 2]]
    wide = np.array([[300, 0]], np.uint16)  # a 16-bit value that matches no colour once compared exactly
    with pytest.raises(ValueError, match=r"color \(300, 300, 300\) is not in"):
        to_classes(wide, spec)


def test_resize_is_nearest_exact_and_letterboxes_only_when_asked() -> None:
    row = np.arange(5, dtype=np.uint8).reshape(1, 1, 5).repeat(5, axis=1)  # (1, 5, 5): columns 0..4
    # nearest-exact samples pixel centres: output j reads input floor((j + 0.5) * 5 / 3) -> 0, 2, 4
    assert resize_masks(row, 3, "stretch")[0, 0].tolist() == [0, 2, 4]
    wide = np.array([[[1, 2, 3, 4]] * 2], np.uint8)  # (1, 2, 4)
    assert resize_masks(wide, 4, "stretch")[0].tolist() == [[1, 2, 3, 4]] * 4
    assert resize_masks(wide, 4, "letterbox")[0].tolist() == [[0] * 4, [1, 2, 3, 4], [1, 2, 3, 4], [0] * 4]


def save(path: Path, array: np.ndarray, mode: str | None = None) -> str:
    Image.fromarray(array, mode).save(path)
    return str(path)


def test_every_mask_file_mode_decodes_to_the_same_label_indices(tmp_path: Path) -> None:
    labels = np.array([[0, 1], [2, 3]], np.uint8)
    image = save(tmp_path / "image.png", np.zeros((2, 2), np.uint8))
    palette = Image.fromarray(labels, "P")
    palette.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0, 0, 0, 200] + [0] * 756)
    palette.save(tmp_path / "p.png")
    masks = [
        save(tmp_path / "l.png", labels),
        str(tmp_path / "p.png"),  # palette indices are the labels, not the palette colours
        save(tmp_path / "i16.png", labels.astype(np.uint16)),
        save(tmp_path / "i.tif", labels.astype(np.int32)),
    ]
    assert [Image.open(m).mode for m in masks] == ["L", "P", "I;16", "I"]
    out, kept, bad = decode_masks([image] * 4, masks, MaskSpec("labels", (), 2, "stretch"), workers=1)
    assert bad == [] and kept == [0, 1, 2, 3]
    assert out.dtype == np.uint8 and all(o.tolist() == labels.tolist() for o in out)


def test_rgba_and_gray_alpha_masks_are_read_as_rgb(tmp_path: Path) -> None:
    image = save(tmp_path / "image.png", np.zeros((1, 2), np.uint8))
    la = save(tmp_path / "la.png", np.array([[[255, 255], [0, 255]]], np.uint8), "LA")
    spec = MaskSpec("colors", ((0, 0, 0), (255, 255, 255)), 2, "stretch")
    out, _, bad = decode_masks([image], [la], spec, workers=1)  # an LA array has 2 channels, not RGB
    assert bad == [] and out[0].tolist() == [[1, 0], [1, 0]]


def test_refused_pairs_say_why_with_both_sizes_and_the_error_type(tmp_path: Path) -> None:
    image = save(tmp_path / "image.png", np.zeros((20, 30), np.uint8))  # 30 wide, 20 high
    small = save(tmp_path / "small.png", np.zeros((24, 36), np.uint8))
    rgb = save(tmp_path / "rgb.png", np.zeros((20, 30, 3), np.uint8))
    out, kept, bad = decode_masks([image, image], [small, rgb], MaskSpec("labels", (), 4, "stretch"), workers=1)
    assert out.shape == (0, 4, 4) and out.dtype == np.uint8 and kept == []
    assert bad == [
        (small, "mask 36x24 but image 30x20: sizes differ"),
        (rgb, "ValueError: labels mask has 3 channels; expected one band of class indices"),
    ]


def test_a_pair_is_letterboxed_like_its_image(tmp_path: Path) -> None:
    image = save(tmp_path / "image.png", np.zeros((2, 4), np.uint8))
    mask = save(tmp_path / "mask.png", np.full((2, 4), 255, np.uint8))
    out, _, _ = decode_masks([image], [mask], MaskSpec("binary", (), 4, "letterbox"), workers=1)
    assert out[0].tolist() == [[0] * 4, [1] * 4, [1] * 4, [0] * 4]


def test_parallel_mask_decoding_gives_the_serial_result(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images, masks = [], []
    for i in range(70):  # past the 64 files below which decoding stays in-process
        images.append(save(tmp_path / f"{i}.png", np.zeros((6, 6), np.uint8)))
        masks.append(save(tmp_path / f"{i}_mask.png", (rng.random((6, 6)) > 0.5).astype(np.uint8) * 255))
    masks[3] = save(tmp_path / "odd.png", np.zeros((5, 6), np.uint8))
    spec = MaskSpec("binary", (), 3, "stretch")
    serial, parallel = decode_masks(images, masks, spec, workers=1), decode_masks(images, masks, spec, workers=2)
    assert np.array_equal(serial[0], parallel[0]) and serial[1:] == parallel[1:]
    assert len(serial[1]) == 69 and serial[2][0][0].endswith("odd.png")


def test_pairs_by_folder_take_their_group_from_the_first_subfolder(tmp_path: Path) -> None:
    for sub in ("images/a", "masks/a"):
        (tmp_path / sub).mkdir(parents=True)
    for path in ("images/a/1.png", "images/2.png", "masks/a/1_seg.png", "masks/2.png"):
        Image.new("L", (2, 2)).save(tmp_path / path)
    pairs = pair_folders(tmp_path / "images", tmp_path / "masks", {".png"})
    assert [p.name for p in pairs.images] == ["2.png", "1.png"] and pairs.groups == ["", "a"]
    with pytest.raises(FileNotFoundError, match="nope: no such folder; a mask dataset holds images/ and masks/"):
        pair_folders(tmp_path / "nope", tmp_path / "masks", {".png"})


def test_a_manifest_needs_image_and_mask_columns_and_keeps_groups_of_the_rows_it_keeps(tmp_path: Path) -> None:
    for name in ("a.png", "a_m.png", "b.png", "b_m.png", "c.png"):
        Image.new("L", (2, 2)).save(tmp_path / name)
    listing = tmp_path / "pairs.csv"
    listing.write_text("image,mask\na.png,a_m.png\n")  # one row, no split column
    pairs = pair_manifest(listing)
    assert [p.name for p in pairs.images] == ["a.png"] and pairs.groups == [""]
    listing.write_text("image,mask,split\nc.png,c_m.png,test\na.png,a_m.png,\nb.png,b_m.png,test\n")
    pairs = pair_manifest(listing)
    assert [p.name for p in pairs.masks] == ["a_m.png", "b_m.png"] and pairs.groups == ["", "test"]
    assert pairs.unmatched == [(str(tmp_path / "c_m.png"), "listed in pairs.csv but missing")]
    listing.write_text("image,label\na.png,a_m.png\n")
    with pytest.raises(ValueError, match="pairs.csv: expected a header with columns image,mask"):
        pair_manifest(listing)


def test_nifti_slices_are_axial_in_radiological_view_and_refuse_out_of_range_labels(tmp_path: Path) -> None:
    import nibabel as nib

    ct = np.arange(4 * 3 * 2, dtype=np.int16).reshape(4, 3, 2) * 100 - 1000  # (X, Y, Z), all distinct
    labels = (np.arange(4 * 3 * 2).reshape(4, 3, 2) % 5).astype(np.int16)
    for name, volume in (("ct.nii", ct), ("labels.nii", labels)):
        nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / name)
    images, masks = nifti_slices(tmp_path / "ct.nii", tmp_path / "labels.nii", -1000, 1300, 4, "letterbox")
    assert images.shape == (2, 4, 4, 1) and masks.shape == (2, 4, 4)
    for z in range(2):  # slice z is the (Y, X) plane, Y flipped (x 0, y 0 at the bottom left); 3 high -> padded
        assert masks[z, :3].tolist() == labels[:, :, z].T[::-1].tolist() and masks[z, 3].max() == 0
        assert images[z, :3, :, 0].tolist() == window(ct[:, :, z].T[::-1], -1000, 1300).tolist()
    labels[0, 0, 0] = 256
    nib.save(nib.Nifti1Image(labels, np.eye(4)), tmp_path / "labels.nii")
    with pytest.raises(ValueError, match=r"^mask values 0\.\.256: class indices must lie in 0\.\.255$"):
        nifti_slices(tmp_path / "ct.nii", tmp_path / "labels.nii", -1000, 1300, 3, "letterbox")
    labels[0, 0, 0] = 255
    nib.save(nib.Nifti1Image(labels, np.eye(4)), tmp_path / "labels.nii")
    assert nifti_slices(tmp_path / "ct.nii", tmp_path / "labels.nii", -1000, 1300, 4, "stretch")[1].max() == 255
    nib.save(nib.Nifti1Image(labels[:, :, :1], np.eye(4)), tmp_path / "labels.nii")  # one slice short
    with pytest.raises(ValueError, match=r"^volume \(4, 3, 2\) but mask \(4, 3, 1\): shapes differ$"):
        nifti_slices(tmp_path / "ct.nii", tmp_path / "labels.nii", -1000, 1300, 4, "stretch")
