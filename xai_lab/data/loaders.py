"""``load`` and ``load_best``: one entry point for every dataset in :data:`~xai_lab.data.INFO`.

The sources live in their own modules: :mod:`.medmnist` (npz files, located or downloaded),
:mod:`.chest_xray` (Kermany class folders), :mod:`.ham10000` (metadata table + images);
class folders in general in :mod:`.folders`, decoding and its cache in :mod:`.decode` and
:mod:`.store`, the checks where data enter in :mod:`.validation` and :mod:`.images`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import config
from .chest_xray import load_chest_xray
from .dataset import Dataset
from .errors import CorruptFileError, DatasetNotFoundError, SplitNotFoundError
from .ham10000 import load_ham10000
from .info import get_info
from .locations import ORIGIN_TEXT
from .medmnist import load_medmnist

MIN_SIZE = 8


def load(
    name: str,
    split: str = "train",
    size: int | None = None,
    data_dir: str | Path | None = None,
    download: bool = True,
    **options: Any,
) -> Dataset:
    """Load a split of a known dataset (see :data:`xai_lab.data.INFO`).

    Parameters
    ----------
    name : str
        ``pneumoniamnist``, ``dermamnist``, ``retinamnist``, ``chest_xray`` or ``ham10000``.
    split : str
        ``train``, ``val`` or ``test`` (HAM10000 also ``all``). chest_xray's ``train`` and
        ``val`` are a patient-grouped split of the Kermany training folder, its ``test`` the
        test folder; HAM10000's are a lesion-grouped split of its metadata table.
    size : int, optional
        MedMNIST: 28, 64, 128 or 224 (a different file each, downloaded on demand).
        Folder / CSV datasets are resized to ``size x size``, up to the resolution of the
        source images (a larger size is refused). Default: the dataset's
        ``INFO[name]["default_size"]`` (28 for MedMNIST, 128 for chest_xray and ham10000).
    data_dir : path, optional
        A folder holding the files as they are; default ``XAI_LAB_DATA_DIR``.
    download : bool
        MedMNIST only: download a missing file into the cache (never when ``XAI_LAB_OFFLINE=1``).
    **options
        Folder / CSV datasets: ``on_error="skip"|"raise"``, ``per_class``, ``limit``, ``seed``,
        ``cache`` (see :func:`~xai_lab.data.load_image_folder`).

    Returns
    -------
    Dataset
        uint8 (N, H, W, C) images, int64 labels, the INFO row; ``source`` is the file or folder.
        Images larger than :data:`~xai_lab.data.budget.IN_MEMORY_BYTES` are memory-mapped
        from the local cache (see :mod:`xai_lab.data.budget`).

    Raises
    ------
    DatasetNotFoundError
        Nothing found and no download possible: the message says where it looked and how to get it.
    SplitNotFoundError
        The file lacks the split (e.g. ``test`` in the shared development copies).
    CorruptFileError
        A truncated or corrupt file, or arrays that are not images and class indices
        (:class:`~xai_lab.data.errors.EmptyDatasetError` when a split or class holds nothing).
    ResolutionError
        ``size`` above the resolution of a folder dataset's images.
    """
    info = get_info(name)
    split = str(split)
    size = int(info["default_size"] if size is None else size)
    if info["kind"] == "medmnist":
        if options:
            raise TypeError(f"unexpected options for a MedMNIST dataset: {sorted(options)}")
        return load_medmnist(info, split, size, data_dir, download)
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels, got {size}")
    if info["kind"] == "image_folder":
        return load_chest_xray(info, split, size, data_dir, **options)
    return load_ham10000(info, split, size, data_dir, **options)


def _why_not(exc: Exception) -> str:
    """A one-line reason for the phantom fallback, from the error's fields."""
    if isinstance(exc, DatasetNotFoundError):
        text = f"{exc.filename or 'the data'} is not in the data folder or the cache"
        if exc.not_downloaded:
            text += f", and it was not downloaded ({exc.not_downloaded.splitlines()[0]})"
        return text
    return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


def load_best(
    name: str = "pneumoniamnist",
    split: str = "train",
    size: int | None = None,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    phantom_n: int | None = None,
    seed: int | None = None,
) -> tuple[Dataset, str]:
    """The best data reachable: ``data_dir`` or XAI_LAB_DATA_DIR, the cache, a download, else phantoms.

    Returns ``(dataset, description)``, the description one line saying which source was used
    (for the demo and the notebooks). ``download=False`` never touches the network. The
    phantom fallback has the same task and number of classes as the requested dataset
    (:mod:`xai_lab.data.phantoms`); its size is ``phantom_n`` (default 2000 for ``train``,
    500 otherwise, a quarter of that with ``XAI_LAB_FAST=1``), its seed depends on the split.
    """
    from . import phantoms

    info = get_info(name)
    size = int(info["default_size"] if size is None else size)
    try:
        ds = load(name, split, size, data_dir=data_dir, download=download)
        where = ORIGIN_TEXT.get(ds.origin, ds.origin)
        return ds, (
            f"{info['title']} {split}: {len(ds)} real images at {size}x{size} "
            f"from {where} ({ds.source})"
        )
    except (DatasetNotFoundError, SplitNotFoundError, CorruptFileError) as exc:
        reason = _why_not(exc)
    if phantom_n is None:
        phantom_n = 2000 if split == "train" else 500
        if config.fast_mode():
            phantom_n //= 4
    base_seed = config.seed() if seed is None else seed
    split_offset = {"train": 0, "val": 1, "test": 2}.get(split, 3)
    ds = phantoms.make(info["phantom"], phantom_n, size=size, seed=base_seed * 10 + split_offset)
    ds.split = split
    return ds, (
        f"phantom fallback: {len(ds)} synthetic '{info['phantom']}' images at {size}x{size} "
        f"instead of {info['title']} {split} ({reason})"
    )
