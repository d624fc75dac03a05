"""HAM10000: dermoscopy images with a metadata table (``metadata.csv`` + ``images/``).

No official split is shipped: :func:`ham10000_split` makes a deterministic lesion-grouped,
class-stratified 70/15/15 train/val/test split (several images may show one lesion; a lesion
is on one side only). Image ids come from the table: each must name a file inside the data
folder (an id with ``..``, an absolute path, or a symlink out of the folder is refused without
being read).

References
----------
Tschandl, P., Rosendahl, C., Kittler, H. (2018). The HAM10000 dataset, a large collection of
multi-source dermatoscopic images of common pigmented skin lesions. *Scientific Data* 5,
180161. doi:10.1038/sdata.2018.161
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset
from .decode import decode_files
from .errors import (
    CorruptFileError,
    DatasetNotFoundError,
    EmptyDatasetError,
    SplitNotFoundError,
    UnsafePathError,
)
from .folders import check_resolution, pick
from .locations import not_set_note, origin_of, search_roots
from .splits import grouped_splits
from .validation import inside

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def ham_root(info: dict[str, Any], data_dir: Any) -> tuple[Path, Path]:
    """``(folder holding metadata.csv, the search root it was found under)``."""
    roots, _ = search_roots(data_dir)
    searched = not_set_note(data_dir)
    for base in roots:
        for candidate in (base / info["folder"], base):
            searched.append(str(candidate / info["metadata_file"]))
            if (candidate / info["metadata_file"]).is_file():
                return candidate, base
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


def read_metadata(csv: Path, info: dict[str, Any]) -> Any:
    """The metadata table, checked: readable, the needed columns, known codes, lesion ids,
    at least one row."""
    import pandas as pd

    try:
        meta = pd.read_csv(csv)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CorruptFileError(
            f"{csv} cannot be read as CSV ({type(exc).__name__}): check that it is the "
            "HAM10000 metadata table (comma-separated, with a header line)"
        ) from exc
    required = {info["image_column"], info["group_column"], info["label_column"]}
    missing = required - set(meta.columns)
    if missing:
        raise CorruptFileError(
            f"{csv} lacks the column(s) {sorted(missing)} (has {list(map(str, meta.columns))})"
        )
    if len(meta) == 0:
        raise EmptyDatasetError(f"{csv} has a header but no rows: it lists no images")
    unknown = sorted({str(v) for v in meta[info["label_column"]]} - set(info["label_codes"]))
    if unknown:
        raise CorruptFileError(
            f"{csv}: unknown {info['label_column']} code(s) {unknown}; expected "
            f"{list(info['label_codes'])}"
        )
    no_group = meta[info["group_column"]].isna() | meta[info["image_column"]].isna()
    if no_group.any():
        rows = (np.flatnonzero(no_group.to_numpy()) + 2).tolist()  # +2: header, 1-based
        raise CorruptFileError(
            f"{csv}: {int(no_group.sum())} row(s) lack an {info['image_column']} or a "
            f"{info['group_column']} (lines {rows[:10]}{' ...' if len(rows) > 10 else ''}): "
            "fill them (a lesion seen once may use its image id as lesion id) or remove them"
        )
    return meta


def _image_path(images_dir: Path, image_id: str, root: Path) -> Path:
    """The file of an image id: ``<id>.jpg|.jpeg|.png`` or ``<id>`` itself in ``images_dir``.

    An id that leads outside ``root`` is returned as it is, unexamined: decoding refuses it.
    """
    plain = images_dir / image_id
    try:
        inside(root, plain)
    except UnsafePathError:
        return plain
    candidates = [images_dir / f"{image_id}{s}" for s in IMAGE_EXTENSIONS] + [plain]
    return next((c for c in candidates if c.is_file()), candidates[0])


def load_ham10000(
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
    """A split of HAM10000 (see the module docstring); options as for ``load_image_folder``."""
    root, base = ham_root(info, data_dir)
    csv = root / info["metadata_file"]
    meta = read_metadata(csv, info)
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
    if len(meta) == 0:
        raise EmptyDatasetError(
            f"split {split!r} of {csv} holds no images: the table has too few lesions "
            f"({len(splits['all'])} rows) to fill it; use 'all' or a larger table"
        )
    codes = {c: i for i, c in enumerate(info["label_codes"])}
    labels = meta[info["label_column"]].astype(str).map(codes).to_numpy().astype(np.int64)
    chosen = pick([np.flatnonzero(labels == c) for c in range(len(codes))], per_class, limit, seed)
    meta, labels = meta.iloc[chosen].reset_index(drop=True), labels[chosen]
    images_dir = root / info["images_folder"]
    paths = [_image_path(images_dir, i, root) for i in meta[info["image_column"]].astype(str)]
    check_resolution(paths, size, f"HAM10000 in {images_dir}", root)
    decoded = decode_files(
        paths,
        size,
        info["n_channels"],
        on_error=on_error,
        root=root,
        cache_tag=f"ham10000-{split}" if cache else None,
        progress=len(paths) > 2000,
    )
    meta = meta.iloc[decoded.kept].reset_index(drop=True)
    return Dataset(
        decoded.images,
        labels[decoded.kept],
        info,
        info["name"],
        split,
        str(root),
        metadata=meta,
        files=[str(paths[i].relative_to(root)) for i in decoded.kept],
        origin=origin_of(base, data_dir),
        skipped=list(decoded.skipped),
    )
