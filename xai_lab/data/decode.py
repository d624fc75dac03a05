"""Decoding many image files to one uint8 array: checks per file, skipping, and the cache.

Each file goes through :func:`decode_file`, the one gate for images read from folders and
tables: it must lie inside the data folder (``..`` and symlinks resolved, :func:`~xai_lab.data.
validation.inside`), decode within the memory budget (:func:`~xai_lab.data.images.decode_image`,
JPEGs at a reduced scale when they will be shrunk anyway), and not be far smaller than the
requested size (more than :data:`MAX_UPSCALE` times enlarged). Colour images in a grey dataset
and grey images in a colour one are converted and named in a warning.

:func:`decode_files` tries every file before it raises, so one bad file never stops the work
halfway; the array is written straight into the local cache (:mod:`.store`: ``.npy`` plus a
``.json`` of what was kept and skipped, renamed into place when complete) and the next load
is instant. Large results come back memory-mapped from there.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import store
from .errors import EmptyDatasetError, ImageReadError
from .images import DEFAULT_MAX_BYTES, colourfulness, convert_channels, decode_image, resize
from .validation import inside

MAX_UPSCALE = 2.0
GREY_CHROMA = 2.0  # colourfulness() below this is a grey picture (stored as RGB or not)
_LISTED = 20


@dataclass
class Decoded:
    """What :func:`decode_files` returns.

    Attributes
    ----------
    images : np.ndarray
        uint8 (k, size, size, channels): in memory, or memory-mapped from the cache when large.
    kept : np.ndarray
        int64 (k,): the index in ``paths`` of each image.
    skipped : list of (file, reason)
        Files that could not be used, with the reason (never a quotation of their contents).
    converted : list of (file, what)
        Files whose colour was changed to fit the dataset (colour to grey, grey to colour).
    """

    images: np.ndarray
    kept: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)
    converted: list[tuple[str, str]] = field(default_factory=list)


def decode_file(
    path: Path,
    size: int,
    channels: int,
    *,
    root: Path | None = None,
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[np.ndarray, str | None]:
    """One file as uint8 (size, size, channels), and a note when its colour was changed.

    Raises
    ------
    ImageReadError
        Outside ``root`` (:class:`~xai_lab.data.errors.UnsafePathError`, not opened), not an
        image, truncated, too large to decode, or far smaller than ``size``.
    """
    name = name or path.name
    if root is not None:
        inside(root, path, name)
    decoded = decode_image(path, max_bytes=max_bytes, name=name, reduce_to=size)
    h, w = decoded.original_size
    if min(h, w) * MAX_UPSCALE < size:
        raise ImageReadError(
            f"{name!r} is {h} x {w} pixels, far smaller than the requested {size} x {size} "
            f"(it would be enlarged more than {MAX_UPSCALE:g} times): use a smaller size or "
            "the full-resolution file"
        )
    image = resize(decoded.pixels, size)
    note = None
    if image.shape[-1] == 3 and channels == 1:
        chroma = colourfulness(image)
        if chroma >= GREY_CHROMA:
            note = f"a colour image (mean chroma {chroma:.1f}) converted to grey"
        image = convert_channels(image, 1)
    elif image.shape[-1] == 1 and channels == 3:
        note = "a grey image: its one channel was copied to red, green and blue"
        image = convert_channels(image, 3)
    return image, note


def _listing(items: list[tuple[str, str]]) -> str:
    text = "\n".join(f"  - {f}: {r}" for f, r in items[:_LISTED])
    if len(items) > _LISTED:
        text += f"\n  ... and {len(items) - _LISTED} more"
    return text


def _decode_into(
    out: np.ndarray, paths: list[Path], size: int, channels: int, root: Path | None,
    label: Any, progress: bool,
) -> tuple[int, list[int], list[tuple[str, str]], list[tuple[str, str]]]:
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    converted: list[tuple[str, str]] = []
    iterator: Any = enumerate(paths)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, total=len(paths), desc="decoding images", leave=False, mininterval=1.0)
    j = 0
    for i, p in iterator:
        try:
            out[j], note = decode_file(p, size, channels, root=root, name=label(p))
        except ImageReadError as exc:
            skipped.append((label(p), str(exc)))
            continue
        if note:
            converted.append((label(p), note))
        kept.append(i)
        j += 1
    return j, kept, skipped, converted


def decode_files(
    paths: Sequence[Path],
    size: int,
    channels: int,
    *,
    on_error: str = "skip",
    cache_tag: str | None = None,
    root: Path | None = None,
    progress: bool = False,
) -> Decoded:
    """Decode image files to uint8 (N, size, size, channels); see the module docstring.

    Parameters
    ----------
    paths : sequence of Path
    size, channels : int
    on_error : ``"skip"`` or ``"raise"``
        Unusable files are skipped with one warning that names them all, or (after every file
        was tried) one :class:`ImageReadError` names them all.
    cache_tag : str, optional
        Keep the result in ``<cache>/decoded/<tag>-<key>.npy``, keyed by the file list with
        sizes and modification times, ``size`` and ``channels``.
    root : Path, optional
        The data folder: files are named relative to it, and files outside it are refused.

    Raises
    ------
    EmptyDatasetError
        Not one of the files could be used.
    ImageReadError
        ``on_error="raise"`` and some files could not be used.
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    paths = list(paths)

    def label(p: Path) -> str:
        try:
            return str(p.relative_to(root)) if root is not None else str(p)
        except ValueError:
            return str(p)

    shape = (len(paths), int(size), int(size), int(channels))
    result = None
    npy = meta_path = None
    if cache_tag is not None:
        key = store.file_key(paths, size, channels, str(root))
        npy = store.folder() / f"{cache_tag}-{key}.npy"
        meta_path = npy.with_suffix(".json")
        meta = store.read_json(meta_path)
        if meta is not None and meta.get("version") == store.FORMAT_VERSION:
            images = store.open_array(npy, tuple(meta["shape"]))
            if images is not None:
                result = Decoded(
                    images,
                    np.asarray(meta["kept"], dtype=np.int64),
                    [tuple(s) for s in meta["skipped"]],
                    [tuple(c) for c in meta["converted"]],
                )
    if result is None:
        result = _decode(paths, shape, root, label, npy, meta_path, progress)
    if result.skipped:
        listing = _listing(result.skipped)
        if len(result.kept) == 0:
            raise EmptyDatasetError(
                f"none of the {len(paths)} file(s) could be used:\n{listing}"
            )
        if on_error == "raise":
            raise ImageReadError(f"{len(result.skipped)} file(s) could not be read:\n{listing}")
        warnings.warn(
            f"skipped {len(result.skipped)} unreadable or unusable file(s):\n{listing}",
            UserWarning,
            stacklevel=3,
        )
    if result.converted:
        warnings.warn(
            f"changed the colour of {len(result.converted)} file(s) to fit the dataset's "
            f"{'grey' if channels == 1 else 'colour'} images:\n{_listing(result.converted)}",
            UserWarning,
            stacklevel=3,
        )
    return result


