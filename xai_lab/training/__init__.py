"""Training: ``fit``, callbacks, clinical metrics, temperature scaling, default recipes.

>>> from xai_lab import data, models, training
>>> train, val = data.load("pneumoniamnist", "train"), data.load("pneumoniamnist", "val")  # doctest: +SKIP
>>> model = models.build("cnn", train.images.shape[1:], train.n_classes)  # doctest: +SKIP
>>> result = training.fit(model, train, val, epochs=5, augment="auto", class_weight="balanced")  # doctest: +SKIP
>>> training.recipes.train_default("pneumoniamnist", "out/pneumonia")  # doctest: +SKIP

``metrics``, ``calibration`` and ``recipes`` import without TensorFlow; ``fit`` and the
callbacks load Keras when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import calibration, metrics, recipes

_LAZY = {
    "fit": "trainer",
    "FitResult": "trainer",
    "compile_model": "trainer",
    "set_seed": "trainer",
    "BestWeights": "callbacks",
    "TimeBudget": "callbacks",
    "ValidationMetrics": "callbacks",
}

__all__ = ["calibration", "metrics", "recipes", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
