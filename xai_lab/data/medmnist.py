"""MedMNIST npz files: where they are looked for, downloading them, reading a split safely.

Where a MedMNIST file is looked for, in order:

1. ``data_dir`` (argument) or else ``XAI_LAB_DATA_DIR``: ``<dir>/medmnist/<file>`` then
   ``<dir>/<file>``, used as they are (read only, no checksum: they may be trimmed copies);
2. the download cache (``XAI_LAB_CACHE_DIR``, default ``~/.cache/xai_lab``):
   ``<cache>/medmnist/<file>``;
3. a download from Zenodo into the cache (progress bar, MD5 check, atomic rename), unless
   ``download=False`` or ``XAI_LAB_OFFLINE=1``.

``<file>`` is ``pneumoniamnist.npz`` for 28 x 28 and ``pneumoniamnist_64.npz`` etc. for the
MedMNIST+ sizes 64, 128 and 224 (Yang et al. 2023; the URLs and MD5s in ``INFO`` are those of
``medmnist`` 3.0.2's ``info.py``). When nothing works, :class:`DatasetNotFoundError` names the
file, every place searched, the URL and where to put the file.

Reading (:func:`read_npz_split`) checks every array's header (dtype, declared shape, and that
the declared shape matches the bytes the archive holds) before anything is allocated, then
inflates the arrays chunk by chunk, checking the values as they come (:mod:`.validation`).
A split whose images are larger than :data:`~xai_lab.data.budget.IN_MEMORY_BYTES` (e.g.
DermaMNIST+ at 224 px, 1.05 GB) is inflated once into the local cache and memory-mapped from
there (:mod:`.store`).
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from . import budget, store
from .dataset import Dataset
from .download import download_file
from .errors import (
    CorruptFileError,
    DatasetNotFoundError,
    DownloadError,
    EmptyDatasetError,
    SplitNotFoundError,
)
from .info import get_info
from .locations import not_set_note, user_dir
from .validation import images_to_uint8, labels_to_int

CHUNK_BYTES = 256 << 10  # as numpy.load reads archives; larger reads from zipfile are slower
MAX_LABEL_BYTES = 64 << 20  # labels of 8 million images as int64: anything above is not labels


# --------------------------------------------------------------------------------- locating
def medmnist_file(info: dict[str, Any], size: int) -> dict[str, str]:
    """The ``{"filename", "url", "md5"}`` entry of a MedMNIST dataset at ``size``."""
    files = info["files"]
    if size not in files:
        raise ValueError(
            f"{info['name']} comes in sizes {sorted(files)}, not {size}; "
            "load a listed size and resize it (xai_lab.data.resize) if needed"
        )
    return files[size]


def locate(
    name: str,
    size: int = 28,
    data_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> tuple[Path, str]:
    """Find (or download) a MedMNIST file; returns ``(path, origin)``.

    ``origin`` is ``"data_dir"``, ``"XAI_LAB_DATA_DIR"``, ``"cache"`` or ``"download"``.

    Raises
    ------
    DatasetNotFoundError
        With ``.filename``, ``.searched``, ``.url`` and ``.not_downloaded`` (why no download).
    """
    info = get_info(name)
    if info["kind"] != "medmnist":
        raise ValueError(f"locate() is for MedMNIST files; {name!r} is a {info['kind']} dataset")
    entry = medmnist_file(info, size)
    filename, url = entry["filename"], entry["url"]
    searched: list[str] = []
    user, origin = user_dir(data_dir)
    if user is not None:
        for candidate in (user / "medmnist" / filename, user / filename):
            searched.append(str(candidate))
            if candidate.is_file():
                return candidate, origin
    else:
        searched.extend(not_set_note(data_dir))
    cached = config.cache_dir() / "medmnist" / filename
    searched.append(str(cached))
    if cached.is_file():
        return cached, "cache"
    if not download:
        reason = "download=False"
    elif config.offline():
        reason = "XAI_LAB_OFFLINE is set"
    else:
        try:
            download_file(url, cached, entry.get("md5"), progress=progress)
            return cached, "download"
        except DownloadError as exc:
            reason = f"the download failed: {exc}"
    looked = "\n".join(f"  - {s}" for s in searched)
    retry = {
        "download=False": "or call load() with download=True",
        "XAI_LAB_OFFLINE is set": "or unset XAI_LAB_OFFLINE and load() downloads it",
    }.get(reason, "or check the network connection and try again")
    raise DatasetNotFoundError(
        f"{filename} ({info['title']}, {size}x{size}) not found; looked in:\n{looked}\n"
        f"and did not download it ({reason}).\n"
        f"To get it: download {url} (MD5 {entry.get('md5')}) and put it in "
        f"<folder>/medmnist/{filename}, then set XAI_LAB_DATA_DIR=<folder> "
        f"(or pass data_dir=<folder>); {retry} "
        f"(python datasets/fetch.py {info['name']} --sizes {size} downloads it into {cached.parent}).",
        filename=filename,
        searched=searched,
        url=url,
        not_downloaded=reason,
    )


# ------------------------------------------------------------------------------ npz headers
@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` member of an npz archive declares, read without loading its data."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    header_bytes: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def data_bytes(self) -> int:
        return self.size * self.dtype.itemsize


_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError)


def _corrupt(path: Path, detail: str) -> CorruptFileError:
    return CorruptFileError(
        f"{path} is not a readable npz file ({detail}); it may be a truncated or interrupted "
        "download: delete it and download it again"
    )


def _read_header(fh: Any, key: str) -> NpyHeader:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    if dtype.hasobject:
        raise ValueError(f"{key} holds Python objects (refused: loading them could run code)")
    if any(int(d) < 0 for d in shape):
        raise ValueError(f"{key} declares a negative dimension {shape}")
    return NpyHeader(key, tuple(int(d) for d in shape), dtype, bool(fortran), int(fh.tell()))


def npz_headers(path: str | Path) -> dict[str, NpyHeader]:
    """The header of every array in an npz file, checked against the bytes the archive holds.

    Raises
    ------
    CorruptFileError
        Not a zip archive, a member that is not an ``.npy`` array, or an array whose declared
        shape and dtype do not match its data (a damaged file, or an absurd declared shape):
        nothing has been allocated for it.
    """
    path = Path(path)
    headers: dict[str, NpyHeader] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.infolist():
                if not member.filename.endswith(".npy"):
                    continue
                key = member.filename[: -len(".npy")]
                with zf.open(member) as fh:
                    header = _read_header(fh, key)
                if member.file_size != header.header_bytes + header.data_bytes:
                    raise CorruptFileError(
                        f"{path}: array {key!r} declares shape {header.shape} of {header.dtype} "
                        f"({header.data_bytes:,} bytes) but the archive holds "
                        f"{member.file_size - header.header_bytes:,} bytes of data for it: the "
                        "file is damaged or was not written by numpy.savez; download or write it "
                        "again"
                    )
                headers[key] = header
    except CorruptFileError:
        raise
    except _READ_ERRORS as exc:
        raise _corrupt(path, f"{type(exc).__name__}: {exc}") from exc
    return headers


def _inflate(path: Path, header: NpyHeader, out: np.ndarray, convert: Any) -> None:
    """Read ``header.key`` from ``path`` into ``out`` (same number of items), chunk by chunk,
    passing each chunk through ``convert`` (which validates and casts it)."""
    if not out.flags.c_contiguous or out.size != header.size:
        raise ValueError("out must be C-contiguous with as many items as the array")
    flat = out.reshape(-1)
    itemsize = header.dtype.itemsize
    per_chunk = max(1, CHUNK_BYTES // max(1, itemsize))
    where = f"{path.name}: {header.key}"
    try:
        with zipfile.ZipFile(path) as zf, zf.open(f"{header.key}.npy") as fh:
            _read_header(fh, header.key)
            pos = 0
            while pos < header.size:
                k = min(per_chunk, header.size - pos)
                buf = fh.read(k * itemsize)
                if len(buf) != k * itemsize:
                    raise EOFError(f"{header.key} ends after {pos + len(buf) // itemsize} items")
                flat[pos : pos + k] = convert(np.frombuffer(buf, dtype=header.dtype), where)
                pos += k
            if fh.read(1):  # reading to the end also checks the member's CRC
                raise ValueError(f"{header.key} holds more data than its header declares")
    except CorruptFileError:
        raise
    except _READ_ERRORS as exc:
        raise _corrupt(path, f"{type(exc).__name__}: {exc}") from exc


def _read_array(path: Path, header: NpyHeader, convert: Any, dtype: Any, out: np.ndarray | None = None) -> np.ndarray:
    if header.fortran_order:  # numpy writes C order; a Fortran-ordered file is read in memory
        reversed_shape = tuple(reversed(header.shape))
        buf = np.empty(reversed_shape, dtype=dtype)
        _inflate(path, header, buf, convert)
        arr = np.ascontiguousarray(buf.T)
        if out is not None:
            out[...] = arr
            return out
        return arr
    if out is None:
        out = np.empty(header.shape, dtype=dtype)
    _inflate(path, header, out, convert)
    return out


# ------------------------------------------------------------------------------- one split
def _check_split_headers(
    path: Path,
    headers: dict[str, NpyHeader],
    split: str,
    n_channels: int | None,
    size: int | None,
) -> tuple[NpyHeader, NpyHeader]:
    img_key, lab_key = f"{split}_images", f"{split}_labels"
    if img_key not in headers or lab_key not in headers:
        keys = sorted(headers)
        present = sorted({k.rsplit("_", 1)[0] for k in keys if k.endswith(("_images", "_labels"))})
        raise SplitNotFoundError(
            f"split {split!r} is not in {path}: it holds the splits {present} "
            f"(keys {keys}). The shared development copies hold no 'test' split "
            "(held back for evaluation): select and report on 'val'."
        )
    img, lab = headers[img_key], headers[lab_key]
    shape = img.shape
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3)):
        raise CorruptFileError(
            f"{path}: {img_key} has shape {shape}, expected (N, H, W) for grey or (N, H, W, 3) "
            "for colour images"
        )
    channels = 1 if len(shape) == 3 else shape[-1]
    if n_channels is not None and channels != n_channels:
        raise CorruptFileError(
            f"{path}: {img_key} has {channels} channel(s), expected {n_channels}: is it the file "
            "of another dataset?"
        )
    if size is not None and shape[1:3] != (size, size):
        raise CorruptFileError(
            f"{path}: {img_key} holds {shape[1]} x {shape[2]} images, not {size} x {size}: the "
            "file does not match its name; download the file of that size again"
        )
    if len(lab.shape) == 2 and lab.shape[1] != 1 or len(lab.shape) not in (1, 2):
        raise CorruptFileError(
            f"{path}: {lab_key} has shape {lab.shape}: one class index per image is expected "
            "(multi-label files are not supported)"
        )
    if lab.shape[0] != shape[0]:
        raise CorruptFileError(
            f"{path}: {lab_key} has {lab.shape[0]} labels for {shape[0]} images in {img_key}"
        )
    if lab.data_bytes > MAX_LABEL_BYTES:
        raise CorruptFileError(f"{path}: {lab_key} declares {lab.data_bytes:,} bytes of labels")
    if shape[0] == 0:
        raise EmptyDatasetError(
            f"split {split!r} of {path} holds no images (0 rows in {img_key}): choose another "
            "split or a complete copy of the file"
        )
    return img, lab


def _stored_images(path: Path, split: str, header: NpyHeader) -> np.ndarray | None:
    """The images of a large split, inflated once into the local cache and memory-mapped."""
    target_shape = header.shape if len(header.shape) == 4 else header.shape + (1,)
    key = store.file_key([path], split, "npz-images")
    target = store.folder() / f"{path.stem}-{split}-{key}.npy"
    arr = store.open_array(target, target_shape)
    if arr is not None:
        return arr
    try:
        with store.new_array(target, target_shape) as out:
            _read_array(path, header, images_to_uint8, np.uint8, out.reshape(header.shape))
    except (OSError, store.NotEnoughSpaceError) as exc:
        warnings.warn(
            f"cannot keep {path.name} {split} in the cache ({exc}); reading it into memory",
            UserWarning,
            stacklevel=3,
        )
        return None
    return store.open_array(target, target_shape)


def read_npz_split(
    path: str | Path,
    split: str,
    n_channels: int | None = None,
    *,
    n_classes: int | None = None,
    size: int | None = None,
    memmap: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``{split}_images`` and ``{split}_labels`` from a MedMNIST-style npz file.

    Parameters
    ----------
    path : path
    split : str
    n_channels, n_classes, size : int, optional
        What the images and labels must be (checked from the headers, before reading).
    memmap : bool, optional
        Keep the images in the local cache and memory-map them; default: when they are
        larger than :data:`~xai_lab.data.budget.IN_MEMORY_BYTES`.

    Returns
    -------
    images, labels
        uint8 (N, H, W, C) and int64 (N,).

    Raises
    ------
    SplitNotFoundError
        The file has no such split (the message lists the splits it holds).
    EmptyDatasetError
        The split holds no images.
    CorruptFileError
        Truncated, not an npz, a declared shape that does not match the data, images that are
        not whole numbers in 0-255 (float images in [0, 1], NaN, values above 255), labels that
        are not whole, negative or out of range, or mismatched counts.
    """
    path = Path(path)
    headers = npz_headers(path)
    img, lab = _check_split_headers(path, headers, str(split), n_channels, size)
    where = f"{path.name}: {lab.key}"
    labels = _read_array(path, lab, lambda v, w: v, lab.dtype).reshape(-1)
    labels = labels_to_int(labels, where, n_classes)
    images = None
    uint8_bytes = img.size
    if (memmap is None and uint8_bytes > budget.IN_MEMORY_BYTES) or memmap:
        images = _stored_images(path, str(split), img)
    if images is None:
        images = _read_array(path, img, images_to_uint8, np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    return images, labels


def load_medmnist(
    info: dict[str, Any], split: str, size: int, data_dir: Any, download: bool
) -> Dataset:
    """A split of a MedMNIST dataset at ``size`` (located or downloaded by :func:`locate`)."""
    path, origin = locate(info["name"], size, data_dir, download)
    images, labels = read_npz_split(
        path, split, info["n_channels"], n_classes=info["n_classes"], size=size
    )
    return Dataset(images, labels, info, info["name"], split, str(path), origin=origin)