def _decode(
    paths: list[Path],
    shape: tuple[int, int, int, int],
    root: Path | None,
    label: Any,
    npy: Path | None,
    meta_path: Path | None,
    progress: bool,
) -> Decoded:
    size, channels = shape[1], shape[3]
    progress = progress and len(paths) > 0
    if npy is not None and meta_path is not None:
        try:
            with store.new_array(npy, shape) as out:
                n, kept, skipped, converted = _decode_into(out, paths, size, channels, root, label, progress)
                store.shrink(out, n)
            final_shape = (n,) + shape[1:]
            store.write_json(
                meta_path,
                {"version": store.FORMAT_VERSION, "shape": list(final_shape), "kept": kept,
                 "skipped": skipped, "converted": converted},
            )
            images = store.open_array(npy, final_shape)
            if images is not None:
                return Decoded(images, np.asarray(kept, dtype=np.int64), skipped, converted)
        except OSError:
            pass  # an unwritable cache (store.NotEnoughSpaceError included) is not used
    out = np.empty(shape, dtype=np.uint8)
    n, kept, skipped, converted = _decode_into(out, paths, size, channels, root, label, progress)
    if n < len(out):
        out.resize((n,) + shape[1:], refcheck=False)
    return Decoded(out, np.asarray(kept, dtype=np.int64), skipped, converted)
