"""Image folders with one sub-folder per class (``root/<class>/*.png|jpg|dcm``).

Listing never opens a file; decoding goes through :func:`~xai_lab.data.decode.decode_files`
(files outside the folder refused, unreadable ones skipped by name, the result cached). What
is refused before any decoding: a class folder with no image files, and a requested size
above the resolution of the source images (:func:`check_resolution`: enlarging every image
adds no information and hides the mistake).
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset
from .decode import decode_files
from .errors import DatasetNotFoundError, EmptyDatasetError, FolderLayoutError, ResolutionError
from .validation import inside

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm")
RESOLUTION_SAMPLE = 32


def _visible_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_class_files(folder: Path) -> list[Path]:
    """The image files of one class folder (by extension; hidden files ignored), sorted."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def _empty_class(folder: Path) -> EmptyDatasetError:
    return EmptyDatasetError(
        f"class folder {folder} holds no image files (PNG, JPEG, BMP, TIFF or DICOM): put the "
        "class's images in it, or remove the folder if the class is not part of the data"
    )


def list_image_folder(
    root: str | Path, class_names: Sequence[str] | None = None
) -> tuple[list[Path], np.ndarray, list[str]]:
    """The image files of a class-folder tree: ``(paths, labels, class_names)``, sorted.

    Files are selected by extension (PNG, JPEG, BMP, TIFF, DICOM); other files (README.txt,
    Thumbs.db) and hidden files are ignored. Nothing is opened.

    Raises
    ------
    DatasetNotFoundError
        ``root`` or a named class folder does not exist, or ``root`` has no class folders.
    EmptyDatasetError
        A class folder holds no image files.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"image folder {root} does not exist", filename=str(root), searched=[str(root)]
        )
    if class_names is None:
        class_names = _visible_dirs(root)
    if not class_names:
        raise DatasetNotFoundError(
            f"{root} has no class sub-folders: put each class's images in a sub-folder named "
            "after the class (e.g. NORMAL/ and PNEUMONIA/)",
            filename=str(root),
            searched=[str(root)],
        )
    files_by_class = []
    for cls in class_names:
        folder = root / cls
        if not folder.is_dir():
            raise DatasetNotFoundError(
                f"class folder {folder} is missing (expected class folders {list(class_names)} in {root})",
                filename=str(folder),
                searched=[str(folder)],
            )
        files = list_class_files(folder)
        if not files:
            raise _empty_class(folder)
        files_by_class.append(files)
    paths = [p for files in files_by_class for p in files]
    labels = np.concatenate(
        [np.full(len(f), c, dtype=np.int64) for c, f in enumerate(files_by_class)]
    )
    return paths, labels, list(class_names)


def source_resolution(paths: Sequence[Path], root: Path | None = None, sample: int = RESOLUTION_SAMPLE) -> int | None:
    """The median shorter side of up to ``sample`` files spread over ``paths`` (headers only).

    Files that cannot be opened, or lie outside ``root``, are left out (decoding reports
    them); None when none could be measured.
    """
    from PIL import Image, UnidentifiedImageError

    if not paths:
        return None
    picks = sorted({int(i) for i in np.linspace(0, len(paths) - 1, min(sample, len(paths)))})
    sides = []
    for i in picks:
        p = paths[i]
        if p.suffix.lower() == ".dcm":
            continue
        try:
            if root is not None:
                inside(root, p)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(p) as im:
                    sides.append(min(im.size))
        except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError):
            continue
    return int(statistics.median(sides)) if sides else None


def check_resolution(paths: Sequence[Path], size: int, what: str, root: Path | None = None) -> None:
    """Raise :class:`ResolutionError` when ``size`` is above the source images' resolution."""
    side = source_resolution(paths, root)
    if side is not None and size > side:
        raise ResolutionError(
            f"{what}: the images are {side} pixels on their shorter side (median of up to "
            f"{RESOLUTION_SAMPLE} files); size={size} would only enlarge them. Choose size <= "
            f"{side}, or point the loader at a copy of higher resolution (e.g. the original "
            "release)."
        )


