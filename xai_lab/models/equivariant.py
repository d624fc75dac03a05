"""``p4cnn``: rotation-equivariant group convolutions (Cohen & Welling, ICML 2016).

A dermoscopy or fundus photograph has no canonical orientation: a lesion rotated by 90 degrees
is the same lesion. A plain CNN must learn that from (augmented) data; a group-equivariant CNN
has it by construction. Its feature maps are functions on the group p4 of translations and
rotations by multiples of 90 degrees: every filter is applied in its four rotated versions.

Layout of a p4 feature map
--------------------------
A p4 feature map is a plain 4-D Keras tensor ``(N, H, W, C * 4)``: channel ``c * 4 + r`` holds
filter ``c`` at rotation ``r`` (rotation fastest). Rotating the input image by 90 degrees
counter-clockwise (``numpy.rot90(x, 1, axes=(1, 2))``) rotates every map the same way AND
shifts the rotation axis cyclically by one, so that new rotation ``r`` holds what rotation
``r - 1`` held (:func:`rotate_p4`). Because the maps are plain 4-D tensors, Keras'
``ReLU``, ``MaxPooling2D`` (2x2 on even sizes) and ``Dropout`` apply unchanged, and every
explainer sees an ordinary convolutional network.

Layers (all written with ``keras.ops``, serialisable, loadable with ``safe_mode=True``)
---------------------------------------------------------------------------------------
:class:`P4LiftingConv2D`
    image (N, H, W, C_in) -> p4 map (N, H, W, C_out * 4): the filter ``W`` in its four
    rotations, ``out_r = x * rot^r(W)`` (Cohen & Welling's "Z2 -> p4" convolution).
:class:`P4GroupConv2D`
    p4 map -> p4 map: ``out_r = sum_s in_s * rot^r(W_{(s - r) mod 4})``, a filter on the group
    rotated and cyclically shifted (their "p4 -> p4" convolution).
:class:`P4BatchNormalization`
    batch normalisation with one mean, variance, scale and offset per filter, shared by its
    four rotations (statistics over N, H, W and the rotation axis): per-(filter, rotation)
    statistics would break equivariance.
:class:`RotationPooling`
    p4 map -> rotation-invariant map (N, H, W, C): the mean (or max) over the rotation axis.
    The result still rotates with the image but no longer shifts (Cohen & Welling's pooling
    over rotations).

Both convolutions are implemented as one ``conv2d`` with a kernel assembled from the
learnt weights (rotated with ``flip`` and ``transpose``, shifted with ``roll``); the learnt
weights have 1/4 of the assembled kernel's size, which is where the parameter saving (or, at
equal parameter count, the extra width) comes from. Exact equivariance needs odd kernels,
stride 1 with ``"same"`` (or ``"valid"``) padding, and 2x2 pooling on even sizes only:
the builder pools only where the size is even.

The ``p4cnn`` model
-------------------
Blocks of [P4 conv (the first one lifts) -> P4BatchNorm -> ReLU] * ``convs_per_block`` ->
MaxPool 2x2 (where the size is even), then ``rotation_pool`` (mean over rotations: an
invariant map that still rotates with the image), global average pooling (invariant),
Dropout, Dense(relu), Dropout, logits. The logits are invariant to rotations of the input by
multiples of 90 degrees, up to float rounding. The last group convolution is ``"last_conv"``
and its activation ``"last_relu"``, as in the other families.

How the explainers read it
--------------------------
* Grad-CAM's default layer (the last layer with a 4-D output) is ``rotation_pool``: the
  invariant map (N, h, w, C). With mean pooling this equals Grad-CAM on ``last_relu`` with its
  ``C * 4`` (filter, rotation) maps each weighted by its own mean gradient and summed over
  filters AND rotations (each gradient is 1/4 of the pooled one), so the two layers give the
  same map. Either way the map rotates with the image.
* The gradient family differentiates the invariant logit, so its maps rotate with the image
  (SmoothGrad only in distribution: its fixed noise draw is not rotated with the image).
  One float caveat: a gradient jumps where a ReLU's input crosses zero, and the rotated image's
  convolutions sum in another order, so a unit whose input lies within rounding (about 1e-7
  relative) of zero can fall on the other side. Forward passes and LRP (whose relevance
  through such a unit is about zero anyway) are continuous there and stay within about 1e-6;
  a gradient then differs by that unit's share. Grad-CAM's gradient crosses only the few ReLUs
  of the head, so this is rare there; integrated gradients, with many evaluation points over
  every ReLU, met it on phantom images (relative error 5e-4 with 16 steps, 2e-4 with 64).
* LRP / deep Taylor: each layer here offers ``lrp_linear()`` (its assembled kernel and bias,
  or the per-channel scale of the batch norm, or the fixed averaging kernel of mean rotation
  pooling), which LRP's canonisation treats as the Conv2D / BatchNorm it computes. Max
  rotation pooling has no such form and is refused with the reason.

References
----------
Cohen, T. S., & Welling, M. (2016). Group equivariant convolutional networks. ICML, PMLR 48,
2990-2999. https://arxiv.org/abs/1602.07576
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from .heads import head as _head
from .registry import register

#: The rotations of p4 (multiples of 90 degrees).
ROTATIONS = 4


# ------------------------------------------------------------------------------ the group action
def rotate(images: Any, degrees: float) -> np.ndarray:
    """Rotate a batch (N, H, W[, C]) counter-clockwise by ``degrees`` about the image centre.

    Multiples of 90 degrees are exact (``numpy.rot90`` on the spatial axes; a non-square image
    changes shape). Other angles interpolate bilinearly (``scipy.ndimage.rotate``, same
    output size, the border pixel repeated where the rotated image does not reach); uint8
    stays uint8 (rounded), float stays float.
    """
    x = np.asarray(images)
    if x.ndim not in (3, 4):
        raise ValueError(f"images must be (N, H, W) or (N, H, W, C), got shape {x.shape}")
    if not np.isfinite(float(degrees)):
        raise ValueError(f"degrees must be a finite angle, got {degrees}")
    turns = float(degrees) / 90.0
    if turns == int(turns):
        return np.ascontiguousarray(np.rot90(x, int(turns) % ROTATIONS, axes=(1, 2)))
    from scipy.ndimage import rotate as _rotate

    out = _rotate(x.astype(np.float64), float(degrees), axes=(1, 2), reshape=False, order=1,
                  mode="nearest")
    if x.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32)


def rotate_p4(features: Any, k: int = 1) -> np.ndarray:
    """The p4 action on p4 feature maps (N, H, W, C * 4): rotate by ``k`` quarter turns
    counter-clockwise and shift the rotation axis cyclically by ``k``.

    For a p4-equivariant layer ``f``: ``f(rotate(x, 90 k)) == rotate_p4(f(x), k)``.
    """
    f = np.asarray(features)
    if f.ndim != 4 or f.shape[-1] % ROTATIONS:
        raise ValueError(
            f"p4 feature maps are (N, H, W, C * {ROTATIONS}), got shape {f.shape}"
        )
    n, h, w, c4 = f.shape
    g = np.rot90(f, k % ROTATIONS, axes=(1, 2)).reshape(n, w if k % 2 else h, h if k % 2 else w,
                                                      c4 // ROTATIONS, ROTATIONS)
    return np.ascontiguousarray(np.roll(g, k, axis=-1).reshape(g.shape[:3] + (c4,)))


def _rot90_kernel(w: Any, k: int) -> Any:
    """Rotate a kernel (kh, kw, ...) by ``k`` quarter turns counter-clockwise (as numpy.rot90)."""
    perm = (1, 0, *range(2, len(w.shape)))
    for _ in range(k % ROTATIONS):
        w = ops.flip(ops.transpose(w, perm), axis=0)
    return w


def _check_conv_settings(kernel_size: int, padding: str) -> tuple[int, str]:
    k = int(kernel_size)
    if k < 1 or k % 2 == 0:
        raise ValueError(
            f"kernel_size must be odd (got {kernel_size}): an even kernel has no centre pixel, "
            "and 'same' padding is then asymmetric, which breaks exact rotation equivariance"
        )
    p = str(padding).lower()
    if p not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    return k, p


class _P4Conv(keras.layers.Layer):
    """Shared code of the two p4 convolutions: settings, bias, the conv2d and its LRP form."""

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        padding: str = "same",
        use_bias: bool = True,
        kernel_initializer: Any = "he_normal",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"filters must be a positive integer, got {filters}")
        self.filters = int(filters)
        self.kernel_size, self.padding = _check_conv_settings(kernel_size, padding)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _add_bias(self) -> None:
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
            if self.use_bias
            else None
        )

    def assembled_kernel(self) -> Any:
        """The ordinary Conv2D kernel (kh, kw, C_in', filters * 4) this layer applies."""
        raise NotImplementedError

    def assembled_bias(self) -> Any:
        """The bias (filters * 4,) of :meth:`assembled_kernel` (one per filter, repeated over
        its rotations), or None."""
        return None if self.bias is None else ops.repeat(self.bias, ROTATIONS)

    def call(self, x: Any) -> Any:
        y = ops.conv(x, self.assembled_kernel(), strides=1, padding=self.padding)
        b = self.assembled_bias()
        return y if b is None else y + b

    def compute_output_shape(self, input_shape: Any) -> tuple:
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        if self.padding == "valid":
            h = None if h is None else h - self.kernel_size + 1
            w = None if w is None else w - self.kernel_size + 1
        return (n, h, w, self.filters * ROTATIONS)

    def lrp_linear(self) -> tuple[str, dict[str, Any], Callable[[], tuple[Any, Any]]]:
        """This layer as LRP's canonisation sees it: a Conv2D (stride 1, its padding) with the
        assembled kernel and bias, read from the variables when called (see
        :mod:`xai_lab.explain.lrp.canonize`)."""
        import tensorflow as tf

        def params() -> tuple[Any, Any]:
            w = tf.cast(tf.convert_to_tensor(self.assembled_kernel()), tf.float32)
            b = self.assembled_bias()
            return w, (None if b is None else tf.cast(tf.convert_to_tensor(b), tf.float32))

        config = {"strides": (1, 1), "padding": self.padding.upper(), "dilations": (1, 1)}
        return "conv", config, params

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "padding": self.padding,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="xai_lab")
class P4LiftingConv2D(_P4Conv):
    """Lifting convolution Z2 -> p4: an image (N, H, W, C_in) to a p4 map (N, H, W, filters * 4).

    ``out[..., c * 4 + r] = x * rot^r(W_c) + b_c`` (cross-correlation, as Keras' Conv2D), with
    ``W`` of shape (k, k, C_in, filters): one learnt filter seen in four rotations.

    Parameters
    ----------
    filters : int
        Number of filters (the output has ``filters * 4`` channels).
    kernel_size : int
        Odd spatial size of the square kernel.
    padding : {"same", "valid"}
    use_bias : bool
        One bias per filter, shared by its rotations.

    References
    ----------
    Cohen, T. S., & Welling, M. (2016). Group equivariant convolutional networks. ICML.
    """

    def build(self, input_shape: Any) -> None:
        c_in = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, c_in, self.filters),
            initializer=self.kernel_initializer,
        )
        self._add_bias()

    def assembled_kernel(self) -> Any:
        k, c_in = self.kernel_size, self.kernel.shape[2]
        rotated = [_rot90_kernel(self.kernel, r) for r in range(ROTATIONS)]
        return ops.reshape(ops.stack(rotated, axis=-1), (k, k, c_in, self.filters * ROTATIONS))


