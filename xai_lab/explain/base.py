"""The Explainer base class and the registry of methods.

An explainer is one class per method: settings in ``__init__``, data in one verb,
``explain(model, images, target=None) -> Explanation``. Subclasses implement
:meth:`Explainer._explain` only; the base class prepares the images, computes the prediction,
resolves the targets, times the work and builds the :class:`Explanation`.

Register a new method with :func:`register`; the conformance suite in
``tests/conformance`` then checks it (batching, targets, determinism, never modifying the
user's model) without further work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import models
from .explanation import Explanation


class UnsupportedModelError(ValueError):
    """The explainer cannot handle this model (a layer it does not know, no conv layer, ...)."""


@dataclass
class MapResult:
    """What :meth:`Explainer._explain` returns: maps at input resolution and optional extras."""

    maps: np.ndarray
    raw_maps: np.ndarray | None = None
    attributions: np.ndarray | None = None
    layer: str | None = None


def as_model_input(images: Any) -> np.ndarray:
    """Images as a float32 (N, H, W, C) batch in [0, 1] (see :func:`xai_lab.models.as_input`).

    Besides what ``models.as_input`` accepts (uint8 divided by 255, grey (N, H, W) batches),
    one image (H, W, C) with 1, 3 or 4 channels gains the batch axis, and non-finite values
    are refused.
    """
    x = np.asarray(images)
    if x.ndim == 3 and x.shape[-1] in (1, 3, 4):
        x = x[None]
    elif x.ndim == 2:
        x = x[None]
    x = models.as_input(x)
    if not np.all(np.isfinite(x)):
        raise ValueError("images contain NaN or infinite values")
    return x


def check_image_model(model: Any) -> None:
    """Refuse, with :class:`UnsupportedModelError`, a model without one (N, H, W, C) image input
    (e.g. a graph network of :mod:`xai_lab.graphs`, whose explanations are per node)."""
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError, TypeError):  # not built / not a Keras model: other checks say why
        return
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        shapes = [tuple(t.shape) for t in inputs]
        raise UnsupportedModelError(
            f"the model takes {len(inputs)} input(s) of shapes {shapes}; pixel explainers need one "
            "(N, H, W, C) image input. A graph network of xai_lab.graphs is explained per node: "
            "graphs.get_explainer(name).explain(model, graphs)"
        )


def check_output(model: Any) -> int:
    """The number of classes of ``model``'s one (N, n_classes) output; a clear error otherwise."""
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise UnsupportedModelError(
            f"the model's outputs have shapes {[tuple(o.shape) for o in model.outputs]}; "
            "explainers need one (N, n_classes) output of scores (logits)"
        )
    return int(model.outputs[0].shape[-1])


