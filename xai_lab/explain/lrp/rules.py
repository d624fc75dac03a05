"""LRP / deep Taylor rules for linear layers (Conv2D, Dense, an elementwise affine BatchNorm).

Notation for one linear layer: input ``x_i``, weights ``w_ij``, bias ``b_j``,
pre-activation ``z_j = sum_i x_i w_ij + b_j``, relevance ``R_j`` of output ``j`` (at the
layer's output, after its activation). Each rule maps ``R_j`` to input relevances ``R_i``.
``w^+ = max(w, 0)``, ``w^- = min(w, 0)``, likewise ``x^+``, ``x^-``. All rules are
computed with the gradient trick: ``sum_j w_ij s_j`` is the vector-Jacobian product of the
layer (without bias and activation) with ``s``, i.e. a transposed convolution / matrix product.

``safe_div(a, b) = a / (b + 1e-7 * [b == 0])`` as in iNNvestigate (Alber et al., JMLR 2019).

* ``z`` (Bach et al., PLoS ONE 10(7):e0130140, 2015, eq. 56):
  ``R_i = sum_j x_i w_ij / z_j * R_j`` (bias in ``z_j``; ``safe_div``).
* ``epsilon`` (Bach et al. 2015, eq. 58):
  ``R_i = sum_j x_i w_ij / (z_j + eps * sign(z_j)) * R_j``, ``sign(0) = +1``, bias in ``z_j``.
* ``z_plus`` (Montavon et al., "Explaining nonlinear classification decisions with deep Taylor
  decomposition", Pattern Recognition 65:211-222, 2017, eq. 9; iNNvestigate's
  ``Alpha1Beta0IgnoreBiasRule``), bias ignored:
  ``R_i = sum_j (x_i^+ w_ij^+ + x_i^- w_ij^-) / sum_i' (x_i'^+ w_i'j^+ + x_i'^- w_i'j^-) * R_j``
  (for ``x >= 0`` this is the textbook ``x_i w_ij^+ / sum_i' x_i' w_i'j^+``).
* ``alpha_beta`` (Bach et al. 2015, eq. 60; bias ignored), ``alpha - beta = 1``:
  ``R_i = sum_j (alpha * p_ij / sum_i' p_i'j - beta * n_ij / sum_i' n_i'j) * R_j`` with
  ``p_ij = x_i^+ w_ij^+ + x_i^- w_ij^-`` and ``n_ij = x_i^+ w_ij^- + x_i^- w_ij^+``.
* ``zb`` (Montavon et al. 2017, eq. 12; bounded input ``l_i <= x_i <= h_i``), bias ignored:
  ``R_i = sum_j (x_i w_ij - l_i w_ij^+ - h_i w_ij^-) /
  sum_i' (x_i' w_i'j - l_i' w_i'j^+ - h_i' w_i'j^-) * R_j``.
* ``w_square`` (Montavon et al. 2017, eq. 10), input-independent:
  ``R_i = sum_j w_ij^2 / sum_i' w_i'j^2 * R_j`` (the sum over the receptive field
  actually inside the image, computed as the layer applied to ones). On a BatchNorm (diagonal
  kernel) it passes relevance through unchanged.
* ``flat`` (Lapuschkin et al., Nat. Commun. 10:1096, 2019): ``w_square`` with all ``w = 1``.
* ``gradient``: ``R_i = sum_j w_ij R_j`` (not conserving; iNNvestigate 2.1.2's deep Taylor
  treats BatchNorm this way, see :class:`GradientRule`).

Conservation (``sum_i R_i = sum_j R_j``) holds exactly for ``z_plus``/``zb``/``w_square``/
``flat`` whenever every denominator with ``R_j != 0`` is non-zero (a zero denominator drops
``R_j``), and for ``z`` when the bias is zero; ``alpha_beta`` conserves only where a neuron has
both positive and negative contributions (otherwise it passes ``alpha R_j`` or ``-beta R_j``);
``epsilon`` absorbs ``eps * sign(z_j) / (z_j + eps sign(z_j))`` of ``R_j``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

SAFE_DIV_EPS = 1e-7

RULES: dict[str, type[Rule]] = {}


def _register(cls: type[Rule]) -> type[Rule]:
    RULES[cls.name] = cls
    return cls


def safe_div(a: Any, b: Any) -> Any:
    """``a / (b + 1e-7 * [b == 0])``."""
    import tensorflow as tf

    return a / (b + SAFE_DIV_EPS * tf.cast(tf.equal(b, 0.0), b.dtype))


# ------------------------------------------------------------------------ linear layer ops
def apply_linear(op: Any, x: Any, w: Any) -> Any:
    """The op's linear map (no bias, no activation) of ``x`` with kernel ``w``."""
    import tensorflow as tf

    if op.linear == "conv":
        c = op.config
        return tf.nn.conv2d(x, w, strides=c["strides"], padding=c["padding"],
                            dilations=c["dilations"])
    if op.linear == "dense":
        return tf.matmul(x, w)
    if op.linear == "scale":
        return x * w
    raise ValueError(f"unknown linear op {op.linear!r}")


