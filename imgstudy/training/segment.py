"""Segmentation: losses by name and the set-up of a UNet's training (the loop is training/loop.py,
the task training/tasks.py).

Losses take (logits (B, K, H, W), masks (B, H, W) class indices) and work on the softmax
over the K classes, so every loss ranks the same prediction (the argmax) the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from imgstudy.core.registry import Registry
from imgstudy.data.store import Store, load_pairs
from imgstudy.models.unet import build_unet
from imgstudy.params import Segment
from imgstudy.training.augment import Augment
from imgstudy.training.checkpoint import ModelCard
from imgstudy.training.fitting import fit_config
from imgstudy.training.inputs import Inputs
from imgstudy.training.precision import Precision
from imgstudy.training.setup import Setup
from imgstudy.training.tasks import SegmentTask

SegLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SEG_LOSSES: Registry[Callable[[float], SegLoss]] = Registry("segmentation loss")  # builder(focal_gamma)


def soft_dice(logits: torch.Tensor, masks: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - mean over classes of the batch's soft Dice (smoothed by eps, so empty classes count as found)."""
    probs = logits.softmax(1)
    onehot = F.one_hot(masks, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    inter = (probs * onehot).sum((0, 2, 3))
    total = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    return 1 - ((2 * inter + eps) / (total + eps)).mean()


SEG_LOSSES.register("dice")(lambda gamma: soft_dice)
# With two classes the cross-entropy over the class axis is the binary cross-entropy.
SEG_LOSSES.register("bce")(lambda gamma: lambda z, m: F.cross_entropy(z, m))
SEG_LOSSES.register("dice_bce")(lambda gamma: lambda z, m: soft_dice(z, m) + F.cross_entropy(z, m))


def _focal(gamma: float) -> SegLoss:
    def loss(z: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(z, 1).gather(1, m[:, None])[:, 0]
        return (-((1 - logp.exp()) ** gamma) * logp).mean()

    return loss


SEG_LOSSES.register("focal")(_focal)


def segmenter_setup(
    segment: Segment, seed: int, store: Store, splits: Path, device: torch.device, precision: Precision, resolved: dict
) -> Setup:
    """A UNet's training on the store's masks: one phase, the best epoch by validation Dice."""
    train_split, val_split = load_pairs(store, splits, "train"), load_pairs(store, splits, "val")
    inputs = Inputs.fit(train_split[0], segment.channels, segment.normalize, channels_last=segment.speed.channels_last)
    torch.manual_seed(seed)
    model = build_unet(inputs.channels, len(store.mask_classes), **segment.model_options)
    task = SegmentTask(
        train_split,
        val_split,
        inputs,
        SEG_LOSSES[segment.loss](segment.focal_gamma),
        device,
        augment=Augment(**segment.augment.model_dump()),
        batch_size=segment.batch_size,
    )
    card = ModelCard(
        kind="segmenter",
        model="unet",
        model_options=segment.model_options,
        image_size=store.size,
        stored_channels=store.channels,
        classes=store.mask_classes,
        inputs=inputs,
        precision=precision.name,
        params=resolved,
        summary={"parameters": sum(w.numel() for w in model.parameters())},
    )
    banner = (
        f"seg_train: UNet ({segment.unet.encoder} encoder) on {device}, precision {precision}, "
        f"{len(train_split[0])} train / {len(val_split[0])} val images, classes {store.mask_classes}"
    )
    config = fit_config(segment, seed, precision, "val_dice")
    return Setup(model, task, config, card, banner, {"normalization.json": inputs.card()})