def predict_logits(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's (N, n_classes) outputs, with a clear error for models that give other shapes.

    :func:`xai_lab.models.predict_logits` splits the batch by the working set
    (:func:`~xai_lab.models.working_set.chunk_size`), like the explainers' own passes.
    """
    check_output(model)
    return models.predict_logits(model, x)


def resolve_targets(target: Any, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``None`` -> the predicted classes; an int -> that class for all; a sequence -> one each."""
    n = len(predictions)
    if target is None:
        return predictions.astype(np.int64)
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.full(n, int(t))
    if t.shape != (n,):
        raise ValueError(f"target must be None, an int or one int per image ({n}), got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        if not np.all(np.mod(t, 1) == 0):
            raise ValueError(f"targets must be class indices, got {t}")
    t = t.astype(np.int64)
    bad = (t < 0) | (t >= n_classes)
    if bad.any():
        raise ValueError(f"target class {int(t[bad][0])} is outside 0..{n_classes - 1}")
    return t


class Explainer:
    """Base class of all explainers. Subclasses set ``name`` and implement ``_explain``."""

    name: ClassVar[str] = "explainer"
    #: True when the method's own forward pass gives the logits, so :meth:`explain` calls
    #: :meth:`_explain_predicting` instead of running the model once more for the prediction.
    predicts: ClassVar[bool] = False
    #: Short human description (used by widgets and reports).
    title: ClassVar[str] = ""
    #: The paper the method comes from (numpy-style reference string).
    reference: ClassVar[str] = ""

    def __init__(self, **parameters: Any) -> None:
        self.parameters: dict[str, Any] = dict(parameters)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"{type(self).__name__}({args})"

    def check_model(self, model: Any) -> None:
        """Raise :class:`UnsupportedModelError` when this method cannot explain ``model``."""

    def explain(self, model: Any, images: Any, target: Any = None) -> Explanation:
        """Explain ``model``'s decision for each image.

        Parameters
        ----------
        model : keras.Model
            A model whose output is (N, n_classes) logits. It is never modified.
        images : array-like
            (N, H, W, C) images, uint8 in [0, 255] or float in [0, 1]; one image (H, W, C) works too.
        target : None, int or sequence of int
            The class to explain: ``None`` for the predicted class, an int for every image,
            or one int per image.

        Returns
        -------
        Explanation
        """
        check_image_model(model)
        self.check_model(model)
        x = as_model_input(images)
        if self.predicts:
            n_classes = check_output(model)
            models.check_fits(model, image_shape=x.shape[1:])
            # -1 stands for "the predicted class" until the method's forward pass gives it
            requested = resolve_targets(target, np.full(len(x), -1, np.int64), n_classes)
            start = time.perf_counter()
            result, logits = self._explain_predicting(model, x, requested)
            seconds = time.perf_counter() - start
            predictions = logits.argmax(axis=1).astype(np.int64)
            targets = np.where(requested < 0, predictions, requested)
        else:
            logits = predict_logits(model, x)  # checks that the images fit the model's input
            predictions = logits.argmax(axis=1).astype(np.int64)
            targets = resolve_targets(target, predictions, logits.shape[1])
            start = time.perf_counter()
            result = self._explain(model, x, targets)
            seconds = time.perf_counter() - start
        probabilities = models.probabilities(logits)
        maps = np.asarray(result.maps, dtype=np.float32)
        return Explanation(
            maps=maps,
            inputs=x,
            targets=targets,
            predictions=predictions,
            probabilities=probabilities,
            method=self.name,
            parameters=_jsonable(self.parameters),
            layer=result.layer,
            seconds=seconds,
            raw_maps=result.raw_maps,
            attributions=result.attributions,
        )

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        raise NotImplementedError

    def _explain_predicting(self, model: Any, x: np.ndarray, targets: np.ndarray
                            ) -> tuple[MapResult, np.ndarray]:
        """Maps and the model's (N, n_classes) logits from one pass (when ``predicts``).

        ``targets`` holds a class per image, or -1 for "the class this pass predicts".
        """
        raise NotImplementedError


def _jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        if isinstance(value, np.ndarray):
            out[key] = f"array{value.shape}"
        elif isinstance(value, (str, int, float, bool, type(None))):
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(
            isinstance(v, (str, int, float, bool)) for v in value
        ):
            out[key] = list(value)
        else:
            out[key] = repr(value)
    return out


# ---------------------------------------------------------------------------------- registry
_REGISTRY: dict[str, tuple[type[Explainer], dict[str, Any]]] = {}


def register(name: str | None = None, **preset: Any):
    """Class decorator: make an explainer available as ``get(name)``.

    ``preset`` settings are passed to the constructor (``deep_taylor.bounded`` is the
    ``LRP`` class with the bounded first-layer rule). Settings given to :func:`get` win.
    """

    def decorator(cls: type[Explainer]) -> type[Explainer]:
        key = name or cls.name
        if key in _REGISTRY and _REGISTRY[key][0] is not cls:
            raise ValueError(f"an explainer named {key!r} is already registered")
        _REGISTRY[key] = (cls, dict(preset))
        return cls

    return decorator


def get(name: str, **settings: Any) -> Explainer:
    """An explainer by registry name, with ``settings`` passed to its constructor."""
    from . import methods  # noqa: F401  (imports every method module, which registers it)

    if name not in _REGISTRY:
        raise KeyError(f"unknown explainer {name!r}; available: {', '.join(available())}")
    cls, preset = _REGISTRY[name]
    explainer = cls(**{**preset, **settings})
    explainer.name = name  # the registry name, so presets report themselves
    return explainer


def available() -> list[str]:
    """Names of all registered explainers."""
    from . import methods  # noqa: F401

    return sorted(_REGISTRY)
