"""The model zoo: functional Keras 3 models that output logits.

>>> from xai_lab import models
>>> model = models.build("cnn", (28, 28, 1), 2)        # doctest: +SKIP
>>> proba = models.predict_proba(model, images)         # doctest: +SKIP
>>> models.save(model, "out/model.keras"); models.load("out/model.keras")  # doctest: +SKIP

Families: ``dnn``, ``cnn``, ``resnet``, ``rnn``, ``vit``, ``transfer`` (one module each).
Conventions: input float32 images in [0, 1] (N, H, W, C); output logits (N, n_classes),
binary tasks with two logits; ordinal models (``head="coral"``) output log class probabilities.
"""

from __future__ import annotations

from . import cnn, dnn, resnet, rnn, transfer, vit  # noqa: F401  (register the families)
from .heads import CoralHead
from .io import (
    IncompatibleDataError,
    ModelFileError,
    ModelOutputError,
    as_input,
    check_fits,
    load,
    logits_from_outputs,
    output_classes,
    outputs_probabilities,
    predict_logits,
    predict_proba,
    probabilities,
    save,
)
from .registry import available, build, register

__all__ = [
    "CoralHead",
    "IncompatibleDataError",
    "ModelFileError",
    "ModelOutputError",
    "as_input",
    "available",
    "build",
    "check_fits",
    "load",
    "logits_from_outputs",
    "output_classes",
    "outputs_probabilities",
    "predict_logits",
    "predict_proba",
    "probabilities",
    "register",
    "save",
]
