"""The result object every explainer returns (after shap's ``Explanation``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path

_ARRAYS = ("maps", "inputs", "targets", "predictions", "probabilities", "raw_maps", "attributions")
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Explanation:
    """Attribution maps for a batch of images, with everything needed to read them.

    Attributes
    ----------
    maps : ndarray, float32, shape (N, H, W)
        One relevance map per image at the input resolution (channels summed where the
        method attributes per channel). Larger means "more evidence for ``targets``".
    inputs : ndarray, float32, shape (N, H, W, C)
        The images as the model saw them (scaled to [0, 1]).
    targets : ndarray, int64, shape (N,)
        The class each map explains.
    predictions : ndarray, int64, shape (N,)
        The model's predicted class (argmax of its logits).
    probabilities : ndarray, float32, shape (N, K)
        Softmax of the model's logits.
    method : str
        Registry name of the explainer (``"gradcam"``, ``"deep_taylor"``, ...).
    parameters : dict
        The explainer's settings (JSON-serialisable).
    layer : str or None
        The layer explained (Grad-CAM's convolutional layer), where the method has one.
    seconds : float
        Wall time of the explanation (without the forward pass that gives the prediction,
        except for methods whose own forward pass gives it, such as LRP / deep Taylor).
    raw_maps : ndarray or None, shape (N, h, w)
        The map at its native resolution where it differs from the input's (Grad-CAM).
    attributions : ndarray or None, shape (N, H, W, C)
        Per-channel attributions where the method gives them (gradients, LRP, SHAP);
        ``maps`` is their sum over channels.

    Slicing keeps the batch dimension: ``e[3]`` is an Explanation of one image,
    ``e[:4]`` of four. ``len(e)`` is the number of images.
    """

    maps: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    predictions: np.ndarray
    probabilities: np.ndarray
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    layer: str | None = None
    seconds: float = 0.0
    raw_maps: np.ndarray | None = None
    attributions: np.ndarray | None = None

    def __post_init__(self) -> None:
        def cast(name: str, dtype: Any) -> None:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, np.asarray(value, dtype=dtype))

        for name in ("maps", "inputs", "probabilities", "raw_maps", "attributions"):
            cast(name, np.float32)
        for name in ("targets", "predictions"):
            cast(name, np.int64)
        n = len(self.maps)
        if self.maps.ndim != 3:
            raise ValueError(f"maps must be (N, H, W), got shape {self.maps.shape}")
        if self.inputs.ndim != 4 or len(self.inputs) != n:
            raise ValueError(
                f"inputs must be (N, H, W, C) with N={n}, got shape {self.inputs.shape}"
            )
        if self.maps.shape[1:] != self.inputs.shape[1:3]:
            raise ValueError(
                f"maps {self.maps.shape[1:]} must be at the input resolution {self.inputs.shape[1:3]}"
            )
        for name in ("targets", "predictions"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {getattr(self, name).shape}")
        if self.probabilities.ndim != 2 or len(self.probabilities) != n:
            raise ValueError(f"probabilities must be (N, K), got {self.probabilities.shape}")

    # ------------------------------------------------------------------ container protocol
    def __len__(self) -> int:
        return len(self.maps)

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> Explanation:
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= int(index) < n:
                raise IndexError(f"index {index} out of range for an Explanation of {n} images")
            index = slice(int(index) % n, int(index) % n + 1)
        kwargs = {
            name: (None if getattr(self, name) is None else getattr(self, name)[index])
            for name in _ARRAYS
        }
        return replace(self, **kwargs)

    def __repr__(self) -> str:
        layer = f", layer={self.layer!r}" if self.layer else ""
        return (
            f"Explanation(method={self.method!r}, n={len(self)}, shape={self.maps.shape[1:]}"
            f"{layer}, seconds={self.seconds:.3f})"
        )

    @property
    def n_classes(self) -> int:
        return int(self.probabilities.shape[1])

    @property
    def target_probabilities(self) -> np.ndarray:
        """Probability of the explained class for each image, shape (N,)."""
        return self.probabilities[np.arange(len(self)), self.targets]

    # ------------------------------------------------------------------ transformations
    def normalized(self, mode: str = "max_abs") -> Explanation:
        """Maps rescaled per image; an all-zero map stays zero (no NaN).

        Parameters
        ----------
        mode : {"max_abs", "minmax", "sum"}
            ``max_abs`` divides by the largest absolute value (sign kept, range [-1, 1]);
            ``minmax`` maps to [0, 1]; ``sum`` divides by the sum of absolute values.
        """
        m = self.maps.astype(np.float64)
        flat = m.reshape(len(m), -1)
        if mode == "max_abs":
            scale = np.abs(flat).max(axis=1)
            out = m / np.where(scale > 0, scale, 1.0)[:, None, None]
        elif mode == "minmax":
            lo, hi = flat.min(axis=1), flat.max(axis=1)
            span = hi - lo
            out = (m - lo[:, None, None]) / np.where(span > 0, span, 1.0)[:, None, None]
            out[span == 0] = 0.0
        elif mode == "sum":
            scale = np.abs(flat).sum(axis=1)
            out = m / np.where(scale > 0, scale, 1.0)[:, None, None]
        else:
            raise ValueError(f"unknown normalisation {mode!r}; choose max_abs, minmax or sum")
        return replace(self, maps=out.astype(np.float32))

    @classmethod
    def concatenate(cls, parts: list[Explanation]) -> Explanation:
        """Join explanations of the same method along the batch axis."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if p.method != first.method:
                raise ValueError(f"cannot join {first.method!r} with {p.method!r} explanations")
        kwargs = {}
        for name in _ARRAYS:
            values = [getattr(p, name) for p in parts]
            kwargs[name] = None if any(v is None for v in values) else np.concatenate(values)
        return replace(first, seconds=float(sum(p.seconds for p in parts)), **kwargs)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write to an ``.npz`` file atomically (a temporary file renamed into place)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        meta = {
            "format": _FORMAT_VERSION,
            "method": self.method,
            "parameters": self.parameters,
            "layer": self.layer,
            "seconds": self.seconds,
        }
        arrays = {name: getattr(self, name) for name in _ARRAYS if getattr(self, name) is not None}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.array(json.dumps(meta, default=str)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Explanation:
        """Read an Explanation written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {name: data[name] for name in _ARRAYS if name in data.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path} is not a readable Explanation file: {exc}") from exc
        if meta.get("format") != _FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported Explanation format {meta.get('format')!r}")
        return cls(
            method=meta["method"],
            parameters=meta.get("parameters", {}),
            layer=meta.get("layer"),
            seconds=float(meta.get("seconds", 0.0)),
            **arrays,
        )
