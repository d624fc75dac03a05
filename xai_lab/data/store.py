"""The decoded-array store: uint8 arrays kept as ``.npy`` files in the local cache.

Decoding thousands of JPEGs, or inflating a compressed MedMNIST+ npz, is done once; the result
goes to ``<cache>/decoded/<name>.npy`` with a small ``.json`` beside it (what was kept, what was
skipped and why). Both are written to a temporary file in the same folder and renamed into
place only when complete (:func:`new_array`, :func:`write_json`), so an interrupted run never
leaves a half-written array where a reader would take it for a whole one.

:func:`open_array` loads a stored array into memory when it is small and memory-maps it
(copy-on-write: writing to it changes only this process's view, never the file) when it is
larger than :data:`~xai_lab.data.budget.IN_MEMORY_BYTES`; a corrupt or truncated file is
deleted and reported as missing, so the caller rebuilds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from .._atomic import atomic_path
from . import budget
from .errors import DataError

FORMAT_VERSION = "2"  # bump when what is stored for the same inputs changes


def folder() -> Path:
    """``<cache>/decoded``: where decoded arrays are kept (not created here)."""
    return config.cache_dir() / "decoded"


def file_key(paths: Sequence[Path], *parts: Any) -> str:
    """A short hash of ``parts`` and of each path with its size and modification time."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(repr((FORMAT_VERSION,) + parts).encode())
    for p in paths:
        try:
            st = p.stat()
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except (OSError, ValueError):
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()[:20]


class NotEnoughSpaceError(DataError, OSError):
    """The cache folder's disk cannot hold an array that must be stored there."""


def check_free_space(where: Path, nbytes: int, what: str) -> None:
    """Raise :class:`NotEnoughSpaceError` when ``where`` has less than ``nbytes`` (+5 %) free."""
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    if free < nbytes * 1.05:
        raise NotEnoughSpaceError(
            f"{what} needs {nbytes / 2**20:.0f} MiB in {where}, which has only "
            f"{free / 2**20:.0f} MiB free: free some space or point XAI_LAB_CACHE_DIR at a "
            "larger disk"
        )


@contextlib.contextmanager
def new_array(path: Path, shape: tuple[int, ...], dtype: Any = np.uint8) -> Iterator[np.ndarray]:
    """A writable, file-backed array that becomes ``path`` (an ``.npy``) when the block succeeds.

    The array lives in a temporary file beside ``path``; on success it is flushed and renamed
    onto ``path``, on any exception (KeyboardInterrupt included) the temporary file is removed
    and ``path`` is left as it was. :func:`shrink` may cut its first axis inside the block.
    """
    path = Path(path)
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    check_free_space(path.parent, nbytes, f"storing {path.name}")
    with atomic_path(path, suffix=".part.npy") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=tuple(shape))
        full = os.path.getsize(tmp)
        try:
            yield arr
            if os.path.getsize(tmp) == full:  # shrink() flushed before it cut the file
                arr.flush()
        finally:
            mm = getattr(arr, "_mmap", None)
            del arr
            if mm is not None:
                mm.close()


def shrink(array: np.ndarray, n: int) -> None:
    """Cut the first axis of an array made by :func:`new_array` to ``n`` rows, in its file.

    The header is rewritten in place at the same length (padded with spaces, as the ``.npy``
    format allows) and the file truncated after row ``n``; the array object must not be used
    afterwards.
    """
    filename = getattr(array, "filename", None)
    if filename is None:
        raise ValueError("shrink() needs an array made by new_array()")
    shape = (int(n),) + tuple(array.shape[1:])
    if shape == array.shape:
        return
    array.flush()
    with open(filename, "r+b") as fh:
        version = np.lib.format.read_magic(fh)
        start = fh.tell()
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unexpected .npy format version {version}")
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        reader(fh)
        offset = fh.tell()
        length_bytes = 2 if version == (1, 0) else 4
        header_len = offset - start - length_bytes
        header = repr({"descr": np.lib.format.dtype_to_descr(array.dtype),
                       "fortran_order": False, "shape": shape})
        if len(header) + 1 > header_len:
            raise ValueError("the new header does not fit")  # cannot happen: n <= len(array)
        fh.seek(start + length_bytes)
        fh.write((header + " " * (header_len - len(header) - 1) + "\n").encode("latin1"))
        fh.truncate(offset + int(np.prod(shape, dtype=np.int64)) * array.dtype.itemsize)


def open_array(path: Path, expected_shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """A stored array: in memory when small, memory-mapped (copy-on-write) when large.

    Returns None (after deleting the file) when it is missing, corrupt, truncated or not of
    ``expected_shape``.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="c", allow_pickle=False)
        if arr.dtype != np.uint8 or (expected_shape is not None and arr.shape != tuple(expected_shape)):
            raise ValueError(f"unexpected array {arr.dtype} {arr.shape}")
        if arr.nbytes <= budget.IN_MEMORY_BYTES:
            arr = np.array(arr)
    except (ValueError, OSError, EOFError):
        path.unlink(missing_ok=True)
        return None
    return arr


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically."""
    with atomic_path(path, suffix=".part") as tmp:
        tmp.write_text(json.dumps(obj), encoding="utf-8")


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object written by :func:`write_json`, or None (missing or unreadable: deleted)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        Path(path).unlink(missing_ok=True)
        return None
    return obj if isinstance(obj, dict) else None


def is_file_backed(array: Any) -> bool:
    """True when ``array`` (or the array it is a view of) is memory-mapped from a file."""
    obj = array
    while obj is not None:
        if isinstance(obj, np.memmap) or type(obj).__name__ == "mmap":
            return True
        obj = getattr(obj, "base", None)
    return False
