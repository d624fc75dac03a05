"""The data layer: dataset table, loaders, phantoms, image IO, splits, hygiene, tf.data.

Nothing here imports TensorFlow at import time (``make_tf_dataset`` imports it when called).

>>> from xai_lab import data
>>> ds = data.load("pneumoniamnist", "val")           # doctest: +SKIP
>>> ds.images.shape, ds.class_counts                   # doctest: +SKIP
((524, 28, 28, 1), array([135, 389]))
>>> ph = data.phantoms.make("skin", 70, seed=0)        # synthetic, with lesion masks
>>> ph.images.shape, ph.masks.shape
((70, 28, 28, 3), (70, 28, 28))
"""

from __future__ import annotations

from . import phantoms
from .chest_xray import chest_xray_patient, chest_xray_split
from .dataset import Dataset
from .errors import (
    CorruptFileError,
    DataError,
    DatasetNotFoundError,
    DownloadError,
    EmptyDatasetError,
    FolderLayoutError,
    ImageReadError,
    ResolutionError,
    SplitNotFoundError,
    UnsafePathError,
)
from .folders import list_image_folder, load_image_folder, load_labelled_folder, match_class_folders
from .ham10000 import ham10000_split
from .hygiene import DuplicateReport, find_duplicates, split_overlaps
from .images import decode_image, prepare_for_model, read_image, resize
from .info import INFO, get_info
from .loaders import load, load_best
from .medmnist import locate, read_npz_split
from .pipeline import class_weights, make_tf_dataset
from .splits import grouped_split, grouped_splits, stratified_split

__all__ = [
    "INFO",
    "CorruptFileError",
    "DataError",
    "Dataset",
    "DatasetNotFoundError",
    "DownloadError",
    "DuplicateReport",
    "EmptyDatasetError",
    "FolderLayoutError",
    "ImageReadError",
    "ResolutionError",
    "SplitNotFoundError",
    "UnsafePathError",
    "chest_xray_patient",
    "chest_xray_split",
    "class_weights",
    "decode_image",
    "find_duplicates",
    "get_info",
    "grouped_split",
    "grouped_splits",
    "ham10000_split",
    "list_image_folder",
    "load",
    "load_best",
    "load_image_folder",
    "load_labelled_folder",
    "locate",
    "make_tf_dataset",
    "match_class_folders",
    "phantoms",
    "prepare_for_model",
    "read_image",
    "read_npz_split",
    "resize",
    "split_overlaps",
    "stratified_split",
]