@keras.saving.register_keras_serializable(package="xai_lab")
class P4GroupConv2D(_P4Conv):
    """Group convolution p4 -> p4: (N, H, W, C_in * 4) to (N, H, W, filters * 4).

    ``out_r = sum_s in_s * rot^r(W[:, :, :, (s - r) mod 4, :]) + b``: the learnt filter
    ``W`` of shape (k, k, C_in, 4, filters) lives on the group; rotating the output by ``r``
    rotates each of its planes by ``r`` and shifts its rotation axis by ``r``.

    Parameters
    ----------
    filters : int
        Number of filters (the output has ``filters * 4`` channels).
    kernel_size : int
        Odd spatial size of the square kernel.
    padding : {"same", "valid"}
    use_bias : bool
        One bias per filter, shared by its rotations.

    References
    ----------
    Cohen, T. S., & Welling, M. (2016). Group equivariant convolutional networks. ICML.
    """

    def build(self, input_shape: Any) -> None:
        c4 = int(input_shape[-1])
        if c4 % ROTATIONS:
            raise ValueError(
                f"layer {self.name!r}: a p4 group convolution reads p4 feature maps with "
                f"C * {ROTATIONS} channels (from P4LiftingConv2D or P4GroupConv2D), got {c4}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, c4 // ROTATIONS, ROTATIONS, self.filters),
            initializer=self.kernel_initializer,
        )
        self._add_bias()

    def assembled_kernel(self) -> Any:
        k, c_in = self.kernel_size, self.kernel.shape[2]
        # out_r reads in_s through W[..., (s - r) mod 4, :]: roll the s axis by r, rotate by r
        per_r = [_rot90_kernel(ops.roll(self.kernel, r, axis=3), r) for r in range(ROTATIONS)]
        w = ops.stack(per_r, axis=-1)  # (k, k, C_in, 4 [s], filters, 4 [r])
        return ops.reshape(w, (k, k, c_in * ROTATIONS, self.filters * ROTATIONS))