def pick(
    indices_by_class: list[np.ndarray], per_class: int | None, limit: int | None, seed: int
) -> np.ndarray:
    """Seeded random picks: at most ``per_class`` of each class, then ``limit`` in all."""
    rng = np.random.default_rng(seed)
    chosen = []
    for idx in indices_by_class:
        if per_class is not None and len(idx) > per_class:
            idx = np.sort(rng.choice(idx, per_class, replace=False))
        chosen.append(idx)
    out = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    if limit is not None and len(out) > limit:
        out = np.sort(rng.choice(out, limit, replace=False))
    return out.astype(np.int64)


def _folder_info(name: str, class_names: Sequence[str], channels: int) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "kind": "image_folder",
        "task": "binary" if len(class_names) == 2 else "multiclass",
        "label_names": tuple(class_names),
        "n_classes": len(class_names),
        "n_channels": channels,
    }


def _decode_dataset(
    root: Path,
    paths: list[Path],
    labels: np.ndarray,
    size: int,
    channels: int,
    *,
    info: dict[str, Any],
    name: str,
    split: str,
    on_error: str,
    cache: bool,
    origin: str = "",
) -> Dataset:
    decoded = decode_files(
        paths,
        size,
        channels,
        on_error=on_error,
        root=root,
        cache_tag=name if cache else None,
        progress=len(paths) > 2000,
    )
    return Dataset(
        decoded.images,
        labels[decoded.kept],
        info,
        name,
        split,
        str(root),
        files=[str(paths[i].relative_to(root)) for i in decoded.kept],
        origin=origin,
        skipped=list(decoded.skipped),
    )


