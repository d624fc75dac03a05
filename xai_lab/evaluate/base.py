"""The Metric base class and helpers shared by every family of explanation metrics.

A metric is one class: settings in ``__init__``, data in one call,
``metric(model, explanation, images, masks=None) -> ndarray`` of one float64 score per
image, NaN where the score is undefined (an empty mask, a map with no ranking, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..explain.base import as_model_input
from ..explain.explanation import Explanation
from ..models.io import logits_from_outputs
from ..models.working_set import chunk_size


class Metric:
    """Base class of all explanation metrics.

    Subclasses set ``name`` and ``higher_is_better`` and implement :meth:`__call__`.
    ``needs_masks`` says whether the metric compares maps with ground-truth masks;
    ``needs_model_calls`` whether it runs the model (the runner uses both to plan a run).
    """

    name: ClassVar[str] = "metric"
    higher_is_better: ClassVar[bool] = True
    needs_masks: ClassVar[bool] = False
    #: The paper the metric comes from (numpy-style reference string).
    reference: ClassVar[str] = ""

    def __init__(self, **parameters: Any) -> None:
        self.parameters: dict[str, Any] = dict(parameters)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"{type(self).__name__}({args})"

    def __call__(
        self,
        model: Any,
        explanation: Explanation,
        images: Any = None,
        masks: Any = None,
    ) -> np.ndarray:
        raise NotImplementedError


# ------------------------------------------------------------------------------ checking
def check_explanation(explanation: Any) -> Explanation:
    if not isinstance(explanation, Explanation):
        raise TypeError(
            f"metrics take an xai_lab Explanation, got {type(explanation).__name__}; "
            "create one with xai_lab.explain.get(name).explain(model, images)"
        )
    return explanation


def model_images(explanation: Explanation, images: Any) -> np.ndarray:
    """The images as float32 model input, checked against the explanation.

    ``images=None`` uses ``explanation.inputs`` (the images as the explainer's model saw them).
    """
    if images is None:
        return explanation.inputs.astype(np.float32, copy=False)
    x = as_model_input(images)
    if len(x) != len(explanation):
        raise ValueError(
            f"{len(x)} images given for an explanation of {len(explanation)} images"
        )
    if x.shape[1:3] != explanation.maps.shape[1:]:
        raise ValueError(
            f"images of size {x.shape[1:3]} do not match the maps' size {explanation.maps.shape[1:]}"
        )
    return x


def check_masks(explanation: Explanation, masks: Any, metric: str) -> np.ndarray:
    """Ground-truth masks as bool (N, H, W) matching the maps, or a clear error."""
    if masks is None:
        raise ValueError(
            f"{metric} compares maps with ground-truth masks: pass masks=(N, H, W) booleans "
            "(phantom datasets from xai_lab.data.phantoms.make carry them as .masks)"
        )
    m = np.asarray(masks)
    if m.ndim == 4 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim == 2:
        m = m[None]
    if m.shape != explanation.maps.shape:
        raise ValueError(
            f"masks of shape {m.shape} do not match the maps' shape {explanation.maps.shape}"
        )
    if m.dtype != bool:
        values = np.unique(m)
        if not np.all(np.isin(values, (0, 1))):
            raise ValueError(f"masks must be boolean (or 0/1), got values {values[:5]}")
        m = m.astype(bool)
    return m


def finite_maps(explanation: Explanation) -> tuple[np.ndarray, np.ndarray]:
    """The maps as float64 and a per-image flag: True where the map is finite everywhere."""
    maps = explanation.maps.astype(np.float64)
    ok = np.isfinite(maps.reshape(len(maps), -1)).all(axis=1)
    return maps, ok


def is_constant(maps: np.ndarray) -> np.ndarray:
    """Per image: True where every value of the map is the same (the map ranks nothing)."""
    flat = maps.reshape(len(maps), -1)
    return flat.max(axis=1) == flat.min(axis=1)


# ------------------------------------------------------------------------------ model scores
def predict_logits(model: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's (N, n_classes) outputs (logits by the package's convention), float64.

    A call takes at most ``batch_size`` images, and fewer where the model's largest activation
    would exceed :data:`~xai_lab.models.working_set.WORKING_SET_BYTES` (a deletion curve on
    four 224x224 images, 204 perturbed images, peaks at 14 GiB without the split; see
    ``benchmarks/working_set.py``).
    """
    step = chunk_size(model, x.shape[1:], batch_size)
    outs = []
    for start in range(0, len(x), step):
        out = model(x[start : start + step], training=False)
        if isinstance(out, (list, tuple)):
            out = out[0]
        outs.append(logits_from_outputs(model, out).astype(np.float64))  # no softmax twice
    logits = np.concatenate(outs) if outs else np.zeros((0, 0))
    if logits.ndim != 2:
        raise ValueError(f"the model's output has shape {logits.shape}; metrics need (N, n_classes) logits")
    return logits


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def class_scores(
    model: Any,
    x: np.ndarray,
    targets: np.ndarray,
    score: str = "probability",
    batch_size: int = 256,
) -> np.ndarray:
    """The model's score for ``targets`` on ``x``: softmax probability or logit, float64."""
    if score not in ("probability", "logit"):
        raise ValueError(f"score must be 'probability' or 'logit', got {score!r}")
    logits = predict_logits(model, x, batch_size=batch_size)
    values = softmax(logits) if score == "probability" else logits
    return values[np.arange(len(x)), targets].astype(np.float64)


# ------------------------------------------------------------------------------ explainers
def explainer_for(explanation: Explanation, explainer: Any = None) -> Any:
    """The explainer that made ``explanation``: ``explainer`` if given, else rebuilt.

    The explainer is rebuilt from the registry as
    ``xai_lab.explain.get(explanation.method, **explanation.parameters)``. Settings that were
    not plain values (arrays, objects) are stored as their ``repr`` in the parameters and
    cannot be rebuilt: pass the explainer itself then.
    """
    if explainer is not None:
        if isinstance(explainer, str):
            from ..explain import get

            return get(explainer)
        return explainer
    from ..explain import get

    params = dict(explanation.parameters)
    lost = [k for k, v in params.items() if isinstance(v, str) and v.startswith("array(")]
    if lost:
        raise ValueError(
            f"the {explanation.method!r} explanation was made with array settings {lost} "
            "that are not stored with it; pass explainer=<the explainer> to the metric"
        )
    return get(explanation.method, **params)


def rng_for(seed: int | None) -> np.random.Generator:
    from .. import config

    return np.random.default_rng(config.seed() if seed is None else seed)
