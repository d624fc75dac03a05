"""Does quantisation change the explanation? The deployed model's maps against the float model's.

:func:`explain_both` explains the same images with one model-agnostic explainer (occlusion,
SHAP partition) on the Keras model and on its exported :class:`~xai_lab.edge.TFLiteModel`,
for the *same* classes (the Keras model's predictions, unless ``target`` is given), and
:func:`compare_explanations` measures per image how far apart the two maps are:

- ``rank_correlation``: Spearman rank correlation of the two maps (signed by default: a
  region that flips from evidence for to evidence against counts), as in the sanity checks
  of Adebayo et al. (2018) (:func:`xai_lab.evaluate.map_similarity`);
- ``top_k_iou``: intersection over union of the deployed map's top-``fraction`` region with
  the float map's top-``fraction`` region (each: the pixels at or above the
  ``ceil(fraction * H * W)``-th highest value, ties included, as
  :class:`xai_lab.evaluate.TopKIoU` defines the region);
- ``same_prediction``: whether both models predict the same class.

Both scores are NaN where a map is constant (it ranks nothing) or not finite.

References
----------
Adebayo, J., Gilmer, J., Muelly, M., Goodfellow, I., Hardt, M. & Kim, B. (2018). Sanity checks
for saliency maps. NeurIPS. https://arxiv.org/abs/1810.03292
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evaluate import TopKIoU, map_similarity
from ..evaluate.base import is_constant
from ..explain import Explanation


@dataclass
class MapAgreement:
    """Per-image agreement of two explanations of the same images (see the module docstring).

    Attributes
    ----------
    method : str
    rank_correlation, top_k_iou : np.ndarray
        float64 (N,), NaN where undefined.
    same_prediction : np.ndarray
        bool (N,).
    fraction : float
        The top region's share of the image.
    absolute : bool
        Whether ``|map|`` was compared.
    """

    method: str
    rank_correlation: np.ndarray
    top_k_iou: np.ndarray
    same_prediction: np.ndarray
    fraction: float
    absolute: bool

    def __len__(self) -> int:
        return len(self.rank_correlation)

    def summary(self) -> dict[str, Any]:
        """Medians (and the 10th percentile) over the images where each score is defined."""

        def stat(values: np.ndarray, q: float) -> float:
            ok = values[np.isfinite(values)]
            return float(np.percentile(ok, q)) if len(ok) else float("nan")

        return {
            "method": self.method,
            "n": len(self),
            "rank_correlation_median": stat(self.rank_correlation, 50),
            "rank_correlation_p10": stat(self.rank_correlation, 10),
            "top_k_iou_median": stat(self.top_k_iou, 50),
            "top_k_iou_p10": stat(self.top_k_iou, 10),
            "fraction": self.fraction,
            "same_prediction": float(np.mean(self.same_prediction)) if len(self) else float("nan"),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"MapAgreement({s['method']!r}, n={s['n']}: rank correlation median "
            f"{s['rank_correlation_median']:.3f}, top-{100 * self.fraction:.0f}% IoU median "
            f"{s['top_k_iou_median']:.3f}, same prediction {100 * s['same_prediction']:.0f}%)"
        )


def top_region(maps: np.ndarray, fraction: float, absolute: bool = False) -> np.ndarray:
    """bool (N, H, W): each map's top-``fraction`` pixels (ties at the threshold included)."""
    m = np.abs(maps) if absolute else np.asarray(maps, dtype=np.float64)
    flat = m.reshape(len(m), -1)
    k = max(1, int(np.ceil(fraction * flat.shape[1])))
    threshold = -np.sort(-flat, axis=1)[:, k - 1 : k]
    return (flat >= threshold).reshape(m.shape)


def compare_explanations(
    reference: Explanation, other: Explanation, fraction: float = 0.1, absolute: bool = False
) -> MapAgreement:
    """How far ``other``'s maps are from ``reference``'s (same images, same targets).

    Parameters
    ----------
    reference : Explanation
        Maps of the float (Keras) model.
    other : Explanation
        Maps of the deployed model, same method, images and targets.
    fraction : float
        Share of the image in the top region of the top-k IoU, in (0, 1].
    absolute : bool
        Compare ``|map|`` instead of the signed maps.
    """
    if not isinstance(reference, Explanation) or not isinstance(other, Explanation):
        raise TypeError("compare_explanations takes two xai_lab Explanations")
    if reference.maps.shape != other.maps.shape:
        raise ValueError(f"maps of shape {reference.maps.shape} and {other.maps.shape} cannot be compared")
    if reference.method != other.method:
        raise ValueError(f"explanations by different methods ({reference.method!r}, {other.method!r})")
    if not np.array_equal(reference.targets, other.targets):
        raise ValueError(
            "the explanations explain different classes: explain the deployed model with "
            "target=reference.targets (explain_both does)"
        )
    if np.max(np.abs(reference.inputs - other.inputs), initial=0.0) > 1.0 / 255:
        raise ValueError("the explanations are of different images")
    rank = map_similarity(reference.maps, other.maps, "spearman", absolute=absolute)
    region = top_region(reference.maps, fraction, absolute)
    iou = TopKIoU(fraction=fraction, absolute=absolute)(None, other, masks=region)
    # the reference's region is a top region only where its map ranks something
    ref_maps = np.abs(reference.maps) if absolute else reference.maps
    iou = np.where(is_constant(ref_maps.astype(np.float64)), np.nan, iou)
    return MapAgreement(
        method=reference.method,
        rank_correlation=rank,
        top_k_iou=iou,
        same_prediction=reference.predictions == other.predictions,
        fraction=float(fraction),
        absolute=bool(absolute),
    )


def explain_both(
    explainer: Any,
    model: Any,
    deployed: Any,
    images: Any,
    target: Any = None,
    fraction: float = 0.1,
    absolute: bool = False,
) -> tuple[Explanation, Explanation, MapAgreement]:
    """Explain ``images`` on ``model`` and on ``deployed`` for the same classes, and compare.

    Parameters
    ----------
    explainer : Explainer or str
        A model-agnostic explainer (or its registry name), e.g. ``"occlusion"``.
    model : keras.Model
        The float model.
    deployed : TFLiteModel
        Its exported version.
    target : None, int or sequence of int
        Classes to explain; ``None``: the float model's predictions (for both models).

    Returns
    -------
    (Explanation, Explanation, MapAgreement)
        The float model's explanation, the deployed model's, and their agreement.
    """
    from .. import explain

    method = explain.get(explainer) if isinstance(explainer, str) else explainer
    reference = method.explain(model, images, target)
    other = method.explain(deployed, images, reference.targets)
    return reference, other, compare_explanations(reference, other, fraction, absolute)
