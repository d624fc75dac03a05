"""``cnn``: the default small convolutional network.

Only layers that LRP / deep Taylor rules know are used (Conv2D, BatchNormalization, ReLU,
MaxPooling2D, GlobalAveragePooling2D, Dense, Dropout), so every explainer can run on it.
Each convolution is followed by BatchNorm and then the ReLU (Ioffe & Szegedy, ICML 2015,
normalise the pre-activation): so LRP folds every BatchNorm into its convolution and each
layer sees non-negative inputs, the domain the deep Taylor z+ rule is derived for. The last
convolution is named ``"last_conv"`` and its activation ``"last_relu"`` (the layer Grad-CAM
explains by default).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from .heads import head as _head
from .registry import register


@register("cnn")
def build(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    filters: Sequence[int] = (32, 64, 128),
    convs_per_block: int = 2,
    batchnorm: bool = True,
    bn_momentum: float = 0.9,
    dense: int = 128,
    dropout: float = 0.3,
    pool: str = "gap",
    head: str = "softmax",
) -> keras.Model:
    """Blocks of [Conv2D(3x3) -> BatchNorm -> ReLU] * convs_per_block -> MaxPool, then a head.

    Parameters
    ----------
    filters : sequence of int
        Channels of each block; each block but the last halves the resolution.
    convs_per_block : int
        Convolutions per block.
    batchnorm : bool
        BatchNormalization after each convolution.
    bn_momentum : float
        Momentum of the BatchNorm moving statistics (0.9 suits short trainings).
    dense : int
        Width of the hidden Dense layer before the logits (0: none).
    dropout : float
        Dropout before the hidden and output Dense layers.
    pool : {"gap", "flatten"}
        How the last feature map becomes a vector.
    head : {"softmax", "coral"}
        Output head (see :mod:`xai_lab.models.heads`).
    """
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    n_blocks = len(filters)
    for b, f in enumerate(filters, start=1):
        for c in range(1, convs_per_block + 1):
            last = b == n_blocks and c == convs_per_block
            name = "last_conv" if last else f"conv{b}_{c}"
            x = keras.layers.Conv2D(int(f), 3, padding="same", use_bias=not batchnorm, name=name)(x)
            if batchnorm:
                x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"bn{b}_{c}")(x)
            x = keras.layers.ReLU(name="last_relu" if last else f"relu{b}_{c}")(x)
        if b < n_blocks and min(x.shape[1], x.shape[2]) >= 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool{b}")(x)
    if pool == "gap":
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    elif pool == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        raise ValueError(f"pool must be 'gap' or 'flatten', got {pool!r}")
    if dense:
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout1")(x)
        x = keras.layers.Dense(int(dense), activation="relu", name="dense")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = _head(x, n_classes, head)
    return keras.Model(inputs, outputs, name="cnn")
