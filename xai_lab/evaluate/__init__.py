"""Evaluating explanations: faithfulness, localisation, randomisation and robustness.

Each metric is a class with ``name``, ``higher_is_better``, settings in ``__init__`` and
``metric(model, explanation, images, masks=None) -> ndarray`` of one float64 score per image,
NaN where the score is undefined. :func:`run` evaluates models x explainers x metrics on a
dataset and returns a tidy table.

>>> from xai_lab import evaluate, explain
>>> e = explain.get("gradcam").explain(model, images)                    # doctest: +SKIP
>>> evaluate.Deletion(n_steps=20)(model, e, images)                      # doctest: +SKIP
>>> evaluate.RelevanceMassAccuracy()(model, e, images, masks=ds.masks)   # doctest: +SKIP
"""

from .base import Metric
from .faithfulness import Deletion, Insertion
from .localisation import PointingGame, RelevanceMassAccuracy, RelevanceRankAccuracy, TopKIoU
from .randomisation import (
    LabelRandomisation,
    ModelParameterRandomisation,
    RandomisationResult,
    map_similarity,
    spearman,
    ssim,
)
from .robustness import MaxSensitivity
from .runner import default_metrics, figures, layer_frame, run, summary

__all__ = [
    "Deletion",
    "Insertion",
    "LabelRandomisation",
    "MaxSensitivity",
    "Metric",
    "ModelParameterRandomisation",
    "PointingGame",
    "RandomisationResult",
    "RelevanceMassAccuracy",
    "RelevanceRankAccuracy",
    "TopKIoU",
    "default_metrics",
    "figures",
    "layer_frame",
    "map_similarity",
    "run",
    "spearman",
    "ssim",
    "summary",
]
