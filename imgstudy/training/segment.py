"""Segmentation: losses by name and the model file with its card (the loop is training/loop.py,
the task training/tasks.py).

Losses take (logits (B, K, H, W), masks (B, H, W) class indices) and work on the softmax
over the K classes, so every loss ranks the same prediction (the argmax) the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from imgstudy.models.unet import build_unet
from imgstudy.params import Segment
from imgstudy.registry import Registry
from imgstudy.training.augment import Augment
from imgstudy.training.checkpoint import atomic_save
from imgstudy.training.inputs import Inputs
from imgstudy.training.loop import FitConfig, Phase
from imgstudy.training.precision import Precision
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


def save_model(path: Path, model: nn.Module, card: dict) -> None:
    """card: unet options, mask_classes, image_size, stored_channels, inputs (Inputs.card()), params."""
    atomic_save({"card": card, "state_dict": model.state_dict()}, path)


def load_model(path: Path, device: torch.device) -> tuple[nn.Module, dict, Inputs]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no trained segmentation model; run the seg_train stage")
    blob = torch.load(path, map_location=device, weights_only=True)
    card = blob["card"]
    inputs = Inputs.from_card(card["inputs"])
    # the weights come from the checkpoint: never fetch ImageNet weights to rebuild
    model = build_unet(inputs.channels, len(card["mask_classes"]), **{**card["unet"], "weights": "none"})
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval(), card, inputs


def seg_fit_config(s: Segment, seed: int, precision: Precision) -> FitConfig:
    """The loop's configuration for a UNet: one phase, the best epoch by validation Dice."""
    return FitConfig(
        phases=(Phase(epochs=s.epochs, lr=s.lr),),
        batch_size=s.batch_size,
        optimizer=s.optimizer,
        monitor="val_dice",
        patience=s.patience,
        seed=seed,
        precision=precision,
        weight_decay=s.weight_decay,
        momentum=s.momentum,
        nesterov=s.nesterov,
        scheduler=s.scheduler,
        warmup_epochs=s.warmup_epochs,
        step_size=s.step_size,
        gamma=s.gamma,
        grad_clip=s.grad_clip,
    )


def seg_task(
    s: Segment,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    inputs: Inputs,
    device: torch.device,
) -> SegmentTask:
    return SegmentTask(
        train,
        val,
        inputs,
        SEG_LOSSES[s.loss](s.focal_gamma),
        device,
        augment=Augment(**s.augment.model_dump()),
        batch_size=s.batch_size,
    )
