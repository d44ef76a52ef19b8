"""Segmentation training: losses by name, the fit loop (early stopping, best checkpoint,
resume after a kill) and the model file with its card.

Losses take (logits (B, K, H, W), masks (B, H, W) class indices) and work on the softmax
over the K classes, so every loss ranks the same prediction (the argmax) the same way.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from imgstudy.augment import Augment
from imgstudy.checkpoint import atomic_save
from imgstudy.engine import batches
from imgstudy.inputs import Inputs
from imgstudy.models.unet import build_unet
from imgstudy.optim import make_optimizer
from imgstudy.registry import Registry

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
        return (-(1 - logp.exp()) ** gamma * logp).mean()
    return loss


SEG_LOSSES.register("focal")(_focal)


@torch.no_grad()
def batch_dice(pred: torch.Tensor, masks: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B,) mean foreground Dice per image of argmax label maps; empty-in-both scores 1."""
    scores = []
    for k in range(1 if num_classes > 1 else 0, num_classes):
        p, t = pred == k, masks == k
        inter, total = (p & t).sum((1, 2)).float(), (p.sum((1, 2)) + t.sum((1, 2))).float()
        scores.append(torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total)))
    return torch.stack(scores, 1).mean(1)


@dataclass(frozen=True)
class SegFitConfig:
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    patience: int
    seed: int
    augment: Augment = field(default_factory=Augment)


@dataclass
class SegEpoch:
    epoch: int
    train_loss: float
    val_loss: float
    val_dice: float
    val_pixel_accuracy: float
    lr: float
    seconds: float
    improved: bool


@torch.no_grad()
def predict_masks(model: nn.Module, images: torch.Tensor, inputs: Inputs, batch_size: int,
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, H, W, C) uint8 -> (label maps (N, H, W) int64, logits (N, K, H, W) float) on the CPU."""
    model.eval()
    logits = [model(inputs(images[idx].to(device))).float().cpu() for idx in batches(len(images), batch_size)]
    out = torch.cat(logits)
    return out.argmax(1), out


def fit_seg(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
            inputs: Inputs, loss_fn: SegLoss, cfg: SegFitConfig, device: torch.device,
            on_epoch: Callable[[SegEpoch, nn.Module], None], state_path: Path | None = None,
            fingerprint: str = "") -> list[SegEpoch]:
    """Train on (uint8 NHWC images, (N, H, W) masks); the best epoch is the highest val Dice.
    A saved state with the same fingerprint is resumed and ends where an uninterrupted run would."""
    model.to(device)
    optimizer = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay, 0.9, False)
    history: list[SegEpoch] = []
    if state_path is not None and state_path.is_file():
        saved = torch.load(state_path, map_location=device, weights_only=True)
        if saved.get("fingerprint") == fingerprint:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            history = [SegEpoch(**r) for r in saved["history"]]
    best = max((r.val_dice for r in history), default=None)
    # epochs since the last improvement (a resumed run keeps counting towards patience)
    stale = next((i for i, r in enumerate(reversed(history)) if r.improved), len(history))
    for epoch in range(len(history), cfg.epochs):
        if stale >= cfg.patience:
            break
        began, model_loss, seen = time.perf_counter(), 0.0, 0
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        model.train()
        for idx in batches(len(train[0]), cfg.batch_size, gen):
            x = inputs.to_unit(train[0][idx].to(device))
            x, m = cfg.augment.pair(x, train[1][idx].to(device), gen)
            loss = loss_fn(model(inputs.finish(x)).float(), m)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            model_loss, seen = model_loss + loss.item() * len(idx), seen + len(idx)
        pred, logits = predict_masks(model, val[0], inputs, 2 * cfg.batch_size, device)
        val_loss = loss_fn(logits, val[1]).item()
        dice = batch_dice(pred, val[1], logits.shape[1]).mean().item()
        improved = best is None or dice > best
        best, stale = (dice, 0) if improved else (best, stale + 1)
        result = SegEpoch(epoch, model_loss / seen, val_loss, dice, (pred == val[1]).float().mean().item(),
                          optimizer.param_groups[0]["lr"], time.perf_counter() - began, improved)
        history.append(result)
        on_epoch(result, model)
        if state_path is not None:
            atomic_save({"fingerprint": fingerprint, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "history": [asdict(r) for r in history]}, state_path)
    return history


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
