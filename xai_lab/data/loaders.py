"""Loading datasets: MedMNIST npz files, image folders (chest_xray) and CSV + images (HAM10000).

Where a MedMNIST file is looked for, in order:

1. ``data_dir`` (argument) or else ``XAI_LAB_DATA_DIR``: ``<dir>/medmnist/<file>`` then
   ``<dir>/<file>``, used as they are (read only, no checksum: they may be trimmed copies);
2. the download cache (``XAI_LAB_CACHE_DIR``, default ``~/.cache/xai_lab``):
   ``<cache>/medmnist/<file>``;
3. a download from Zenodo into the cache (progress bar, MD5 check, atomic rename), unless
   ``download=False`` or ``XAI_LAB_OFFLINE=1``.

``<file>`` is ``pneumoniamnist.npz`` for 28 x 28 and ``pneumoniamnist_64.npz`` etc. for the
other sizes. When nothing works, :class:`DatasetNotFoundError` names the file, every place
searched, the URL and the environment variable.
"""

from __future__ import annotations

import hashlib
import re
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from .._atomic import atomic_path
from .dataset import Dataset
from .download import download_file
from .errors import (
    CorruptFileError,
    DatasetNotFoundError,
    DownloadError,
    ImageReadError,
    SplitNotFoundError,
)
from .images import DEFAULT_MAX_BYTES, read_image, resize
from .info import get_info
from .splits import grouped_splits

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm")
_DECODED_VERSION = "1"


# --------------------------------------------------------------------------------------------
# locating MedMNIST files
# --------------------------------------------------------------------------------------------
def _medmnist_file(info: dict[str, Any], size: int) -> dict[str, str]:
    files = info["files"]
    if size not in files:
        raise ValueError(
            f"{info['name']} comes in sizes {sorted(files)}, not {size}; "
            "load a listed size and resize it (xai_lab.data.resize) if needed"
        )
    return files[size]


def _user_dir(data_dir: str | Path | None) -> tuple[Path | None, str]:
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir"
    env = config.data_dir()
    return env, "XAI_LAB_DATA_DIR"


def locate(
    name: str,
    size: int = 28,
    data_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> tuple[Path, str]:
    """Find (or download) a MedMNIST file; returns ``(path, origin)``.

    ``origin`` is ``"data_dir"``, ``"XAI_LAB_DATA_DIR"``, ``"cache"`` or ``"download"``.
    """
    info = get_info(name)
    if info["kind"] != "medmnist":
        raise ValueError(f"locate() is for MedMNIST files; {name!r} is a {info['kind']} dataset")
    entry = _medmnist_file(info, size)
    filename, url = entry["filename"], entry["url"]
    searched: list[str] = []
    user, origin = _user_dir(data_dir)
    if user is not None:
        for candidate in (user / "medmnist" / filename, user / filename):
            searched.append(str(candidate))
            if candidate.is_file():
                return candidate, origin
    else:
        searched.append("XAI_LAB_DATA_DIR (not set)")
    cached = config.cache_dir() / "medmnist" / filename
    searched.append(str(cached))
    if cached.is_file():
        return cached, "cache"
    reason = None
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
    )


