"""Models: the registry (models/registry.py), the CNNs built from scratch, the torchvision transfer
backbones and the UNet. Importing the package registers every model."""

from imgstudy.models import cnn, transfer  # noqa: F401 - registers their models
from imgstudy.models.registry import MODELS, build_model

__all__ = ["MODELS", "build_model"]