def _transpose_padding(op: Any, w: Any) -> Any:
    """Padding that makes a convolution with the flipped kernel the transpose of a stride-1
    convolution (``"SAME"`` or explicit pads); None for strided convolutions."""
    c = op.config
    if any(int(v) != 1 for v in np.ravel(c["strides"])):
        return None
    dilations = [int(v) for v in c["dilations"]]
    pads = []
    for k, d in zip((int(w.shape[0]), int(w.shape[1])), dilations, strict=True):
        span = d * (k - 1)  # the dilated kernel covers span + 1 pixels
        before = span // 2 if c["padding"] == "SAME" else 0
        after = span - before if c["padding"] == "SAME" else 0
        pads.append([span - before, span - after])
    if c["padding"] == "SAME" and all(a == b for a, b in pads):
        return "SAME"
    return [[0, 0], pads[0], pads[1], [0, 0]]


def linear_vjp(op: Any, x: Any, w: Any, s: Any) -> Any:
    """``sum_j w_ij s_j``: the transpose of the linear map applied to ``s`` (shape of ``x``).

    For a stride-1 convolution the transpose is itself a convolution, with the kernel flipped
    in space, its channel axes swapped and the padding mirrored; that is what runs (faster
    than TensorFlow's CPU kernel for the input gradient, which also refuses dilations).
    Strided convolutions use the input gradient.
    """
    import tensorflow as tf

    if op.linear == "dense":
        return tf.matmul(s, w, transpose_b=True)
    if op.linear == "scale":
        return s * w
    padding = _transpose_padding(op, w)
    if padding is not None:
        flipped = tf.transpose(tf.reverse(w, axis=[0, 1]), perm=[0, 1, 3, 2])
        return tf.nn.conv2d(s, flipped, strides=1, padding=padding,
                            dilations=op.config["dilations"])
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = apply_linear(op, x, w)
    return tape.gradient(z, x, output_gradients=s)


def _pos(t: Any) -> Any:
    import tensorflow as tf

    return tf.nn.relu(t)  # one kernel (a mask and a product were three per call)


def _neg(t: Any) -> Any:
    import tensorflow as tf

    return tf.minimum(t, 0.0)


# ------------------------------------------------------------------------------- the rules
@dataclass
class Rule:
    """Base class: ``relevance(op, x, R, w, b, nonneg)`` -> input relevance (shape of ``x``).

    ``nonneg`` tells that ``x >= 0`` is known (output of a ReLU), which lets some rules skip
    work without changing their result. ``proportional``: the relevance sent is ``x_i`` times
    something finite (0 wherever ``x_i = 0``), which lets the propagation skip a ReLU mask below.
    """

    name: ClassVar[str] = "rule"
    proportional: ClassVar[bool] = False

    def relevance(self, op: Any, x: Any, r: Any, w: Any, b: Any, nonneg: bool) -> Any:
        raise NotImplementedError


