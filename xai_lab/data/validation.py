"""Checks applied where data enter the package, before any work is done on them.

* :func:`images_to_uint8` / :func:`labels_to_int`: arrays read from an npz file (or any
  array a user hands in). Images must be whole numbers in 0-255, whatever their dtype: float
  images in [0, 1], with NaN or above 255 would otherwise be cast to all-zero or wrapped
  pictures without a word. Labels must be whole, non-negative and below the number of classes.
* :func:`inside`: a file named by a data table (an image id in a CSV) or found in a folder (a
  symlink) must stay inside the data folder once ``..`` and symlinks are resolved; otherwise it
  is refused without being opened.

Every failure raises an error of :mod:`xai_lab.data.errors` whose message names the file,
the problem and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import CorruptFileError, UnsafePathError


def _range_text(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return "no finite values"
    return f"values {finite.min():g} to {finite.max():g}"


def images_to_uint8(values: np.ndarray, where: str) -> np.ndarray:
    """``values`` as uint8, refusing anything that is not a whole number in 0-255.

    Integer arrays within 0-255 and float arrays holding whole numbers within 0-255 (a float
    copy of uint8 pixels) are converted exactly. Anything else raises
    :class:`CorruptFileError`: floats with a fractional part (e.g. scaled to [0, 1]), NaN or
    infinity, values outside 0-255, booleans, strings.
    """
    arr = np.asarray(values)
    if arr.dtype == np.uint8:
        return arr
    kind = arr.dtype.kind
    if kind not in "iuf":
        raise CorruptFileError(
            f"{where}: images of dtype {arr.dtype} are not supported: store them as uint8 "
            "(0-255), e.g. np.asarray(images, dtype=np.uint8)"
        )
    if kind == "f" and not np.all(np.isfinite(arr)):
        raise CorruptFileError(
            f"{where}: the images hold NaN or infinite values: repair or remove those images "
            "and store the rest as uint8 (0-255)"
        )
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise CorruptFileError(
            f"{where}: image {_range_text(arr)} are outside 0-255 (dtype {arr.dtype}): "
            "rescale them to 0-255 and store them as uint8"
        )
    if kind == "f" and arr.size and not np.all(arr == np.round(arr)):
        scaled = " (they look scaled to [0, 1]: multiply by 255 and round)" if arr.max() <= 1 else ""
        raise CorruptFileError(
            f"{where}: the images are {arr.dtype} with fractional {_range_text(arr)}{scaled}; "
            "store them as uint8 in 0-255, e.g. np.rint(x * 255).astype(np.uint8) for [0, 1] data"
        )
    return arr.astype(np.uint8)


def labels_to_int(values: np.ndarray, where: str, n_classes: int | None = None) -> np.ndarray:
    """``values`` as int64 class indices, refusing fractions, negatives and indices that are
    not below ``n_classes`` (when given)."""
    arr = np.asarray(values)
    kind = arr.dtype.kind
    if kind == "b":
        arr = arr.astype(np.int64)
        kind = "i"
    if kind not in "iuf":
        raise CorruptFileError(
            f"{where}: labels of dtype {arr.dtype} are not class indices: store integers 0..K-1"
        )
    if kind == "f":
        if not np.all(np.isfinite(arr)):
            raise CorruptFileError(f"{where}: the labels hold NaN or infinite values")
        if arr.size and not np.all(arr == np.round(arr)):
            raise CorruptFileError(
                f"{where}: the labels are not whole numbers ({_range_text(arr)}, dtype {arr.dtype}): "
                "store the class index of each image (0..K-1), not a probability or a score"
            )
    if arr.size and arr.min() < 0:
        raise CorruptFileError(
            f"{where}: negative labels ({_range_text(arr)}): labels must be class indices 0..K-1"
        )
    if n_classes is not None and arr.size and arr.max() >= n_classes:
        raise CorruptFileError(
            f"{where}: labels {_range_text(arr)} are outside 0..{n_classes - 1}: this dataset "
            f"has {n_classes} classes; check that the file belongs to this dataset"
        )
    return arr.astype(np.int64)


def inside(root: Path, candidate: Path, name: str | None = None) -> Path:
    """``candidate`` resolved (``..`` and symlinks followed), refused unless inside ``root``.

    Nothing is opened or read: only the path is resolved. Raises :class:`UnsafePathError`
    (an :class:`~xai_lab.data.errors.ImageReadError`) naming the entry, never its contents.
    """
    label = repr(name if name is not None else str(candidate))
    try:
        base = Path(os.path.realpath(root))
        real = Path(os.path.realpath(candidate))
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte
        raise UnsafePathError(f"{label} is not a valid file name ({type(exc).__name__})") from exc
    if real != base and base not in real.parents:
        raise UnsafePathError(
            f"{label} points outside the data folder {str(root)!r} (through '..', an absolute "
            "path or a symbolic link): refused and not read. Put the file itself inside the "
            "data folder."
        )
    return real
