"""The typed schema of params.yaml, one module per group of sections, and its loading: read, merge a
variant or a preset, validate, fail with an error that names the key. A leaf of the library: it
imports only imgstudy.core, so loading params never pulls in torch."""

from imgstudy.params.choices import MODEL_GROUPS, MODELS
from imgstudy.params.data import Base, Download, Paths, Preprocess, Split
from imgstudy.params.load import (
    REPLACED,
    check_search_space,
    dump_yaml,
    load,
    merge,
    read_yaml,
    repeated,
    resolve,
    variant_of,
    yaml_text,
)
from imgstudy.params.schema import VARIANT_SECTIONS, Params, lookup
from imgstudy.params.segment import Segment, SegSpeed, Unet
from imgstudy.params.study import Altered, Compare, Evaluate, Explain, Robustness, Search, SearchDim, Tracking
from imgstudy.params.train import Augment, Cnn, Finetune, Fitting, Speed, Train, Transfer

__all__ = [
    "MODEL_GROUPS",
    "MODELS",
    "REPLACED",
    "VARIANT_SECTIONS",
    "Altered",
    "Augment",
    "Base",
    "Cnn",
    "Compare",
    "Download",
    "Evaluate",
    "Explain",
    "Finetune",
    "Fitting",
    "Params",
    "Paths",
    "Preprocess",
    "Robustness",
    "Search",
    "SearchDim",
    "SegSpeed",
    "Segment",
    "Speed",
    "Split",
    "Tracking",
    "Train",
    "Transfer",
    "Unet",
    "check_search_space",
    "dump_yaml",
    "load",
    "lookup",
    "merge",
    "read_yaml",
    "repeated",
    "resolve",
    "variant_of",
    "yaml_text",
]
