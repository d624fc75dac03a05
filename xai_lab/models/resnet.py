"""``resnet``: a small residual network with BatchNorm (He et al., CVPR 2016).

Basic blocks Conv-BN-ReLU-Conv-BN + shortcut -> Add -> ReLU, with a 1x1 Conv-BN projection
when the shape changes. Only Conv2D, BatchNormalization, ReLU, Add, GlobalAveragePooling2D,
Dropout and Dense are used, so LRP / deep Taylor rules apply. The last convolution is named
``"last_conv"``; the block output after the final ReLU is ``"last_relu"`` (Grad-CAM layer).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from .heads import head as _head
from .registry import register


def _block(x, filters: int, stride: int, name: str, last: bool = False):
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, name="last_conv" if last else f"{name}_conv2"
    )(y)
    y = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn2")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_proj_bn")(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name="last_relu" if last else f"{name}_relu2")(y)


@register("resnet")
def build(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    filters: Sequence[int] = (32, 64, 128),
    blocks_per_stage: int = 1,
    dropout: float = 0.2,
    head: str = "softmax",
) -> keras.Model:
    """Stem Conv3x3-BN-ReLU, stages of basic blocks (stride 2 from the second), GAP, logits.

    Parameters
    ----------
    filters : sequence of int
        Channels of each stage.
    blocks_per_stage : int
        Basic blocks per stage.
    dropout : float
        Dropout before the output layer.
    head : {"softmax", "coral"}
        Output head (see :mod:`xai_lab.models.heads`).
    """
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Conv2D(int(filters[0]), 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    n_stages = len(filters)
    for s, f in enumerate(filters, start=1):
        for b in range(1, blocks_per_stage + 1):
            stride = 2 if (s > 1 and b == 1 and min(x.shape[1], x.shape[2]) >= 2) else 1
            last = s == n_stages and b == blocks_per_stage
            x = _block(x, int(f), stride, f"stage{s}_block{b}", last=last)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = _head(x, n_classes, head)
    return keras.Model(inputs, outputs, name="resnet")
