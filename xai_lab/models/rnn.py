"""``rnn``: the image read as a sequence of rows by a GRU or LSTM.

Each of the H rows (W * C values) is one time step, as in the row-by-row MNIST RNNs of
Le, Jaitly & Hinton ("A simple way to initialize recurrent networks of rectified linear
units", 2015). ``bidirectional=True`` reads the rows top-down and bottom-up (Schuster &
Paliwal, IEEE TSP 1997).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from .heads import head as _head
from .registry import register


@register("rnn")
def build(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    cell: str = "gru",
    units: int = 64,
    bidirectional: bool = True,
    dropout: float = 0.2,
    head: str = "softmax",
) -> keras.Model:
    """Reshape (H, W, C) -> (H, W*C) -> [Bidirectional] GRU/LSTM -> Dropout -> logits.

    Parameters
    ----------
    cell : {"gru", "lstm"}
        Recurrent cell.
    units : int
        Hidden units per direction.
    bidirectional : bool
        Read the rows in both directions.
    dropout : float
        Dropout before the output layer.
    head : {"softmax", "coral"}
        Output head (see :mod:`xai_lab.models.heads`).
    """
    h, w, c = (int(d) for d in input_shape)
    cells = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
    if cell not in cells:
        raise ValueError(f"cell must be one of {sorted(cells)}, got {cell!r}")
    inputs = keras.Input(shape=(h, w, c), name="image")
    x = keras.layers.Reshape((h, w * c), name="rows")(inputs)
    recurrent = cells[cell](int(units), name=cell)
    if bidirectional:
        recurrent = keras.layers.Bidirectional(recurrent, name=f"bi_{cell}")
    x = recurrent(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = _head(x, n_classes, head)
    return keras.Model(inputs, outputs, name="rnn")
