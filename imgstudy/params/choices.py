"""Every set of names a params key chooses from, written once.

The schema's Literal types are made from these tuples (Literal[CHANNELS] is Literal["native", ...]),
and the library reads its own checks and tables from them; each registry of implementations
(optimizers, losses, models...) is tied to its tuple by tests/test_choices.py, and so are
params.yaml's comments. This module imports nothing: loading params never pulls in torch.
"""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda", "mps")
# download.dataset: a catalog entry (imgstudy/data/catalog.py) or a generic kind read from download.location
MEDMNIST = ("pneumoniamnist", "bloodmnist", "dermamnist", "breastmnist", "octmnist")
DATASETS = (
    "mnist",
    "fashion_mnist",
    "digits",
    "smids",
    "chest_xray",
    "stanford_dogs",
    "covid_ct",
    "shapes",
    "covid_ct_seg",
    *(f"{name}_{size}" for name in MEDMNIST for size in (28, 64, 128, 224)),
)
GENERIC_DATASETS = ("url", "kaggle", "folder", "csv", "npz", "masks", "masks_csv")
CHECKSUMS = ("sha256", "md5")  # download.checksum: <algorithm>:<hex>; a bare hex is sha256
SOURCES = ("auto", "local", "url")  # download.source
RESIZES = ("letterbox", "stretch")
CHANNELS = ("native", "gray", "rgb")
EQUALIZE = ("none", "global", "clahe")
MASKS = ("binary", "labels", "colors")  # how mask files code their classes
TEST_SPLITS = ("official", "fraction")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# The models and the params group each reads its options from (train.cnn, train.transfer; None: none).
MODELS = {
    "mnist_cnn": None,
    "cnn_gru": None,
    "cnn": "cnn",
    "vgg16": "transfer",
    "vgg19": "transfer",
    "resnet18": "transfer",
    "resnet50": "transfer",
    "mobilenet_v2": "transfer",
    "mobilenet_v3_small": "transfer",
    "mobilenet_v3_large": "transfer",
    "densenet121": "transfer",
    "efficientnet_b0": "transfer",
}
MODEL_NAMES = tuple(MODELS)
# train.<group>.* settings change the model only for the models that read that group
MODEL_GROUPS = {"train.transfer.": "transfer", "train.finetune.": "transfer", "train.cnn.": "cnn"}
ACTIVATIONS = ("relu", "sigmoid", "softplus", "softsign", "tanh", "selu", "elu", "gelu", "exponential", "softmax")
POOLS = ("max", "avg")
HEADS = ("flatten", "gap")  # flatten | global average pooling
BN_ORDERS = ("conv_bn_act", "conv_act_bn")
WEIGHTS = ("imagenet", "imagenet_or_random", "none")
INITS = ("xavier_uniform", "kaiming", "default")
NORMALIZE = ("dataset", "imagenet", "per_image", "zca", "none")
SEG_NORMALIZE = ("dataset", "imagenet", "per_image", "none")  # no ZCA for masks' images
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adadelta", "adagrad", "adamax")
SCHEDULERS = ("onecycle", "cosine", "step", "plateau", "none")
LOSSES = (
    "cross_entropy",
    "bce_with_logits",
    "hinge",
    "squared_hinge",
    "kl_divergence",
    "focal",
    "poisson",
    "categorical_hinge",
)
MONITORS = ("val_loss", "val_acc")
CLASS_WEIGHTS = ("none", "balanced")
SAMPLING = ("uniform", "balanced")
POLICIES = ("none", "randaugment", "trivialaugment")
# what a rotated, zoomed or shifted image shows where it has no pixels: black (zeros), its mirror image
# about the edge (reflect: Keras' RandomRotation and RandomZoom) or its edge pixels (nearest: Keras'
# ImageDataGenerator)
FILLS = ("zeros", "reflect", "nearest")
UPSAMPLE = ("transpose", "bilinear")
ENCODERS = ("none", "resnet18", "mobilenet_v2")
SEG_LOSSES = ("dice", "bce", "dice_bce", "focal")
TTA = ("none", "hflip", "hflip_shift")
CORRUPTIONS = ("shift", "rotate", "zoom", "contrast", "brightness", "noise", "blur", "imperfect")
CAM_METHODS = ("gradcam", "gradcam++", "scorecam")
METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")  # the comparison's
SAMPLERS = ("tpe", "random")
