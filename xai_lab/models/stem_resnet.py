"""``stem_resnet``: a residual network with a strided stem, for 96-224 px images on a CPU.

At 128 px the 28 px families spend most of their time on full-resolution convolutions. Here a
strided stem shrinks the image first (a 5x5 convolution with stride 2 and a 3x3 max pooling with
stride 2: 128 -> 32 px, the stem of He et al., CVPR 2016, with a smaller kernel), then stages of
residual blocks halve the resolution from the second stage on. With the default three stages
a 128 px image ends on an 8 x 8 feature map; ``stem_pool=False`` keeps twice that (16 x 16 at
128 px) for finer Grad-CAM maps at about twice the cost.

Blocks are either ``"basic"`` (Conv3x3-BN-ReLU-Conv3x3-BN + shortcut -> Add -> ReLU) or
``"bottleneck"`` (Conv1x1-BN-ReLU-Conv3x3-BN-ReLU-Conv1x1-BN + shortcut, the 1x1 convolutions
reducing the width by ``bottleneck_ratio``), both post-activation as in He et al. (2016), with a
1x1 Conv-BN projection on the shortcut when the shape changes. Every convolution is followed by
its BatchNorm, so LRP folds each BatchNorm into its convolution; only Conv2D (strided too),
BatchNormalization, ReLU, MaxPooling2D, Add, GlobalAveragePooling2D, Dropout and Dense are used,
so every explainer in the registry applies. The last convolution is named ``"last_conv"`` and
the final block's output ReLU ``"last_relu"`` (Grad-CAM's default layer), as in the other
families.

References
----------
He, K., Zhang, X., Ren, S., Sun, J. (2016). Deep residual learning for image recognition.
CVPR 2016, 770-778. doi:10.1109/CVPR.2016.90
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from .heads import head as _head
from .registry import register

BLOCKS = ("basic", "bottleneck")
_BN_MOMENTUM = 0.9


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True, conv_name: str | None = None):
    x = keras.layers.Conv2D(
        int(filters), kernel, strides=stride, padding="same", use_bias=False, name=conv_name or f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _shortcut(x, filters: int, stride: int, name: str):
    if stride == 1 and x.shape[-1] == filters:
        return x
    return _conv_bn(x, filters, 1, stride, f"{name}_proj", relu=False)


def _basic(x, filters: int, stride: int, name: str, last: bool):
    y = _conv_bn(x, filters, 3, stride, f"{name}_a")
    y = _conv_bn(y, filters, 3, 1, f"{name}_b", relu=False, conv_name="last_conv" if last else None)
    y = keras.layers.Add(name=f"{name}_add")([y, _shortcut(x, filters, stride, name)])
    return keras.layers.ReLU(name="last_relu" if last else f"{name}_out")(y)


def _bottleneck(x, filters: int, stride: int, name: str, last: bool, ratio: int):
    inner = max(int(filters) // int(ratio), 1)
    y = _conv_bn(x, inner, 1, 1, f"{name}_a")
    y = _conv_bn(y, inner, 3, stride, f"{name}_b")
    y = _conv_bn(y, filters, 1, 1, f"{name}_c", relu=False, conv_name="last_conv" if last else None)
    y = keras.layers.Add(name=f"{name}_add")([y, _shortcut(x, filters, stride, name)])
    return keras.layers.ReLU(name="last_relu" if last else f"{name}_out")(y)


@register("stem_resnet")
def build(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    stem_filters: int = 24,
    stem_kernel: int = 5,
    stem_pool: bool = True,
    filters: Sequence[int] = (32, 64, 128),
    blocks: int | Sequence[int] = 1,
    block: str = "basic",
    bottleneck_ratio: int = 4,
    dropout: float = 0.2,
    head: str = "softmax",
) -> keras.Model:
    """Strided stem, stages of residual blocks (stride 2 from the second stage), GAP, logits.

    Parameters
    ----------
    stem_filters : int
        Channels of the stem convolution.
    stem_kernel : int
        Kernel size of the stem convolution (stride 2).
    stem_pool : bool
        A 3x3 max pooling with stride 2 after the stem convolution (total stem stride 4).
    filters : sequence of int
        Output channels of each stage.
    blocks : int or sequence of int
        Residual blocks per stage (one number for every stage, or one per stage).
    block : {"basic", "bottleneck"}
        Block type (see the module docstring).
    bottleneck_ratio : int
        Width reduction inside a bottleneck block.
    dropout : float
        Dropout before the output layer.
    head : {"softmax", "coral"}
        Output head (see :mod:`xai_lab.models.heads`).
    """
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
    filters = [int(f) for f in filters]
    if not filters:
        raise ValueError("filters must name at least one stage")
    per_stage = [int(blocks)] * len(filters) if isinstance(blocks, int) else [int(b) for b in blocks]
    if len(per_stage) != len(filters) or min(per_stage) < 1:
        raise ValueError(f"blocks must be a positive int or one positive int per stage, got {blocks!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _conv_bn(inputs, stem_filters, int(stem_kernel), 2, "stem")
    if stem_pool and min(x.shape[1], x.shape[2]) >= 2:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for s, (f, n) in enumerate(zip(filters, per_stage, strict=True), start=1):
        for b in range(1, n + 1):
            stride = 2 if (s > 1 and b == 1 and min(x.shape[1], x.shape[2]) >= 2) else 1
            last = s == len(filters) and b == n
            name = f"stage{s}_block{b}"
            if block == "basic":
                x = _basic(x, f, stride, name, last)
            else:
                x = _bottleneck(x, f, stride, name, last, bottleneck_ratio)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = _head(x, n_classes, head)
    return keras.Model(inputs, outputs, name="stem_resnet")