@_register
@dataclass
class ZRule(Rule):
    """``z`` rule (Bach et al. 2015): ``R_i = sum_j x_i w_ij / z_j R_j`` (bias in ``z_j``)."""

    name: ClassVar[str] = "z"
    proportional: ClassVar[bool] = True
    bias: bool = True

    def relevance(self, op, x, r, w, b, nonneg):
        z = apply_linear(op, x, w)
        if self.bias and b is not None:
            z = z + b
        return x * linear_vjp(op, x, w, safe_div(r, z))


@_register
@dataclass
class EpsilonRule(Rule):
    """``epsilon`` rule (Bach et al. 2015): ``z_j + eps * sign(z_j)`` in the denominator."""

    name: ClassVar[str] = "epsilon"
    proportional: ClassVar[bool] = True
    epsilon: float = 1e-7
    bias: bool = True

    def relevance(self, op, x, r, w, b, nonneg):
        import tensorflow as tf

        z = apply_linear(op, x, w)
        if self.bias and b is not None:
            z = z + b
        z = z + (tf.cast(z >= 0, z.dtype) * 2.0 - 1.0) * self.epsilon
        return x * linear_vjp(op, x, w, r / z)


@_register
@dataclass
class AlphaBetaRule(Rule):
    """``alpha_beta`` rule (Bach et al. 2015), bias ignored; ``alpha - beta = 1``."""

    name: ClassVar[str] = "alpha_beta"
    proportional: ClassVar[bool] = True
    alpha: float = 1.0
    beta: float = 0.0

    def __post_init__(self) -> None:
        if abs(self.alpha - self.beta - 1.0) > 1e-9 or self.beta < 0:
            raise ValueError(
                f"alpha_beta needs alpha - beta = 1 and beta >= 0, got alpha={self.alpha}, "
                f"beta={self.beta}"
            )

    def _part(self, op, xp, xn, wa, wb, r, nonneg):
        import tensorflow as tf

        # p_ij = x_i^+ w_ij^+ + x_i^- w_ij^- >= 0, so a zero sum means every p_ij = 0 and the
        # relevance sent is 0 whatever the division gives: divide_no_nan equals safe_div here.
        za = apply_linear(op, xp, wa)
        if nonneg:
            return xp * linear_vjp(op, xp, wa, tf.math.divide_no_nan(r, za))
        zb = apply_linear(op, xn, wb)
        s = tf.math.divide_no_nan(r, za + zb)
        return xp * linear_vjp(op, xp, wa, s) + xn * linear_vjp(op, xn, wb, s)

    def _relevance(self, op, x, r, w, nonneg):
        xp, xn = (x, None) if nonneg else (_pos(x), _neg(x))
        wp = _pos(w)
        wn = _neg(w) if self.beta or not nonneg else None  # z+ on x >= 0 reads W+ only
        out = self._part(op, xp, xn, wp, wn, r, nonneg)
        if self.beta:
            out = self.alpha * out - self.beta * self._part(op, xp, xn, wn, wp, r, nonneg)
        return out

    def relevance(self, op, x, r, w, b, nonneg):
        import tensorflow as tf

        if nonneg:
            return self._relevance(op, x, r, w, True)
        # Inputs not known to be >= 0 (the image, a BatchNorm output): when this batch has no
        # negative value the x^- terms are exactly zero, so the cheaper branch gives the same.
        # (a float minimum: TensorFlow's CPU reduce_all over a boolean tensor is ~20x slower)
        return tf.cond(
            tf.reduce_min(x) >= 0,
            lambda: self._relevance(op, x, r, w, True),
            lambda: self._relevance(op, x, r, w, False),
        )


@_register
@dataclass
class ZPlusRule(AlphaBetaRule):
    """``z_plus`` rule (Montavon et al. 2017): alpha=1, beta=0, bias ignored."""

    name: ClassVar[str] = "z_plus"
    alpha: float = 1.0
    beta: float = 0.0


