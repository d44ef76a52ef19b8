"""The segmentation branch: scores against hand-computed values, masks decoded and resized
without invented classes, image/mask pairing with reports, NIfTI slicing, aligned
augmentation, UNet shapes, resume, and the branch's stages learning generated shapes."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from httpserver import Server
from imgstudy.data import prepare
from imgstudy.data.catalog import dataset
from imgstudy.data.masks import MaskSpec, resize_masks, to_classes, window
from imgstudy.data.sources.pairs import NiftiSegDataset
from imgstudy.data.sources.shapes import draw_shapes
from imgstudy.data.store import open_store
from imgstudy.evaluation.segmetrics import hd95, image_score, overlap, per_image, summarize
from imgstudy.models.unet import ENCODERS, build_unet
from imgstudy.params import Preprocess, read_yaml, resolve
from imgstudy.pipeline import download, preprocess, seg_evaluate, split, train
from imgstudy.training import checkpoint
from imgstudy.training.augment import Augment
from imgstudy.training.fitting import FitConfig, Phase
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import fit
from imgstudy.training.segment import SEG_LOSSES
from imgstudy.training.tasks import SegmentTask, batch_dice

ROOT = Path(__file__).resolve().parents[1]


def label_map(rows: list[str]) -> np.ndarray:
    return np.array([[int(c) for c in r] for r in rows])


def test_dice_and_iou_match_hand_computed_values() -> None:
    true = label_map(["0110", "0110", "0000"])  # 4 pixels of class 1
    pred = label_map(["0100", "0110", "0001"])  # 3 pixels of class 1, 3 of them right... and 1 wrong
    dice, iou = overlap(pred, true, 1)
    inter, p, t = 3, 4, 4
    assert pred[pred == 1].size == p and (dice, iou) == (2 * inter / (p + t), inter / (p + t - inter))
    assert overlap(pred, true, 2) == (1.0, 1.0)  # empty in both: nothing to find, nothing found
    assert overlap(np.zeros((3, 4), int), true, 1) == (0.0, 0.0)  # missed entirely
    assert overlap(true, np.zeros((3, 4), int), 1) == (0.0, 0.0)  # found where there is nothing
    scores = per_image(np.stack([pred, true]), np.stack([true, true]), 2)
    assert scores["dice"][1].tolist() == [1.0, 1.0] and scores["pixel_accuracy"][0] == 10 / 12
    s = summarize(scores, ["background", "object"])
    assert s["dice_mean"] == pytest.approx((6 / 8 + 1) / 2) and s["per_class"]["object"]["iou"] == pytest.approx(
        (3 / 5 + 1) / 2
    )


def test_hd95_in_pixels_and_undefined_when_one_side_is_empty() -> None:
    true = np.zeros((20, 20), int)
    true[5:8, 5:8] = 1
    shifted = np.roll(true, 4, axis=1)  # the same square 4 px to the right
    assert hd95(shifted, true, 1) == pytest.approx(4.0)
    assert hd95(true, true, 1) == 0.0
    assert math.isnan(hd95(np.zeros_like(true), true, 1)) and hd95(np.zeros_like(true), np.zeros_like(true), 1) == 0
    s = summarize(per_image(np.zeros((1, 20, 20), int), true[None], 2), ["bg", "fg"])
    assert s["hd95_undefined"] == 1 and math.isnan(s["hd95_mean"])


def test_the_summary_averages_foreground_classes_and_skips_undefined_distances() -> None:
    nan = float("nan")
    scores = {
        "dice": np.array([[1.0, 0.5, 0.0], [1.0, 1.0, 0.25]]),
        "iou": np.array([[1.0, 0.25, 0.0], [0.5, 1.0, 0.125]]),
        "hd95": np.array([[0.0, 2.0, nan], [0.0, 4.0, 6.0]]),
        "pixel_accuracy": np.array([0.9, 0.7]),
    }
    s = summarize(scores, ["bg", "a", "b"])
    per_class = s.pop("per_class")
    assert s == pytest.approx(
        {
            "dice_mean": 1.75 / 4,  # classes a and b only: the background is not averaged in
            "iou_mean": 1.375 / 4,
            "pixel_accuracy": 0.8,
            "hd95_mean": 4.0,  # mean of 2, 4 and 6: the undefined one is counted, not averaged
            "hd95_undefined": 1,
            "images": 2,
        }
    )
    assert per_class == {
        "bg": pytest.approx({"dice": 1.0, "iou": 0.75, "hd95": 0.0}),
        "a": pytest.approx({"dice": 0.75, "iou": 0.625, "hd95": 3.0}),
        "b": pytest.approx({"dice": 0.125, "iou": 0.0625, "hd95": 6.0}),
    }
    assert image_score(scores).tolist() == [0.25, 0.625]  # mean foreground Dice per image
    one = {k: v[:, 1:2] if v.ndim == 2 else v for k, v in scores.items()}  # a single class: itself
    assert summarize(one, ["object"])["dice_mean"] == 0.75 and image_score(one).tolist() == [0.5, 1.0]
    empty = {**one, "hd95": np.full((2, 1), nan)}
    assert math.isnan(summarize(empty, ["object"])["per_class"]["object"]["hd95"])


def brute_force_hd95(p: np.ndarray, t: np.ndarray) -> float:
    """The definition, pixel by pixel: edge pixels (a 4-neighbour outside the mask or the image),
    every edge pixel's distance to the other mask's nearest edge pixel, the 95th percentile."""

    def edge(m: np.ndarray) -> np.ndarray:
        padded = np.pad(m, 1)
        inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        return np.argwhere(m & ~inner)

    ep, et = edge(p), edge(t)
    d = np.sqrt(((ep[:, None, :] - et[None, :, :]) ** 2).sum(-1))
    return float(np.percentile(np.concatenate([d.min(1), d.min(0)]), 95))


def test_hd95_matches_the_definition_on_irregular_shapes() -> None:
    yy, xx = np.mgrid[:40, :40]
    true = ((yy - 18) ** 2 / 120 + (xx - 20) ** 2 / 40 <= 1).astype(int)  # an ellipse
    pred = np.zeros_like(true)
    pred[8:30, 14:27] = 1  # a rectangle over it: distances vary along the edges
    pred[0:3, 0:40] = 1  # and a stray band at the top edge of the image
    expected = brute_force_hd95(pred == 1, true == 1)
    assert hd95(pred, true, 1) == pytest.approx(expected) and expected > 5
    scores = per_image(pred[None], true[None], 2)
    assert scores["hd95"].tolist() == [[0.0, pytest.approx(expected)]]  # the background's is not computed
    assert scores["pixel_accuracy"][0] == pytest.approx((pred == true).mean())


def test_batch_dice_agrees_with_the_reference_scores() -> None:
    rng = np.random.default_rng(0)
    pred, true = rng.integers(0, 3, (4, 8, 8)), rng.integers(0, 3, (4, 8, 8))
    true[0] = 0  # classes 1 and 2 absent from image 0's truth
    ref = per_image(pred, true, 3)["dice"][:, 1:].mean(1)
    assert np.allclose(batch_dice(torch.from_numpy(pred), torch.from_numpy(true), 3).numpy(), ref)


def test_masks_decode_by_mode_and_refuse_unknown_colors() -> None:
    spec = MaskSpec("binary", (), 8, "stretch")
    assert to_classes(np.array([[0, 255], [3, 200]], np.uint8), spec).tolist() == [[0, 1], [0, 1]]
    assert to_classes(np.array([[0, 1], [1, 0]], np.uint8), spec).tolist() == [[0, 1], [1, 0]]  # 0/1 masks
    labels = MaskSpec("labels", (), 8, "stretch")
    assert to_classes(np.array([[0, 3], [2, 1]], np.uint8), labels).tolist() == [[0, 3], [2, 1]]
    colors = MaskSpec("colors", ((0, 0, 0), (255, 0, 0), (0, 255, 0)), 8, "stretch")
    rgb = np.array([[[0, 0, 0], [255, 0, 0]], [[0, 255, 0], [0, 0, 0]]], np.uint8)
    assert to_classes(rgb, colors).tolist() == [[0, 1], [2, 0]]
    rgb[0, 0] = (9, 9, 9)
    with pytest.raises(ValueError, match=r"color \(9, 9, 9\) is not in preprocess.mask_colors"):
        to_classes(rgb, colors)


def test_mask_resize_is_nearest_and_keeps_the_letterbox_geometry_of_the_image() -> None:
    from imgstudy.data.images import resize_batch

    mask = np.zeros((1, 30, 60), np.uint8)  # wide: letterbox pads top and bottom
    mask[0, 10:20, 20:40] = 2
    image = (mask[..., None] * 100).astype(np.uint8)
    small_mask, small_image = resize_masks(mask, 24, "letterbox"), resize_batch(image, 24, "letterbox")
    assert set(np.unique(small_mask)) == {0, 2}  # no class in between
    assert ((small_image[0, ..., 0] > 100) == (small_mask[0] == 2)).mean() > 0.98


def test_pair_augmentation_moves_images_and_masks_together() -> None:
    images, masks, _ = draw_shapes(16, 48, seed=3)
    x = torch.from_numpy(masks).float()[:, None] * 0.6 + 0.2  # the object is bright: mask = image > 0.5
    aug = Augment(rotation=30, zoom=0.2, shift=0.2, hflip=True, vflip=True, contrast=0.1)
    gen = torch.Generator().manual_seed(0)
    x2, m2 = aug.pair(x, torch.from_numpy(masks).long(), gen)
    assert not torch.equal(m2, torch.from_numpy(masks).long())  # it did move them
    assert set(m2.unique().tolist()) <= {0, 1}
    agree = ((x2[:, 0] > 0.5) == (m2 == 1)).float().mean().item()
    assert agree > 0.98, agree  # only edge pixels may differ (bilinear vs nearest)


@pytest.mark.parametrize("encoder", ENCODERS.names())
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_unet_gives_one_logit_per_class_and_pixel(encoder: str, upsample: str) -> None:
    model = build_unet(
        1,
        3,
        depth=3,
        width=4,
        batchnorm=True,
        dropout=0.1,
        upsample=upsample,
        encoder=encoder,
        weights="none",
        init="kaiming",
    )
    out = model(torch.randn(2, 1, 40, 40))
    assert out.shape == (2, 3, 40, 40)  # odd sizes at depth 3 included
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 1 and first.weight.grad.abs().sum() > 0  # through the whole encoder


def test_every_loss_prefers_the_right_masks() -> None:
    masks = torch.from_numpy(draw_shapes(4, 16, seed=1)[1]).long()
    right = torch.nn.functional.one_hot(masks, 2).permute(0, 3, 1, 2).float() * 8 - 4
    for name in ("dice", "bce", "dice_bce", "focal"):
        loss = SEG_LOSSES[name](2.0)
        assert loss(right, masks) < 0.05 < loss(-right, masks), name


def tiny_fit(epochs: int, state: Path | None):
    images, masks, _ = draw_shapes(48, 24, seed=0)
    x, m = torch.from_numpy(images[..., None]), torch.from_numpy(masks).long()
    inputs = Inputs.fit(x, "native", "dataset", channels_last=False)
    torch.manual_seed(0)
    model = build_unet(1, 2, 2, 4, True, 0.0, "transpose", "none", "none", "xavier_uniform")
    cfg = FitConfig(
        phases=(Phase(epochs=epochs, lr=3e-3),),
        batch_size=8,
        optimizer="adamw",
        weight_decay=1e-4,
        monitor="val_dice",
        patience=10,
        seed=0,
    )
    task = SegmentTask(
        (x[:40], m[:40]),
        (x[40:], m[40:]),
        inputs,
        SEG_LOSSES["dice_bce"](2.0),
        torch.device("cpu"),
        augment=Augment(rotation=10, shift=0.1),
        batch_size=8,
    )
    history = fit(model, task, cfg, torch.device("cpu"), lambda r, mod: None, state, "stamp")
    return model, history


@pytest.mark.heavy  # left out of mutation runs: two trainings per mutant
def test_an_interrupted_segmentation_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    state = tmp_path / "state.pt"
    tiny_fit(2, state)  # "killed" after two epochs
    resumed, history = tiny_fit(4, state)
    straight, _ = tiny_fit(4, None)
    assert [r.epoch for r in history] == [0, 1, 2, 3]
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        assert torch.equal(a, b)


def seg_params(**changes) -> Preprocess:
    raw = read_yaml(ROOT / "params.yaml")
    raw["preprocess"].update({"size": 16, "max_samples": 0, "max_bad_fraction": 0.5, **changes})
    return resolve(raw).preprocess


def write_pairs(root: Path) -> None:
    images, masks, kinds = draw_shapes(6, 20, seed=2)
    for i in range(6):
        Image.fromarray(images[i]).save(root / "images" / f"{i}.png")
        Image.fromarray(masks[i] * 255).save(root / "masks" / f"{i}_mask.png")


def test_pairs_are_matched_by_name_and_every_unusable_pair_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    write_pairs(src)
    Image.new("L", (20, 20)).save(src / "images" / "lonely.png")  # no mask
    Image.new("L", (20, 20)).save(src / "masks" / "orphan.png")  # no image
    Image.new("L", (24, 20)).save(src / "masks" / "5_mask.png")  # wrong size for image 5
    (src / "masks" / "4_mask.png").write_bytes(b"not a png")  # unreadable
    dataset("masks", str(src)).fetch(tmp_path / "raw/masks", "auto")
    summary = prepare.preprocess(
        "masks", str(src), "", tmp_path / "raw", tmp_path / "store", tmp_path / "reports", seg_params(), seed=0
    )
    with open(tmp_path / "reports/decode_errors.csv") as f:
        reasons = {Path(r["path"]).name: r["reason"] for r in csv.DictReader(f)}
    assert reasons["lonely.png"] == "no mask with this name" and reasons["orphan.png"] == "no image with this name"
    assert "sizes differ" in reasons["5_mask.png"] and "4_mask.png" in reasons
    assert summary["decoded"] == 4 and summary["skipped"] == 4
    store = open_store(tmp_path / "store")
    assert store.masks.shape == (4, 16, 16) and store.mask_classes == ["background", "foreground"]
    assert store.classes == ["empty", "foreground"] and store.labels.tolist() == [1, 1, 1, 1]  # every shape shows


def nifti_zip(volumes: dict[str, np.ndarray]) -> bytes:
    import nibabel as nib

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, array in volumes.items():
            raw = nib.Nifti1Image(array, np.eye(4)).to_bytes()
            z.writestr(name, raw)
    return buf.getvalue()


def test_nifti_volumes_download_window_and_slice_into_pairs(tmp_path: Path) -> None:
    ct = np.full((12, 12, 3), -2000.0, np.float32)  # air below the window
    ct[2:6, 3:9, :] = 250.0  # the window's top: white (not symmetric: a flip would show)
    ct[..., 2] = -500.0  # a slice in mid-window
    labels = np.zeros((12, 12, 3), np.uint8)
    labels[2:6, 3:9, :2] = 3  # "infection" in the first two slices
    with Server({"/ct.zip": nifti_zip({"case1.nii": ct}), "/masks.zip": nifti_zip({"case1.nii": labels})}) as server:
        ds = NiftiSegDataset(f"{server.url}/ct.zip", f"{server.url}/masks.zip", ("bg", "left", "right", "infection"))
        ds.fetch(tmp_path / "raw/covid_ct_seg", "auto")
    data = ds.read(tmp_path / "raw/covid_ct_seg")
    pre = seg_params(size=12, resize="stretch", hu_window=[-1250.0, 250.0])
    images, masks, y, sources, _, bad = prepare.segmentation(data, tmp_path, pre, 0, 1)
    assert bad == [] and images.shape == (3, 12, 12, 1) and sources == ["case1.nii#z0", "case1.nii#z1", "case1.nii#z2"]
    assert images[0].max() == 255 and images[0].min() == 0 and y.tolist() == [1, 1, 0]
    assert abs(int(images[2, 0, 0, 0]) - 128) <= 1  # -500 HU is the middle of [-1250, 250]
    assert masks.max() == 3 and ((images[0, ..., 0] == 255) == (masks[0] == 3)).all()  # slices and masks align
    assert window(np.array([-1250.0, 250.0, 1000.0]), -1250, 250).tolist() == [0, 255, 255]


@pytest.mark.heavy  # left out of mutation runs: a training per mutant
def test_the_segmentation_stages_learn_generated_shapes(tmp_path: Path) -> None:
    """download -> preprocess -> split -> seg_train -> seg_evaluate in this process (their `dvc repro`,
    outputs and rebuild check: the lung_ct_seg build in test_presets_e2e, at one epoch)."""
    raw = read_yaml(ROOT / "params.yaml")
    raw["download"]["dataset"] = "shapes"
    raw["preprocess"].update(size=32, max_samples=450)
    raw["split"]["test"] = "fraction"
    raw["segment"].update(epochs=4, batch_size=16, overlays=2)
    raw["segment"]["unet"].update(depth=2, width=8)
    raw["base"]["threads"] = 1
    p = resolve(raw)
    store, splits = tmp_path / "store", tmp_path / "splits"
    download.run(p, download.Files(tmp_path / "raw"))
    preprocess.run(p, preprocess.Files(tmp_path / "raw", store, tmp_path / "reports"))
    split.run(p, split.Files(store, splits))
    files = train.Files("U", store, splits, tmp_path / "m", tmp_path / "live", tmp_path / "t")
    trained = train.run(p, files, "segmenter")
    assert len(trained["history"]) == 4
    _, card = checkpoint.load(tmp_path / "m/model.pt", torch.device("cpu"))
    assert card.kind == "segmenter" and card.classes == ["background", "foreground"] and "val_dice" in card.scores
    files = seg_evaluate.Files("U", store, splits, tmp_path / "m", tmp_path / "metrics", tmp_path, tmp_path / "s.npz")
    test = seg_evaluate.run(p, files)
    assert test["dice_mean"] > 0.9 and test["iou_mean"] > 0.8, test  # generated shapes are learnable fast
    assert test["images"] == 45
    assert {"variant": "U", **json.loads((tmp_path / "metrics/test.json").read_text())} == test


def test_a_csv_manifest_of_pairs_keeps_its_split_and_reports_missing_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    write_pairs(src)
    rows = (
        ["image,mask,split"]
        + [f"images/{i}.png,masks/{i}_mask.png,{'test' if i < 2 else 'train'}" for i in range(6)]
        + ["images/gone.png,masks/gone.png,train"]
    )
    (src / "pairs.csv").write_text("\n".join(rows) + "\n")
    dataset("masks_csv", str(src / "pairs.csv")).fetch(tmp_path / "raw/masks_csv", "auto")
    summary = prepare.preprocess(
        "masks_csv",
        str(src / "pairs.csv"),
        "",
        tmp_path / "raw",
        tmp_path / "store",
        tmp_path / "reports",
        seg_params(),
        seed=0,
    )
    assert summary == {"decoded": 6, "skipped": 1, "skipped_fraction": 1 / 7}
    assert "images/gone.png,listed in listing.csv but missing" in (tmp_path / "reports/decode_errors.csv").read_text()
    with open(tmp_path / "store/samples.csv") as f:
        assert [r["official"] for r in csv.DictReader(f)] == ["test", "test"] + ["train"] * 4
    assert open_store(tmp_path / "store").masks.sum() > 0
