"""The :class:`Dataset` container every loader and the phantom generator return."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass
class Dataset:
    """Images, labels and what is known about them.

    Attributes
    ----------
    images : np.ndarray
        uint8, always 4-D (N, H, W, C); grey images have C = 1.
    labels : np.ndarray
        int64, shape (N,): class index (for ordinal tasks the grade).
    info : dict
        The dataset's row of :data:`xai_lab.data.INFO` (or the phantom task's row).
    name, split : str
        Dataset name (``"pneumoniamnist"``, ``"phantom-pneumonia"``, ...) and split.
    source : str
        Where the data came from: a file or folder path, or ``"phantom"``.
    masks : np.ndarray or None
        bool (N, H, W) ground-truth masks of the pixels that define the class (phantoms).
    metadata : pandas.DataFrame or None
        One row per image (e.g. HAM10000 clinical columns, phantom parameters).
    shortcut_masks : np.ndarray or None
        bool (N, H, W) location of a planted shortcut marker (phantoms with ``shortcut=True``).
    files : list of str or None
        For folder / CSV datasets, the file of each image (relative to ``source``).
    origin : str
        How the data was found: ``"data_dir"``, ``"XAI_LAB_DATA_DIR"``, ``"cache"``,
        ``"download"`` or ``"phantom"``.
    skipped : list of (file, reason) or None
        For folder / CSV datasets, the files that could not be used, with the reason.

    ``images`` may be memory-mapped from the local cache (``numpy.memmap``, copy-on-write)
    when the loader found them larger than :data:`~xai_lab.data.budget.IN_MEMORY_BYTES`; it
    behaves as any array, and :func:`~xai_lab.data.make_tf_dataset` streams it from disk.
    """

    images: np.ndarray
    labels: np.ndarray
    info: dict[str, Any]
    name: str
    split: str
    source: str
    masks: np.ndarray | None = None
    metadata: Any = None
    shortcut_masks: np.ndarray | None = None
    files: list[str] | None = field(default=None, repr=False)
    origin: str = ""
    skipped: list[tuple[str, str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        if images.dtype != np.uint8:
            raise TypeError(f"Dataset.images must be uint8, got {images.dtype}")
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4:
            raise ValueError(f"Dataset.images must be (N, H, W, C), got shape {images.shape}")
        labels = np.asarray(self.labels).reshape(-1).astype(np.int64, copy=False)
        if len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels
        for attr in ("masks", "shortcut_masks"):
            value = getattr(self, attr)
            if value is not None:
                value = np.asarray(value, dtype=bool)
                if value.shape != images.shape[:3]:
                    raise ValueError(
                        f"Dataset.{attr} must be {images.shape[:3]}, got {value.shape}"
                    )
                setattr(self, attr, value)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        counts = np.bincount(self.labels, minlength=self.n_classes) if len(self) else []
        extras = "".join(
            f", {k}"
            for k in ("masks", "metadata", "shortcut_masks")
            if getattr(self, k) is not None
        )
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, images={self.images.shape}, "
            f"class_counts={list(map(int, counts))}, source={self.source!r}{extras})"
        )

    def x(self) -> np.ndarray:
        """Images as float32 in [0, 1], (N, H, W, C): the model input convention."""
        return self.images.astype(np.float32) / np.float32(255.0)

    def subset(self, indices: Any) -> Dataset:
        """A new Dataset holding the given indices (int array, slice or bool mask), in order."""
        if not isinstance(indices, slice):
            indices = np.asarray(indices)
        idx = np.atleast_1d(np.arange(len(self))[indices])
        metadata = self.metadata
        if metadata is not None and hasattr(metadata, "iloc"):
            metadata = metadata.iloc[idx].reset_index(drop=True)
        return replace(
            self,
            images=self.images[idx],
            labels=self.labels[idx],
            masks=None if self.masks is None else self.masks[idx],
            shortcut_masks=None if self.shortcut_masks is None else self.shortcut_masks[idx],
            metadata=metadata,
            files=None if self.files is None else [self.files[i] for i in idx],
        )

    @property
    def label_names(self) -> list[str]:
        return list(self.info["label_names"])

    @property
    def n_classes(self) -> int:
        return len(self.info["label_names"])

    @property
    def task(self) -> str:
        """``"binary"``, ``"multiclass"`` or ``"ordinal"``."""
        return str(self.info["task"])

    @property
    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.n_classes)