def load_image_folder(
    root: str | Path,
    size: int = 28,
    channels: int = 3,
    *,
    class_names: Sequence[str] | None = None,
    on_error: str = "skip",
    per_class: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    cache: bool = True,
    info: dict[str, Any] | None = None,
    name: str = "image_folder",
    split: str = "train",
    select: Callable[[list[Path], np.ndarray], np.ndarray] | None = None,
) -> Dataset:
    """Load an image folder with one sub-folder per class (``root/<class>/*.png|jpg|dcm``).

    Parameters
    ----------
    root : path
        The folder holding the class folders.
    size, channels : int
        Images are resized to ``size x size`` and converted to 1 or 3 channels (named in a
        warning when a colour image goes grey or a grey one colour).
    class_names : sequence of str, optional
        Class folder names in label order (default: sorted sub-folder names).
    on_error : ``"skip"`` or ``"raise"``
        Unusable files (truncated, corrupt, not an image, far smaller than ``size``, outside
        ``root`` through a symlink) are skipped with one warning that names them, or raise one
        :class:`ImageReadError` naming them all. Skipped files are in ``Dataset.skipped``.
    per_class, limit : int, optional
        Keep at most ``per_class`` files per class and ``limit`` in all (seeded random picks).
    cache : bool
        Keep the decoded arrays in the cache folder (keyed by the folder, the file list with
        sizes and modification times, the size and channels) so the next load is instant;
        large ones come back memory-mapped from there.
    select : callable, optional
        ``select(paths, labels) -> indices``: keep only these files of the listing (a split
        of the folder, e.g. chest_xray's patient-grouped train / val), before any decoding.

    Raises
    ------
    DatasetNotFoundError, EmptyDatasetError
        Missing folders; a class folder without images; nothing readable.
    ResolutionError
        ``size`` is above the resolution of the images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"image folder {root} does not exist", filename=str(root), searched=[str(root)]
        )
    paths, labels, class_names = list_image_folder(root, class_names)
    if select is not None:
        keep = np.asarray(select(paths, labels), dtype=np.int64)
        paths, labels = [paths[i] for i in keep], labels[keep]
    chosen = pick(
        [np.flatnonzero(labels == c) for c in range(len(class_names))], per_class, limit, seed
    )
    paths = [paths[i] for i in chosen]
    labels = labels[chosen]
    check_resolution(paths, size, f"{name} in {root}", root)
    return _decode_dataset(
        root, paths, labels, size, channels,
        info=info if info is not None else _folder_info(name, class_names, channels),
        name=name, split=split, on_error=on_error, cache=cache,
    )


def match_class_folders(
    root: str | Path, label_names: Sequence[str], aliases: dict[int, Sequence[str]] | None = None
) -> dict[int, str]:
    """Match the sub-folders of ``root`` to classes, case-insensitively: ``{label: folder}``.

    A folder matches class ``k`` when its name equals ``label_names[k]`` or one of
    ``aliases[k]`` (e.g. a dataset's short codes) ignoring case: the Kermany layout
    ``NORMAL/``, ``PNEUMONIA/`` matches classes ``normal``, ``pneumonia``. Classes without a
    folder are left out.

    Raises
    ------
    DatasetNotFoundError
        ``root`` is not a folder or has no sub-folders.
    FolderLayoutError
        A sub-folder matches no class, or two sub-folders match one class.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"image folder {root} does not exist", filename=str(root), searched=[str(root)]
        )
    folders = _visible_dirs(root)
    if not folders:
        raise DatasetNotFoundError(
            f"{root} has no class sub-folders: put each class's images in a sub-folder named "
            f"after the class ({', '.join(label_names)})",
            filename=str(root),
            searched=[str(root)],
        )
    names: dict[str, int] = {}
    for k, label in enumerate(label_names):
        for alias in [label, *((aliases or {}).get(k, ()))]:
            names.setdefault(str(alias).casefold(), k)
    matched: dict[int, str] = {}
    unmatched = []
    for folder in folders:
        k = names.get(folder.casefold())
        if k is None:
            unmatched.append(folder)
        elif k in matched:
            raise FolderLayoutError(
                f"{root}: the sub-folders {matched[k]!r} and {folder!r} both name the class "
                f"{label_names[k]!r}: merge them"
            )
        else:
            matched[k] = folder
    if unmatched:
        expected = ", ".join(repr(n) for n in label_names)
        raise FolderLayoutError(
            f"{root}: the sub-folder(s) {', '.join(repr(u) for u in unmatched)} match none of the "
            f"model's classes ({expected}; case is ignored): rename or remove them"
        )
    return dict(sorted(matched.items()))


def load_labelled_folder(
    root: str | Path,
    label_names: Sequence[str],
    size: int,
    channels: int,
    *,
    aliases: dict[int, Sequence[str]] | None = None,
    info: dict[str, Any] | None = None,
    on_error: str = "skip",
    cache: bool = False,
) -> Dataset:
    """A class-folder tree labelled with given class names (e.g. a model's), matched by
    :func:`match_class_folders`; for evaluating a model on a folder of one's own images.

    Every image is resized to ``size`` and converted to ``channels``; unreadable files are
    skipped and listed in ``Dataset.skipped`` (and a warning). No check of the source
    resolution: the images are whatever the user has, resized to the model's input.

    Raises
    ------
    FolderLayoutError
        Sub-folders that match no class (see :func:`match_class_folders`).
    EmptyDatasetError
        A matched class folder holds no image files, or none could be read.
    """
    root = Path(root)
    matched = match_class_folders(root, label_names, aliases)
    paths: list[Path] = []
    labels: list[int] = []
    for k, folder in matched.items():
        files = list_class_files(root / folder)
        if not files:
            raise _empty_class(root / folder)
        paths += files
        labels += [k] * len(files)
    if info is None:
        info = _folder_info(root.name, label_names, channels)
    return _decode_dataset(
        root, paths, np.asarray(labels, dtype=np.int64), size, channels,
        info=info, name=str(info.get("name", root.name)), split=root.name,
        on_error=on_error, cache=cache,
    )