@keras.saving.register_keras_serializable(package="xai_lab")
class P4BatchNormalization(keras.layers.Layer):
    """Batch normalisation of p4 feature maps, shared over the rotations of each filter.

    Statistics per filter over the batch, the positions AND the four rotations; one
    ``gamma``/``beta`` per filter. In training mode the batch statistics are used and the
    moving ones updated (``moving = momentum * moving + (1 - momentum) * batch``), as in
    Keras' ``BatchNormalization``; in inference mode the moving ones.

    References
    ----------
    Ioffe, S., & Szegedy, C. (2015). Batch normalization. ICML.
    Cohen, T. S., & Welling, M. (2016). Group equivariant convolutional networks. ICML
    (sec. 6.2: batch normalisation must share statistics over the rotations).
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build(self, input_shape: Any) -> None:
        c4 = int(input_shape[-1])
        if c4 % ROTATIONS:
            raise ValueError(
                f"layer {self.name!r}: P4BatchNormalization reads p4 feature maps with "
                f"C * {ROTATIONS} channels, got {c4}"
            )
        c = c4 // ROTATIONS
        self.gamma = self.add_weight(name="gamma", shape=(c,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(c,), initializer="zeros")
        self.moving_mean = self.add_weight(
            name="moving_mean", shape=(c,), initializer="zeros", trainable=False
        )
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=(c,), initializer="ones", trainable=False
        )

    def _batch_moments(self, x: Any) -> tuple[Any, Any]:
        mean_cr, var_cr = ops.moments(x, axes=[0, 1, 2])  # (C * 4,)
        mean_cr = ops.reshape(mean_cr, (-1, ROTATIONS))
        var_cr = ops.reshape(var_cr, (-1, ROTATIONS))
        mean = ops.mean(mean_cr, axis=1)
        var = ops.mean(var_cr + ops.square(mean_cr - mean[:, None]), axis=1)
        return mean, var

    def affine(self) -> tuple[Any, Any]:
        """``(s, t)`` of the inference-mode map ``y = x * s + t``, one per channel (C * 4,)."""
        s = self.gamma * ops.rsqrt(self.moving_variance + self.epsilon)
        t = self.beta - self.moving_mean * s
        return ops.repeat(s, ROTATIONS), ops.repeat(t, ROTATIONS)

    def call(self, x: Any, training: bool | None = None) -> Any:
        if training and self.trainable:
            mean, var = self._batch_moments(x)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + ops.cast(mean, self.moving_mean.dtype) * (1 - m))
            self.moving_variance.assign(
                self.moving_variance * m + ops.cast(var, self.moving_variance.dtype) * (1 - m)
            )
            s = self.gamma * ops.rsqrt(var + self.epsilon)
            t = self.beta - mean * s
            s, t = ops.repeat(s, ROTATIONS), ops.repeat(t, ROTATIONS)
        else:
            s, t = self.affine()
        return x * ops.cast(s, x.dtype) + ops.cast(t, x.dtype)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def lrp_linear(self) -> tuple[str, dict[str, Any], Callable[[], tuple[Any, Any]]]:
        """This layer as LRP's canonisation sees it: a per-channel scale ``x * s + t`` (folded
        into the convolution before it, like a BatchNormalization)."""
        import tensorflow as tf

        def params() -> tuple[Any, Any]:
            s, t = self.affine()
            return tf.cast(tf.convert_to_tensor(s), tf.float32), tf.cast(tf.convert_to_tensor(t), tf.float32)

        return "scale", {}, params

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="xai_lab")
class RotationPooling(keras.layers.Layer):
    """Pool a p4 map over its rotation axis: (N, H, W, C * 4) -> (N, H, W, C).

    The result is invariant to the cyclic shift of the rotation axis, so it rotates with the
    image without shifting; global pooling after it gives rotation-invariant features.

    Parameters
    ----------
    reduction : {"mean", "max"}
        Mean (linear: LRP can explain through it) or max (Cohen & Welling's choice; LRP
        refuses it) over the four rotations.
    """

    def __init__(self, reduction: str = "mean", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if reduction not in ("mean", "max"):
            raise ValueError(f"reduction must be 'mean' or 'max', got {reduction!r}")
        self.reduction = reduction

    def build(self, input_shape: Any) -> None:
        c4 = int(input_shape[-1])
        if c4 % ROTATIONS:
            raise ValueError(
                f"layer {self.name!r}: RotationPooling reads p4 feature maps with "
                f"C * {ROTATIONS} channels, got {c4}"
            )
        self.channels = c4 // ROTATIONS

    def call(self, x: Any) -> Any:
        shape = ops.shape(x)
        g = ops.reshape(x, (-1, shape[1], shape[2], self.channels, ROTATIONS))
        return ops.mean(g, axis=-1) if self.reduction == "mean" else ops.max(g, axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*tuple(input_shape[:3]), int(input_shape[-1]) // ROTATIONS)

    def lrp_linear(self) -> tuple[str, dict[str, Any], Callable[[], tuple[Any, Any]]]:
        """Mean pooling as LRP's canonisation sees it: a 1x1 Conv2D whose fixed kernel averages
        the four rotations of each filter. Max pooling has no such form.

        Raises
        ------
        ValueError
            For ``reduction="max"`` (LRP's canonisation turns it into UnsupportedModelError).
        """
        if self.reduction != "mean":
            raise ValueError(
                "max pooling over rotations is not linear; build the model with "
                "rotation_pool='mean' for LRP / deep Taylor"
            )
        import tensorflow as tf

        eye = np.repeat(np.eye(self.channels, dtype=np.float32), ROTATIONS, axis=0) / ROTATIONS

        def params() -> tuple[Any, Any]:
            return tf.constant(eye[None, None]), None

        config = {"strides": (1, 1), "padding": "VALID", "dilations": (1, 1)}
        return "conv", config, params

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reduction": self.reduction}


#: The p4 layer classes by name (what :func:`feature_kinds` and the tests look for).
P4_LAYERS = (P4LiftingConv2D, P4GroupConv2D, P4BatchNormalization, RotationPooling)


# ---------------------------------------------------------------------------------- the model
_POOLS = {"avg": keras.layers.AveragePooling2D, "max": keras.layers.MaxPooling2D}


@register("p4cnn")
def build(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    filters: Sequence[int] = (16, 32, 64),
    convs_per_block: int = 2,
    kernel_size: int = 3,
    batchnorm: bool = True,
    bn_momentum: float = 0.9,
    pool: str = "avg",
    rotation_pool: str = "mean",
    dense: int = 128,
    dropout: float = 0.3,
    head: str = "softmax",
) -> keras.Model:
    """A p4-equivariant CNN with rotation-invariant logits (see the module docstring).

    Blocks of [P4 conv (the first lifts the image) -> P4BatchNorm -> ReLU] * convs_per_block
    -> MaxPool 2x2 (between blocks, only where height and width are even), then
    ``rotation_pool`` -> global average pooling -> Dropout -> Dense(relu) -> Dropout -> head.

    Parameters
    ----------
    input_shape : (H, W, C)
        Square images (a rotation by 90 degrees must give an image of the same shape).
    n_classes : int
    filters : sequence of int
        Filters of each block; each carries 4 rotations, so a block has ``4 * filters``
        channels. (16, 32, 64) has about the parameters of ``cnn``'s (32, 64, 128).
    convs_per_block : int
    kernel_size : int
        Odd kernel size.
    batchnorm : bool
        :class:`P4BatchNormalization` after each convolution (then the convolutions have no
        bias).
    bn_momentum : float
    rotation_pool : {"mean", "max"}
        Pooling over the rotation axis before the global average pooling; ``"mean"`` keeps the
        model explainable by LRP.
    dense : int
        Width of the hidden Dense layer (0: none).
    dropout : float
    head : {"softmax", "coral"}
        Output head (see :mod:`xai_lab.models.heads`).
    """
    shape = tuple(int(d) for d in input_shape)
    if shape[0] != shape[1]:
        raise ValueError(
            f"p4cnn needs square images (a rotation by 90 degrees must keep the shape), got "
            f"{shape[0]}x{shape[1]}: crop or resize them (xai_lab.data.resize)"
        )
    if pool not in _POOLS:
        raise ValueError(f"pool must be one of {sorted(_POOLS)}, got {pool!r}")
    if not filters or convs_per_block < 1:
        raise ValueError("p4cnn needs at least one block with at least one convolution")
    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    n_blocks = len(filters)
    first = True
    for b, f in enumerate(filters, start=1):
        for c in range(1, convs_per_block + 1):
            last = b == n_blocks and c == convs_per_block
            name = "last_conv" if last else f"conv{b}_{c}"
            conv = P4LiftingConv2D if first else P4GroupConv2D
            x = conv(int(f), kernel_size, padding="same", use_bias=not batchnorm, name=name)(x)
            first = False
            if batchnorm:
                x = P4BatchNormalization(momentum=bn_momentum, name=f"bn{b}_{c}")(x)
            x = keras.layers.ReLU(name="last_relu" if last else f"relu{b}_{c}")(x)
        if b < n_blocks and x.shape[1] >= 2 and x.shape[1] % 2 == 0:
            x = _POOLS[pool](2, name=f"pool{b}")(x)
    x = RotationPooling(rotation_pool, name="rotation_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dense:
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout1")(x)
        x = keras.layers.Dense(int(dense), activation="relu", name="dense")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = _head(x, n_classes, head)
    return keras.Model(inputs, outputs, name="p4cnn")


def matching_options(n_params: int, input_shape: Sequence[int], n_classes: int,
                     **options: Any) -> dict[str, Any]:
    """``p4cnn`` options: ``options`` plus the Dense width whose parameter count comes closest
    to ``n_params`` (e.g. a plain ``cnn``'s ``count_params()``), for comparisons at equal size.

    The count is linear in the Dense width: solved from two builds, checked on three.
    """
    def count(width: int) -> int:
        return build(input_shape, n_classes, **{**options, "dense": width}).count_params()

    c16, c32 = count(16), count(32)
    width = max(1, round(16 + (int(n_params) - c16) * 16 / (c32 - c16)))
    best = min((abs(count(w) - int(n_params)), w) for w in (width - 1, width, width + 1) if w > 0)
    return {**options, "dense": best[1]}


# ------------------------------------------------------------------------- equivariance checks
def feature_kinds(model: keras.Model) -> dict[str, str]:
    """How each layer's output transforms when the input rotates by 90 degrees.

    ``"p4"``: a p4 feature map (rotates and shifts its rotation axis, :func:`rotate_p4`);
    ``"plane"``: an ordinary map (rotates only: the input, a rotation-pooled map);
    ``"invariant"``: a vector (global pooling and after: unchanged). Layers of a functional
    model, read from its graph; a layer with several inputs takes its first input's kind.
    """
    kinds: dict[str, str] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            kinds[layer.name] = "plane"
            continue
        node = layer._inbound_nodes[0]
        parent = node.input_tensors[0]._keras_history[0].name
        kind = kinds.get(parent, "plane")
        if isinstance(layer, P4LiftingConv2D):
            kind = "p4"
        elif isinstance(layer, RotationPooling):
            kind = "plane"
        elif len(layer.output.shape) != 4:
            kind = "invariant"
        kinds[layer.name] = kind
    return kinds


def _transform(kind: str, values: np.ndarray, k: int) -> np.ndarray:
    if kind == "p4":
        return rotate_p4(values, k)
    if kind == "plane":
        return rotate(values, 90 * k)
    return values


def relative_error(a: Any, b: Any) -> float:
    """``max |a - b| / max |b|`` (0 when both are 0): the equivariance error's measure."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = float(np.abs(b).max()) if b.size else 0.0
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    return diff / scale if scale > 0 else diff


def equivariance_errors(model: keras.Model, images: Any, k: int = 1) -> dict[str, float]:
    """Relative equivariance error of every layer's output (inference mode).

    For each layer ``f`` (its output kind from :func:`feature_kinds`), compares
    ``f(rotate(x, 90 k))`` with the transformed ``f(x)`` (rotate and shift for p4 maps, rotate
    for planes, nothing for invariant vectors) by :func:`relative_error`. The last entry,
    the model's output, is the logits' invariance error.

    Parameters
    ----------
    model : keras.Model
        A functional model (e.g. ``build("p4cnn", ...)``); square input.
    images : array-like
        (N, H, W, C) float images in [0, 1] (uint8 is scaled).
    k : int
        Quarter turns.
    """
    from .io import as_input

    x = as_input(images)
    kinds = feature_kinds(model)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs[0], [layer.output for layer in layers])
    plain = probe(x, training=False)
    turned = probe(rotate(x, 90 * k), training=False)
    return {
        layer.name: relative_error(np.asarray(t), _transform(kinds[layer.name], np.asarray(p), k))
        for layer, p, t in zip(layers, plain, turned, strict=True)
    }