@_register
@dataclass
class ZBRule(Rule):
    """``zb`` rule (Montavon et al. 2017) for a bounded input domain ``[low, high]``.

    ``low``/``high`` are scalars or arrays broadcast against the input (a per-channel
    ``(C,)`` vector, or ``(H, W, C)``).
    """

    name: ClassVar[str] = "zb"
    low: Any = 0.0
    high: Any = 1.0

    def relevance(self, op, x, r, w, b, nonneg):
        import tensorflow as tf

        # The bounds are the same for every image: their terms of z are computed on one image
        # and broadcast; sum_j w_ij s_j = sum_j w+_ij s_j + sum_j w-_ij s_j needs two transposes.
        low = tf.zeros_like(x[:1]) + tf.constant(np.asarray(self.low, np.float32))
        high = tf.zeros_like(x[:1]) + tf.constant(np.asarray(self.high, np.float32))
        wp, wn = _pos(w), _neg(w)
        z = apply_linear(op, x, w) - (apply_linear(op, low, wp) + apply_linear(op, high, wn))
        s = safe_div(r, z)
        cp, cn = linear_vjp(op, x, wp, s), linear_vjp(op, x, wn, s)
        return x * (cp + cn) - (low * cp + high * cn)


@_register
@dataclass
class WSquareRule(Rule):
    """``w_square`` rule (Montavon et al. 2017): ``R_i = sum_j w_ij^2 / sum_i' w_i'j^2 R_j``."""

    name: ClassVar[str] = "w_square"

    def _weights(self, w):
        return w * w

    def relevance(self, op, x, r, w, b, nonneg):
        import tensorflow as tf

        if op.linear == "scale" and self.name == "flat":  # diagonal of ones: identity
            return r
        if op.linear == "scale":  # diagonal kernel: w^2 / w^2 = 1 (0 where w = 0)
            return tf.where(tf.equal(w, 0.0), tf.zeros_like(r), r)
        w2 = self._weights(w)
        ones = tf.ones_like(x)
        z = apply_linear(op, ones, w2)
        return linear_vjp(op, ones, w2, safe_div(r, z))


@_register
@dataclass
class FlatRule(WSquareRule):
    """``flat`` rule (Lapuschkin et al. 2019): ``w_square`` with all weights set to one."""

    name: ClassVar[str] = "flat"

    def _weights(self, w):
        import tensorflow as tf

        return tf.ones_like(w)


@_register
@dataclass
class GradientRule(Rule):
    """``gradient``: ``R_i = sum_j w_ij R_j`` (relevance times the layer's Jacobian).

    Not a conserving LRP rule: it is how iNNvestigate 2.1.2's ``deep_taylor`` passes relevance
    through a BatchNorm (``R_in = R * gamma / sqrt(var + eps)``), offered for comparison.
    """

    name: ClassVar[str] = "gradient"

    def relevance(self, op, x, r, w, b, nonneg):
        return linear_vjp(op, x, w, r)


def make_rule(name: str, *, epsilon: float = 1e-7, alpha: float = 1.0, beta: float = 0.0,
              low: Any = 0.0, high: Any = 1.0) -> Rule:
    """A rule by name with the settings that apply to it."""
    if name not in RULES:
        raise ValueError(f"unknown LRP rule {name!r}; choose one of {', '.join(sorted(RULES))}")
    if name == "epsilon":
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        return EpsilonRule(epsilon=float(epsilon))
    if name == "alpha_beta":
        return AlphaBetaRule(alpha=float(alpha), beta=float(beta))
    if name == "zb":
        lo, hi = np.asarray(low, np.float32), np.asarray(high, np.float32)
        if np.any(lo > hi):
            raise ValueError(f"zb needs low <= high, got low={low}, high={high}")
        return ZBRule(low=lo, high=hi)
    return RULES[name]()
