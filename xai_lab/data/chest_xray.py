"""The Kermany chest X-ray folders (``chest_xray/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg``).

``train`` and ``val`` are a patient-grouped, class-stratified split of the training folder
(no patient on both sides, the same in every run); ``test`` is the ``test/`` folder when the
copy has one (the public release does; the shared development copy holds it back).

References
----------
Kermany, D. S. et al. (2018). Identifying medical diagnoses and treatable diseases by
image-based deep learning. *Cell* 172(5), 1122-1131. doi:10.1016/j.cell.2018.02.010
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset
from .errors import DatasetNotFoundError, SplitNotFoundError
from .folders import load_image_folder
from .locations import not_set_note, origin_of, search_roots
from .splits import grouped_splits

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


def load_chest_xray(
    info: dict[str, Any], split: str, size: int, data_dir: Any, **options: Any
) -> Dataset:
    """``train`` / ``val``: the Kermany training folder split by patient; ``test``: ``test/``."""
    if split not in ("train", "val", "test"):
        raise SplitNotFoundError(
            f"split {split!r} does not exist for chest_xray: choose 'train' or 'val' (a "
            "patient-grouped split of the Kermany training folder) or 'test' (its test folder)"
        )
    roots, _ = search_roots(data_dir)
    folder = info["folder"]
    source = "test" if split == "test" else "train"
    select = None if split == "test" else (lambda p, y: chest_xray_split(p, y, split))
    searched = not_set_note(data_dir)
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
                ds.origin = origin_of(base, data_dir)
                return ds
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