# --------------------------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------------------------
def read_npz_split(
    path: str | Path, split: str, n_channels: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``{split}_images`` and ``{split}_labels`` from a MedMNIST-style npz file.

    Returns uint8 (N, H, W, C) images and int64 (N,) labels.

    Raises
    ------
    SplitNotFoundError
        The file has no such split (the message lists the splits it holds).
    CorruptFileError
        The file is truncated, not an npz, or its arrays are malformed.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            img_key, lab_key = f"{split}_images", f"{split}_labels"
            if img_key not in keys or lab_key not in keys:
                present = sorted(
                    {k.rsplit("_", 1)[0] for k in keys if k.endswith(("_images", "_labels"))}
                )
                raise SplitNotFoundError(
                    f"split {split!r} is not in {path}: it holds the splits {present} "
                    f"(keys {sorted(keys)}). The shared development copies hold no 'test' split "
                    "(held back for evaluation): select and report on 'val'."
                )
            images, labels = npz[img_key], npz[lab_key]
    except SplitNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise CorruptFileError(
            f"{path} is not a readable npz file ({type(exc).__name__}: {exc}); it may be a "
            "truncated or interrupted download: delete it and download it again"
        ) from exc
    if images.dtype != np.uint8:
        if (
            np.issubdtype(images.dtype, np.integer)
            and images.size
            and (images.min() < 0 or images.max() > 255)
        ):
            raise CorruptFileError(f"{path}: {img_key} values outside 0-255 (dtype {images.dtype})")
        images = images.astype(np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise CorruptFileError(
            f"{path}: {img_key} has shape {images.shape}, expected (N, H, W[, C])"
        )
    if n_channels is not None and images.shape[-1] != n_channels:
        raise CorruptFileError(
            f"{path}: {img_key} has {images.shape[-1]} channels, expected {n_channels}"
        )
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != len(images):
        raise CorruptFileError(
            f"{path}: {lab_key} has shape {labels.shape} for {len(images)} images "
            "(multi-label files are not supported)"
        )
    return images, labels.astype(np.int64)


def _load_medmnist(
    info: dict[str, Any], split: str, size: int, data_dir: Any, download: bool
) -> Dataset:
    path, origin = locate(info["name"], size, data_dir, download)
    images, labels = read_npz_split(path, split, info["n_channels"])
    if labels.size and (labels.min() < 0 or labels.max() >= info["n_classes"]):
        raise CorruptFileError(f"{path}: labels outside 0..{info['n_classes'] - 1}")
    return Dataset(images, labels, info, info["name"], split, str(path), origin=origin)


# --------------------------------------------------------------------------------------------
# image files: decoding many files, skipping or raising on bad ones, a decoded-array cache
# --------------------------------------------------------------------------------------------
def _decode_file(path: Path, size: int, channels: int) -> np.ndarray:
    """Decode one file to uint8 (size, size, channels); fast path with Pillow's JPEG draft."""
    if path.suffix.lower() in (".jpg", ".jpeg"):
        from PIL import Image

        try:
            with Image.open(path) as im:
                mode = "L" if channels == 1 else "RGB"
                if im.format == "JPEG" and im.mode in ("L", "RGB"):
                    im.draft(mode, (size, size))  # DCT-domain downscale: 4-8x faster decode
                    im.load()
                    im = im.convert(mode)
                    arr = np.asarray(im)
                    arr = arr[..., None] if arr.ndim == 2 else arr
                    return resize(arr, size)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
            pass  # fall through to read_image for a precise message
    image = read_image(path, max_bytes=DEFAULT_MAX_BYTES)
    return resize(image, size, channels=channels)


def _file_key(paths: Sequence[Path], *parts: Any) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    h.update(repr((_DECODED_VERSION,) + parts).encode())
    for p in paths:
        try:
            st = p.stat()
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()[:20]


def _cache_path(tag: str, key: str) -> Path:
    return config.cache_dir() / "decoded" / f"{tag}-{key}.npz"


def _read_decoded(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError):
        path.unlink(missing_ok=True)
        return None


def _write_decoded(path: Path, **arrays: np.ndarray) -> None:
    """Write atomically; a cache that cannot be written is silently not used."""
    try:
        with atomic_path(path, suffix=".part") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError:
        return


def decode_files(
    paths: Sequence[Path],
    size: int,
    channels: int,
    *,
    on_error: str = "skip",
    cache_tag: str | None = None,
    root: Path | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Decode image files to uint8 (N, size, size, channels).

    Returns ``(images, kept, skipped)``: ``kept`` the indices of ``paths`` that decoded,
    ``skipped`` a list of ``(file, reason)``. Every file is tried before any error is raised,
    so one bad file never stops the work halfway; with ``on_error="raise"`` an
    :class:`ImageReadError` then names every bad file.
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    paths = list(paths)

    def label(p: Path) -> str:
        try:
            return str(p.relative_to(root)) if root is not None else str(p)
        except ValueError:
            return str(p)

    cached = None
    cache_file = None
    if cache_tag is not None:
        cache_file = _cache_path(cache_tag, _file_key(paths, size, channels))
        cached = _read_decoded(cache_file)
    if cached is not None and {"images", "kept", "skipped_files", "skipped_reasons"} <= set(cached):
        images, kept = cached["images"], cached["kept"].astype(np.int64)
        skipped = list(
            zip(cached["skipped_files"].tolist(), cached["skipped_reasons"].tolist(), strict=True)
        )
    else:
        images = np.zeros((len(paths), size, size, channels), dtype=np.uint8)
        ok = np.zeros(len(paths), dtype=bool)
        skipped = []
        iterator: Any = enumerate(paths)
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(
                iterator, total=len(paths), desc="decoding images", leave=False, mininterval=1.0
            )
        for i, p in iterator:
            try:
                images[i] = _decode_file(p, size, channels)
                ok[i] = True
            except ImageReadError as exc:
                skipped.append((label(p), str(exc)))
        kept = np.flatnonzero(ok)
        images = images[kept]
        if cache_file is not None:
            _write_decoded(
                cache_file,
                images=images,
                kept=kept,
                skipped_files=np.array([s[0] for s in skipped], dtype=str),
                skipped_reasons=np.array([s[1] for s in skipped], dtype=str),
            )
    if skipped:
        listing = "\n".join(f"  - {f}: {r}" for f, r in skipped[:20])
        more = f"\n  ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        if on_error == "raise":
            raise ImageReadError(f"{len(skipped)} file(s) could not be read:\n{listing}{more}")
        warnings.warn(
            f"skipped {len(skipped)} unreadable file(s):\n{listing}{more}",
            UserWarning,
            stacklevel=3,
        )
    return images, kept, skipped


def _pick(
    indices_by_class: list[np.ndarray], per_class: int | None, limit: int | None, seed: int
) -> np.ndarray:
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


def list_image_folder(
    root: str | Path, class_names: Sequence[str] | None = None
) -> tuple[list[Path], np.ndarray, list[str]]:
    """The image files of a class-folder tree: ``(paths, labels, class_names)``, sorted.

    Files are selected by extension (PNG, JPEG, BMP, TIFF, DICOM); other files (README.txt,
    Thumbs.db) and hidden files are ignored. Nothing is decoded.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"image folder {root} does not exist", filename=str(root), searched=[str(root)]
        )
    if class_names is None:
        class_names = sorted(
            p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
    if not class_names:
        raise DatasetNotFoundError(
            f"{root} has no class sub-folders", filename=str(root), searched=[str(root)]
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
        files_by_class.append(
            sorted(
                p
                for p in folder.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
            )
        )
    paths = [p for files in files_by_class for p in files]
    labels = np.concatenate(
        [np.full(len(f), c, dtype=np.int64) for c, f in enumerate(files_by_class)]
    )
    return paths, labels, list(class_names)


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
        Images are resized to ``size x size`` and converted to 1 or 3 channels.
    class_names : sequence of str, optional
        Class folder names in label order (default: sorted sub-folder names).
    on_error : ``"skip"`` or ``"raise"``
        Unreadable files (truncated, corrupt, not an image) are skipped with one warning that
        names them, or raise one :class:`ImageReadError` naming them all.
    per_class, limit : int, optional
        Keep at most ``per_class`` files per class and ``limit`` in all (seeded random picks).
    cache : bool
        Keep the decoded arrays in the cache folder (keyed by the folder, the file list with
        sizes and modification times, the size and channels) so the next load is instant.
    select : callable, optional
        ``select(paths, labels) -> indices``: keep only these files of the listing (a split
        of the folder, e.g. chest_xray's patient-grouped train / val), before any decoding.
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
    chosen = _pick(
        [np.flatnonzero(labels == c) for c in range(len(class_names))], per_class, limit, seed
    )
    paths = [paths[i] for i in chosen]
    labels = labels[chosen]
    images, kept, _ = decode_files(
        paths,
        size,
        channels,
        on_error=on_error,
        root=root,
        cache_tag=name if cache else None,
        progress=len(paths) > 2000,
    )
    if info is None:
        info = {
            "name": name,
            "title": name,
            "kind": "image_folder",
            "task": "binary" if len(class_names) == 2 else "multiclass",
            "label_names": tuple(class_names),
            "n_classes": len(class_names),
            "n_channels": channels,
        }
    return Dataset(
        images,
        labels[kept],
        info,
        name,
        split,
        str(root),
        files=[str(paths[i].relative_to(root)) for i in kept],
    )


# --------------------------------------------------------------------------------------------
# chest_xray and ham10000
# --------------------------------------------------------------------------------------------
def _search_roots(data_dir: Any) -> tuple[list[Path], str]:
    user, origin = _user_dir(data_dir)
    roots = [user] if user is not None else []
    roots.append(config.cache_dir())
    return roots, origin


_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_"),  # person1234_bacteria_5678.jpeg, person1_virus_6.jpeg
    re.compile(r"^((?:NORMAL\d*-)?IM-\d+)-"),  # IM-0115-0001.jpeg, NORMAL2-IM-0383-0001-0002.jpeg
)


def chest_xray_patient(filename: str) -> str:
    """The patient id in a Kermany chest X-ray file name (the file's stem when it has none).

    ``person1234_bacteria_5678.jpeg`` -> ``person1234``; ``IM-0115-0001.jpeg`` -> ``IM-0115``;
    ``NORMAL2-IM-0383-0001-0002.jpeg`` -> ``NORMAL2-IM-0383`` (the normal images of the second
    collection have their own numbering).
    """
    name = Path(filename).name
    for pattern in _PATIENT_PATTERNS:
        match = pattern.match(name)
        if match:
            return match.group(1)
    return Path(name).stem


def chest_xray_split(paths: Sequence[Path | str], labels: Any, split: str) -> np.ndarray:
    """Indices of ``split`` (``train`` or ``val``) in a listing of the Kermany training folder.

    Grouped by patient (:func:`chest_xray_patient`) and stratified by class
    (:func:`~xai_lab.data.splits.grouped_splits`, ``INFO["chest_xray"]["val_fraction"]``,
    ``split_seed``): no patient has images on both sides, and the split is the same in
    every run.
    """
    from .info import INFO

    info = INFO["chest_xray"]
    groups = [chest_xray_patient(str(p)) for p in paths]
    parts = grouped_splits(labels, groups, {"val": info["val_fraction"]}, info["split_seed"])
    return parts[split]


def _load_chest_xray(
    info: dict[str, Any], split: str, size: int, data_dir: Any, **options: Any
) -> Dataset:
    """``train`` / ``val``: the Kermany training folder split by patient; ``test``: ``test/``."""
    if split not in ("train", "val", "test"):
        raise SplitNotFoundError(
            f"split {split!r} does not exist for chest_xray: choose 'train' or 'val' (a "
            "patient-grouped split of the Kermany training folder) or 'test' (its test folder)"
        )
    roots, _ = _search_roots(data_dir)
    folder = info["folder"]
    source = "test" if split == "test" else "train"
    select = None if split == "test" else (lambda p, y: chest_xray_split(p, y, split))
    searched = []
    for base in roots:
        for candidate in (base / folder / source, base / folder / folder / source, base / source):
            searched.append(str(candidate))
            if all((candidate / c).is_dir() for c in info["class_folders"]):
                ds = load_image_folder(
                    candidate,
                    size,
                    info["n_channels"],
                    class_names=info["class_folders"],
                    info=info,
                    name=info["name"],
                    split=split,
                    select=select,
                    **options,
                )
                ds.origin = "cache" if base == config.cache_dir() else _user_dir(data_dir)[1]
                return ds
    if config.data_dir() is None and data_dir is None:
        searched.insert(0, "XAI_LAB_DATA_DIR (not set)")
    looked = "\n".join(f"  - {s}" for s in searched)
    held = (
        " (the shared development copy holds no test folder: it is held back for evaluation; "
        "select and report on 'val')"
        if split == "test"
        else ""
    )
    raise DatasetNotFoundError(
        f"chest_xray split {split!r} needs the folder chest_xray/{source} with class folders "
        f"{list(info['class_folders'])}{held}; looked in:\n"
        f"{looked}\nIt is not downloaded automatically (it needs a Kaggle or Mendeley login). To get it: "
        f"download it from {info['url']} (or {info['mirror']}), unpack it so that "
        f"<folder>/chest_xray/{source}/NORMAL exists, and set XAI_LAB_DATA_DIR=<folder> "
        "(or pass data_dir=<folder>).",
        filename=f"chest_xray/{source}",
        searched=searched,
        url=info["url"],
    )


def _ham_root(info: dict[str, Any], data_dir: Any) -> Path:
    roots, _ = _search_roots(data_dir)
    searched = []
    for base in roots:
        for candidate in (base / info["folder"], base):
            searched.append(str(candidate / info["metadata_file"]))
            if (candidate / info["metadata_file"]).is_file():
                return candidate
    if config.data_dir() is None and data_dir is None:
        searched.insert(0, "XAI_LAB_DATA_DIR (not set)")
    looked = "\n".join(f"  - {s}" for s in searched)
    raise DatasetNotFoundError(
        f"HAM10000 metadata.csv not found; looked in:\n{looked}\nIt is not downloaded "
        f"automatically. To get it: download it from {info['url']}, put the images in "
        "<folder>/ham10000/images/ and the metadata as <folder>/ham10000/metadata.csv, and set "
        "XAI_LAB_DATA_DIR=<folder> (or pass data_dir=<folder>).",
        filename="ham10000/metadata.csv",
        searched=searched,
        url=info["url"],
    )


def ham10000_split(
    metadata: Any, fractions: dict[str, float] | None = None, seed: int | None = None
) -> dict[str, np.ndarray]:
    """The deterministic lesion-grouped, class-stratified split of a HAM10000 metadata table.

    Returns ``{"train": rows, "val": rows, "test": rows, "all": rows}`` (row positions in
    ``metadata``); fractions and seed default to ``INFO["ham10000"]`` (70 / 15 / 15, seed 0).
    No lesion (``lesion_id``) is on two sides (:func:`~xai_lab.data.splits.grouped_splits`).
    """
    from .info import HAM10000_CODES, INFO

    info = INFO["ham10000"]
    if fractions is None:
        fractions = {"val": info["val_fraction"], "test": info["test_fraction"]}
    seed = info["split_seed"] if seed is None else int(seed)
    codes = {c: i for i, c in enumerate(HAM10000_CODES)}
    labels = metadata["dx"].map(codes).to_numpy()
    parts = grouped_splits(labels, metadata["lesion_id"].astype(str).to_numpy(), fractions, seed)
    return {**parts, "all": np.arange(len(metadata))}


def _load_ham10000(
    info: dict[str, Any],
    split: str,
    size: int,
    data_dir: Any,
    *,
    on_error: str = "skip",
    per_class: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    cache: bool = True,
) -> Dataset:
    import pandas as pd

    root = _ham_root(info, data_dir)
    csv = root / info["metadata_file"]
    try:
        meta = pd.read_csv(csv)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CorruptFileError(f"{csv} cannot be read as CSV: {exc}") from exc
    required = {info["image_column"], info["group_column"], info["label_column"]}
    missing = required - set(meta.columns)
    if missing:
        raise CorruptFileError(
            f"{csv} lacks the column(s) {sorted(missing)} (has {list(meta.columns)})"
        )
    unknown = sorted(set(meta[info["label_column"]]) - set(info["label_codes"]))
    if unknown:
        raise CorruptFileError(
            f"{csv}: unknown dx code(s) {unknown}; expected {list(info['label_codes'])}"
        )
    splits = ham10000_split(meta)
    if split not in splits:
        held = 1 - info["val_fraction"] - info["test_fraction"]
        raise SplitNotFoundError(
            f"split {split!r} is not available for HAM10000 in {csv}: no official split is shipped; "
            f"load() offers {sorted(splits)} (a lesion-grouped, stratified "
            f"{held:.0%}/{info['val_fraction']:.0%}/{info['test_fraction']:.0%} "
            f"train/val/test split, seed {info['split_seed']})"
        )
    meta = meta.iloc[splits[split]].reset_index(drop=True)
    codes = {c: i for i, c in enumerate(info["label_codes"])}
    labels = meta[info["label_column"]].map(codes).to_numpy().astype(np.int64)
    chosen = _pick([np.flatnonzero(labels == c) for c in range(len(codes))], per_class, limit, seed)
    meta, labels = meta.iloc[chosen].reset_index(drop=True), labels[chosen]
    images_dir = root / info["images_folder"]
    paths = []
    for image_id in meta[info["image_column"]].astype(str):
        candidates = [images_dir / f"{image_id}{s}" for s in (".jpg", ".jpeg", ".png")] + [
            images_dir / image_id
        ]
        paths.append(next((c for c in candidates if c.is_file()), candidates[0]))
    images, kept, _ = decode_files(
        paths,
        size,
        info["n_channels"],
        on_error=on_error,
        root=root,
        cache_tag=f"ham10000-{split}" if cache else None,
        progress=len(paths) > 2000,
    )
    meta = meta.iloc[kept].reset_index(drop=True)
    origin = "cache" if root.is_relative_to(config.cache_dir()) else _user_dir(data_dir)[1]
    return Dataset(
        images,
        labels[kept],
        info,
        info["name"],
        split,
        str(root),
        metadata=meta,
        files=[str(paths[i].relative_to(root)) for i in kept],
        origin=origin,
    )


# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------
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
        MedMNIST: 28, 64, 128 or 224 (a different file each). Folder / CSV datasets are
        resized to ``size x size``. Default: the dataset's ``INFO[name]["default_size"]``
        (28 for MedMNIST, 128 for chest_xray and ham10000).
    data_dir : path, optional
        A folder holding the files as they are; default ``XAI_LAB_DATA_DIR``.
    download : bool
        MedMNIST only: download a missing file into the cache (never when ``XAI_LAB_OFFLINE=1``).
    **options
        Folder / CSV datasets: ``on_error="skip"|"raise"``, ``per_class``, ``limit``, ``seed``,
        ``cache`` (see :func:`load_image_folder`).

    Returns
    -------
    Dataset
        uint8 (N, H, W, C) images, int64 labels, the INFO row; ``source`` is the file or folder.

    Raises
    ------
    DatasetNotFoundError
        Nothing found and no download possible: the message says where it looked and how to get it.
    SplitNotFoundError
        The file lacks the split (e.g. ``test`` in the shared development copies).
    CorruptFileError
        A truncated or corrupt file.
    """
    info = get_info(name)
    split = str(split)
    size = int(info["default_size"] if size is None else size)
    if info["kind"] == "medmnist":
        if options:
            raise TypeError(f"unexpected options for a MedMNIST dataset: {sorted(options)}")
        return _load_medmnist(info, split, size, data_dir, download)
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    if info["kind"] == "image_folder":
        return _load_chest_xray(info, split, size, data_dir, **options)
    return _load_ham10000(info, split, size, data_dir, **options)


_ORIGIN_TEXT = {
    "data_dir": "the data folder given",
    "XAI_LAB_DATA_DIR": "XAI_LAB_DATA_DIR",
    "cache": "the local cache",
    "download": "a fresh download",
}


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
        where = _ORIGIN_TEXT.get(ds.origin, ds.origin)
        return ds, (
            f"{info['title']} {split}: {len(ds)} real images at {size}x{size} "
            f"from {where} ({ds.source})"
        )
    except (DatasetNotFoundError, SplitNotFoundError, CorruptFileError) as exc:
        lines = str(exc).splitlines()
        reason = " ".join(
            [lines[0].replace("; looked in:", " in the data folder or the cache")]
            + [line for line in lines if line.startswith("and did not")]
        )
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
