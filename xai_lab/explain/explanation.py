"""The result object every explainer returns (after shap's ``Explanation``)."""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from .info import MethodInfo, fill, generic

_ARRAYS = ("maps", "inputs", "targets", "predictions", "probabilities", "raw_maps", "attributions",
           "degenerate")
_REQUIRED = ("maps", "inputs", "targets", "predictions", "probabilities")
#: Version 2 added the method's display record (``info``) and the per-image ``degenerate`` notes.
_FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)


class ExplanationFileError(ValueError):
    """A file is not a readable Explanation (empty, truncated, malformed, or missing parts)."""


def degenerate_code(heatmap: np.ndarray) -> str:
    """``"nonfinite"``, ``"zero"``, ``"constant"`` or ``""`` (a map that can be shown)."""
    m = np.asarray(heatmap)
    if m.size == 0:
        return ""
    if not np.all(np.isfinite(m)):
        return "nonfinite"
    hi, lo = float(m.max()), float(m.min())
    if hi == 0.0 and lo == 0.0:
        return "zero"
    if hi - lo <= 1e-6 * max(abs(hi), abs(lo)):
        return "constant"
    return ""


def generic_reason(code: str, heatmap: np.ndarray, title: str) -> str:
    """The sentence for a degenerate map that no method-specific reason refines."""
    m = np.asarray(heatmap)
    if code == "nonfinite":
        bad = int((~np.isfinite(m)).sum())
        return f"{title} holds NaN or infinite values ({bad} of {m.size} pixels): it cannot be shown"
    if code == "zero":
        return f"{title} is zero everywhere: it shows no evidence for {{target}}"
    if code == "constant":
        return (f"{title} has the same value ({float(m.flat[0]):.3g}) everywhere: "
                "it singles out no region")
    return ""


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
    info : MethodInfo or None
        The method's display name and the meaning of its maps (from the registry; see
        :mod:`xai_lab.explain.info`). ``title``, ``signed`` and ``meaning`` read it.
    degenerate : ndarray of str, shape (N,)
        Per image, why its map cannot be read ("" when it can): all zero, constant, or
        holding NaN / infinite values, in a sentence where ``{target}`` stands for the
        explained class (:meth:`note` fills it in). Computed from ``maps`` when not given;
        explainers give method-specific reasons (Grad-CAM: no positive evidence at the layer;
        deep Taylor: the class score is not positive).

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
    info: MethodInfo | None = None
    degenerate: np.ndarray | None = None

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
        k = self.probabilities.shape[1]
        for name in ("targets", "predictions"):
            values = getattr(self, name)
            if n and (values.min() < 0 or values.max() >= k):
                raise ValueError(f"{name} must be classes in 0..{k - 1}, got {values.min()}..{values.max()}")
        if self.raw_maps is not None and (self.raw_maps.ndim != 3 or len(self.raw_maps) != n):
            raise ValueError(f"raw_maps must be (N, h, w) with N={n}, got {self.raw_maps.shape}")
        if self.attributions is not None and (
            self.attributions.ndim != 4 or self.attributions.shape[:3] != self.inputs.shape[:3]
        ):
            raise ValueError(
                f"attributions must be (N, H, W, C) like the inputs {self.inputs.shape[:3]}, "
                f"got {self.attributions.shape}"
            )
        if self.info is not None and not isinstance(self.info, MethodInfo):
            raise TypeError(f"info must be a MethodInfo, got {type(self.info).__name__}")
        if self.degenerate is None:
            notes = [generic_reason(degenerate_code(m), m, self.title) for m in self.maps]
            object.__setattr__(self, "degenerate", np.array(notes, dtype=str).reshape(n))
        else:
            notes = np.asarray(self.degenerate)
            if notes.shape != (n,) or not (notes.dtype.kind == "U" or (n == 0 and notes.dtype.kind == "f")):
                raise ValueError(f"degenerate must be {n} strings, got {notes.dtype} {notes.shape}")
            object.__setattr__(self, "degenerate", notes.astype(str))

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

    # ------------------------------------------------------------------ what the maps mean
    @property
    def method_info(self) -> MethodInfo:
        """``info``, or a generic record for explanations made without one."""
        if self.info is not None:
            return self.info
        return generic(self.method, bool(np.any(self.maps < 0)))

    @property
    def title(self) -> str:
        """The method's display name (``"Grad-CAM"``), the registry name when it has none."""
        return self.info.title if self.info is not None else self.method

    @property
    def signed(self) -> bool:
        """True when negative values mean evidence against the class (a diverging scale)."""
        return self.method_info.signed

    @property
    def meaning(self) -> str:
        """One line: what a value of the map says (for "the explained class")."""
        return fill(self.method_info.meaning, layer=self.layer)

    def describe(self, index: int = 0, label_names: Any = None) -> str:
        """The meaning for image ``index``, naming its explained class."""
        return fill(self.method_info.meaning, self.target_name(index, label_names), self.layer)

    def target_name(self, index: int = 0, label_names: Any = None) -> str:
        """The explained class of image ``index`` as ``'name'`` (quoted) or ``class k``."""
        t = int(self.targets[index])
        if label_names is not None and 0 <= t < len(label_names):
            return f"'{label_names[t]}'"
        return f"class {t}"

    @property
    def flagged(self) -> np.ndarray:
        """Per image, True when its map is degenerate (see ``degenerate``)."""
        return np.char.str_len(self.degenerate) > 0

    def note(self, index: int = 0, label_names: Any = None) -> str:
        """Why map ``index`` cannot be read, naming the class ("" when it can be read)."""
        return fill(str(self.degenerate[index]), self.target_name(index, label_names), self.layer)

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
            if p.maps.shape[1:] != first.maps.shape[1:] or p.n_classes != first.n_classes:
                raise ValueError("cannot join explanations of different image sizes or class counts")
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
            "info": None if self.info is None else self.info.to_dict(),
        }
        arrays = {name: getattr(self, name) for name in _ARRAYS if getattr(self, name) is not None}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.array(json.dumps(meta, default=str)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Explanation:
        """Read an Explanation written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            There is no file at ``path``.
        ExplanationFileError
            The file is empty, truncated, not an npz archive, or lacks or garbles a part
            (the metadata, an array, an array's shape); the message names the file.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no Explanation file at {str(path)!r}")

        def bad(problem: str) -> ExplanationFileError:
            return ExplanationFileError(
                f"{str(path)!r} is not a readable Explanation file: {problem}; write it again "
                "with Explanation.save"
            )

        if path.is_dir():
            raise bad("it is a folder")
        if not zipfile.is_zipfile(path):
            size = path.stat().st_size
            raise bad("the file is empty" if size == 0 else
                      f"it is not an npz (zip) archive ({size} bytes; truncated or another format)")
        try:
            with np.load(path, allow_pickle=False) as data:
                names = set(data.files)
                if "meta" not in names:
                    raise bad("it has no 'meta' entry")
                meta_array = data["meta"]
                if (not isinstance(meta_array, np.ndarray) or meta_array.shape != ()
                        or meta_array.dtype.kind != "U"):
                    raise bad("its 'meta' entry is not a JSON string")
                meta = json.loads(str(meta_array))
                missing = [name for name in _REQUIRED if name not in names]
                if missing:
                    raise bad(f"it lacks the array(s) {', '.join(missing)}")
                arrays = {name: data[name] for name in _ARRAYS if name in names}
                for name, value in arrays.items():
                    if not isinstance(value, np.ndarray):  # numpy returns other members as bytes
                        raise bad(f"its {name!r} entry is not a numpy array")
        except ExplanationFileError:
            raise
        except json.JSONDecodeError as exc:
            raise bad(f"its metadata is not valid JSON ({exc})") from exc
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error,
                UnicodeDecodeError, NotImplementedError) as exc:
            raise bad(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(meta, dict):
            raise bad("its metadata is not a JSON object")
        if meta.get("format") not in _READABLE_VERSIONS:
            raise bad(f"unsupported format {meta.get('format')!r} (this version reads "
                      f"{', '.join(map(str, _READABLE_VERSIONS))})")
        method, layer = meta.get("method"), meta.get("layer")
        parameters, seconds = meta.get("parameters", {}), meta.get("seconds", 0.0)
        if not isinstance(method, str) or not method:
            raise bad("its metadata names no method")
        if layer is not None and not isinstance(layer, str):
            raise bad("its metadata's layer is not a string")
        if not isinstance(parameters, dict):
            raise bad("its metadata's parameters are not a JSON object")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
            raise bad("its metadata's seconds is not a finite number")
        try:
            info = None if meta.get("info") is None else MethodInfo.from_dict(meta["info"])
        except ValueError as exc:
            raise bad(str(exc)) from exc
        for name, value in arrays.items():
            kind = {"degenerate": "U", "targets": "iu", "predictions": "iu"}.get(name, "biuf")
            if value.dtype.kind not in kind and not (name == "degenerate" and value.size == 0):
                raise bad(f"array {name!r} has dtype {value.dtype}")
        try:
            return cls(
                method=method,
                parameters=parameters,
                layer=layer,
                seconds=float(seconds),
                info=info,
                **arrays,
            )
        except (ValueError, TypeError) as exc:
            raise bad(str(exc)) from exc
