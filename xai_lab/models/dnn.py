"""``dnn``: a dense (multi-layer perceptron) baseline on the flattened image."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from .heads import head as _head
from .registry import register


@register("dnn")
def build(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    units: Sequence[int] = (256, 128),
    dropout: float = 0.3,
    head: str = "softmax",
) -> keras.Model:
    """Flatten -> [Dense(relu) -> Dropout] * len(units) -> logits.

    Parameters
    ----------
    units : sequence of int
        Width of each hidden layer.
    dropout : float
        Dropout rate after each hidden layer (0 disables it).
    head : {"softmax", "coral"}
        Output head (see :mod:`xai_lab.models.heads`).
    """
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, width in enumerate(units, start=1):
        x = keras.layers.Dense(int(width), activation="relu", name=f"dense{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = _head(x, n_classes, head)
    return keras.Model(inputs, outputs, name="dnn")
