"""Forward pass and relevance propagation over a :class:`~.canonize.CanonicalGraph`.

Relevance rules for the non-linear ops (as iNNvestigate's ``deep_taylor``, which passes
relevance "along the gradient" through them):

* ReLU: ``R_in = R_out * [x > 0]``;
* max pooling (local and global): winner takes all (TensorFlow's max-pool gradient);
* Flatten, Reshape: reshaped back;
* average pooling (local and global): ``avgpool="z"`` (the z rule on the mean,
  ``R_i = x_i / sum_window x * R_j``, conserving) or ``avgpool="gradient"`` (``R_j`` spread
  evenly over the window, as iNNvestigate 2.1.2's ``deep_taylor``: relevance that lands on a
  zero activation is then dropped by the ReLU below, so it does not conserve);
* Dropout and other inference-time identities: unchanged;
* Add: ``add="z"`` splits ``R`` in proportion to the summands, ``R_k = x_k / sum_k' x_k' * R``
  (the z rule on the sum, conserving; ``safe_div``); ``add="gradient"`` copies ``R`` to every
  summand, as iNNvestigate 2.1.2's ``deep_taylor`` does (not conserving).

A tensor read by several ops (a residual branch point) receives the sum of their relevances.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...models.working_set import images_per_call
from .canonize import CanonicalGraph, Op, canonize
from .rules import Rule, apply_linear, safe_div


def read_params(graph: CanonicalGraph) -> dict[int, tuple[Any, Any]]:
    """``(kernel, bias)`` of every linear op (keyed by its output id), read once per pass.

    Within a ``tf.function`` each read is its own ``ReadVariableOp`` (and BatchNorm folding its
    own arithmetic): the forward and backward pass share one read instead of repeating it.
    """
    return {op.output: op.params() for op in graph.ops if op.kind == "linear"}


def _op_forward(op: Op, xs: list[Any], params: dict[int, tuple[Any, Any]]) -> Any:
    import tensorflow as tf

    x = xs[0]
    if op.kind == "linear":
        w, b = params[op.output]
        z = apply_linear(op, x, w)
        if b is not None:
            z = z + b  # AddV2: grappler's fused Conv2D+BiasAdd(+Relu) kernel is slower on CPU
        return tf.nn.relu(z) if op.activation == "relu" else z
    if op.kind == "relu":
        return tf.nn.relu(x)
    if op.kind == "maxpool":
        c = op.config
        return tf.nn.max_pool2d(x, c["ksize"], c["strides"], c["padding"])
    if op.kind == "avgpool":
        c = op.config
        return tf.nn.avg_pool2d(x, c["ksize"], c["strides"], c["padding"])
    if op.kind == "gap":
        return tf.reduce_mean(x, axis=[1, 2], keepdims=op.config["keepdims"])
    if op.kind == "gmp":
        return tf.reduce_max(x, axis=[1, 2], keepdims=op.config["keepdims"])
    if op.kind == "reshape":
        return tf.reshape(x, (-1, *op.config["shape"]))
    if op.kind == "add":
        return tf.add_n(xs)
    if op.kind == "identity":
        return x
    raise ValueError(f"unknown op kind {op.kind!r}")


def forward_activations(graph: CanonicalGraph, x: Any,
                        params: dict[int, tuple[Any, Any]] | None = None) -> dict[int, Any]:
    """All tensors of the canonical graph for input ``x`` (id -> tensor).

    ``params``: the :func:`read_params` of the pass (read here when None).
    """
    import tensorflow as tf

    params = read_params(graph) if params is None else params
    values: dict[int, Any] = {0: tf.convert_to_tensor(x, tf.float32)}
    for op in graph.ops:
        values[op.output] = _op_forward(op, [values[i] for i in op.inputs], params)
    return values


@dataclass(frozen=True)
class RuleMap:
    """Which rule each linear op gets, and how Add and the output are handled."""

    conv: Rule
    dense: Rule
    bn: Rule
    first: Rule | None
    add: str = "z"
    avgpool: str = "z"
    output_relu: bool = False

    def for_op(self, op: Op) -> Rule:
        if op.first and self.first is not None:
            return self.first
        if op.linear == "conv":
            return self.conv
        if op.linear == "dense":
            return self.dense
        return self.bn


def _nonneg_tensors(graph: CanonicalGraph) -> set[int]:
    """Tensor ids known to be >= 0 (ReLU outputs and what pooling/reshaping keeps)."""
    nonneg: set[int] = set()
    for op in graph.ops:
        if (op.kind == "relu" or (op.kind == "linear" and op.activation == "relu")) or (
            op.kind in ("maxpool", "avgpool", "gap", "gmp", "reshape", "identity")
            and op.inputs[0] in nonneg
        ):
            nonneg.add(op.output)
    return nonneg


def _zero_where_zero(graph: CanonicalGraph, rules: RuleMap) -> set[int]:
    """Tensor ids whose relevance is 0 wherever the tensor's value is 0, whatever the input.

    That holds when every op reading the tensor sends back relevance proportional to it: the
    rules marked ``proportional`` (z, epsilon, alpha-beta / z+: ``R_i = x_i * ...``), the z
    rule on Add and average pooling, and ReLU (0 where its input is <= 0); max pooling,
    reshapes and identities pass it on from their own output (a zero-valued winner of a window
    means a zero pooled value).
    Below such a tensor a ReLU's mask ``[x > 0]`` changes nothing (its output is 0 exactly
    where the mask is), so :func:`relevance` skips that elementwise pass.
    """
    result: set[int] = set()
    for op in reversed(graph.ops):
        for tensor in op.inputs:
            consumers = graph.consumers(tensor)
            if tensor == graph.output or tensor in result or not consumers:
                continue
            if all(
                (c.kind == "linear" and rules.for_op(c).proportional)
                or c.kind == "relu"
                or (c.kind in ("avgpool", "gap") and rules.avgpool == "z")
                or (c.kind == "add" and rules.add == "z")
                or (c.kind in ("maxpool", "gmp", "reshape", "identity") and c.output in result)
                for c in consumers
            ):
                result.add(tensor)
    return result


def _vjp(op: Op, x: Any, y: Any, r: Any) -> Any:
    """``r`` sent back through the pooling or reshape ``op`` (input ``x``, output ``y``) along
    its gradient, with the kernels TensorFlow's gradients use but without a tape (which would
    add shape arithmetic and a second forward op to every pass)."""
    import tensorflow as tf

    c = op.config
    if op.kind in ("maxpool", "avgpool"):
        ksize, strides = [1, *c["ksize"], 1], [1, *c["strides"], 1]
        padding = str(c["padding"]).upper()
        if op.kind == "maxpool":
            return tf.raw_ops.MaxPoolGrad(orig_input=x, orig_output=y, grad=r, ksize=ksize,
                                          strides=strides, padding=padding)
        return tf.raw_ops.AvgPoolGrad(orig_input_shape=tf.shape(x), grad=r, ksize=ksize,
                                      strides=strides, padding=padding)
    if op.kind == "gap":  # the mean's gradient: r / (H W) at every position
        area = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], r.dtype)
        return tf.broadcast_to(tf.reshape(r, (-1, 1, 1, r.shape[-1])) / area, tf.shape(x))
    if op.kind == "reshape":
        return tf.reshape(r, tf.shape(x))
    with tf.GradientTape() as tape:  # global max pooling
        tape.watch(x)
        out = _op_forward(op, [x], {})
    return tape.gradient(out, x, output_gradients=r)


def relevance(graph: CanonicalGraph, rules: RuleMap, x: Any, targets: Any,
              skip_redundant_masks: bool = True) -> tuple[Any, Any]:
    """Input relevance (shape of ``x``) and logits, starting from the target logits.

    A negative target stands for the class with the largest logit. ``skip_redundant_masks``
    leaves out a ReLU's mask where the relevance reaching it is already 0 wherever the ReLU's
    output is (see :func:`_zero_where_zero`); the result is the same either way.
    """
    import tensorflow as tf

    params = read_params(graph)
    values = forward_activations(graph, x, params)
    logits = values[graph.output]
    predicted = tf.argmax(logits, axis=1, output_type=targets.dtype)
    targets = tf.where(targets < 0, predicted, targets)
    start = tf.gather(logits, targets, axis=1, batch_dims=1)
    if rules.output_relu:
        start = tf.nn.relu(start)
    n_classes = tf.shape(logits)[1]
    rel: dict[int, Any] = {graph.output: tf.one_hot(targets, n_classes) * start[:, None]}
    nonneg = _nonneg_tensors(graph)
    masked = _zero_where_zero(graph, rules) if skip_redundant_masks else set()

    def give(tensor: int, r: Any) -> None:
        rel[tensor] = r if tensor not in rel else rel[tensor] + r

    for op in reversed(graph.ops):
        r = rel.pop(op.output, None)
        if r is None:
            continue  # nothing reaches this op (a dead branch)
        xs = [values[i] for i in op.inputs]
        x_in = xs[0]
        if op.kind == "linear":
            w, b = params[op.output]
            give(op.inputs[0], rules.for_op(op).relevance(op, x_in, r, w, b,
                                                          op.inputs[0] in nonneg))
        elif op.kind == "relu" and op.output in masked:
            give(op.inputs[0], r)  # already 0 where x <= 0
        elif op.kind == "relu":
            # r * [x > 0] in one kernel (the ReLU's gradient)
            give(op.inputs[0], tf.raw_ops.ReluGrad(gradients=r, features=x_in))
        elif op.kind in ("avgpool", "gap") and rules.avgpool == "z":
            y = values[op.output]
            give(op.inputs[0], x_in * _vjp(op, x_in, y, safe_div(r, y)))
        elif op.kind in ("maxpool", "avgpool", "gap", "gmp", "reshape"):
            give(op.inputs[0], _vjp(op, x_in, values[op.output], r))
        elif op.kind == "identity":
            give(op.inputs[0], r)
        elif op.kind == "add":
            if rules.add == "gradient":
                for i in op.inputs:
                    give(i, r)
            else:
                s = safe_div(r, values[op.output])
                for i, xi in zip(op.inputs, xs, strict=True):
                    give(i, xi * s)
        else:  # pragma: no cover - canonize only emits the kinds above
            raise ValueError(f"unknown op kind {op.kind!r}")
    r0 = rel.get(0)
    if r0 is None:
        r0 = tf.zeros_like(values[0])
    return r0, logits


class _DropRetracingWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _without_retracing_warning():
    """Drop TensorFlow's frequent-retracing warning while our analyzers run (and only then)."""
    import tensorflow as tf

    logger, drop = tf.get_logger(), _DropRetracingWarning()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


class Analyzer:
    """A compiled relevance function for one (model, rules) pair.

    The ``tf.function`` has a fixed input signature ``(None, H, W, C)`` so that it is traced
    once and reused for every batch size. A call splits its batch so that the largest tensor
    of the pass stays within :data:`xai_lab.models.working_set.WORKING_SET_BYTES` (see
    :meth:`chunk_size`).
    """

    def __init__(self, graph: CanonicalGraph, rules: RuleMap) -> None:
        import tensorflow as tf

        self.graph = graph
        self.rules = rules
        spec = (
            tf.TensorSpec(graph.input_shape, tf.float32),
            tf.TensorSpec((None,), tf.int32),
        )

        def run(x: Any, targets: Any) -> tuple[Any, Any]:
            return relevance(graph, rules, x, targets)

        # One closure per analyzer, traced once. TensorFlow's frequent-retracing detector keys
        # on the closure's code object, shared by all analyzers, so it would warn once a
        # process holds more than five of them: __call__ silences exactly that message.
        self._fn = tf.function(run, input_signature=spec, reduce_retracing=True)

    def chunk_size(self, image_shape: tuple[int, ...], batch_size: int = 64) -> int:
        """Images per compiled call: at most ``batch_size``, and no more than keep the pass's
        largest float32 tensor within ``working_set.WORKING_SET_BYTES`` (at least one image)."""
        return images_per_call(self.graph.largest_tensor(tuple(image_shape)), batch_size)

    def __call__(self, x: np.ndarray, targets: np.ndarray, batch_size: int = 64
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Relevance (N, H, W, C) and logits (N, K) as float32 numpy arrays.

        ``targets``: one class per image; -1 explains the class with the largest logit.
        ``batch_size``: at most this many images per compiled call (see :meth:`chunk_size`).
        """
        rs, ls = [], []
        t = np.asarray(targets, np.int32)
        step = self.chunk_size(x.shape[1:], batch_size)
        with _without_retracing_warning():
            for i in range(0, len(x), step):
                r, logits = self._fn(x[i : i + step], t[i : i + step])
                rs.append(r.numpy())
                ls.append(logits.numpy())
        return np.concatenate(rs).astype(np.float32), np.concatenate(ls).astype(np.float32)

    @property
    def traces(self) -> int:
        """How many times the function was traced (1 after any number of calls)."""
        return int(self._fn.experimental_get_tracing_count())


_CACHE: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def graph_for(model: Any, fold_batchnorm: bool = True) -> CanonicalGraph:
    """The canonical graph of ``model``, built once per model (weights are read live)."""
    with _LOCK:
        entry = _CACHE.setdefault(model, {})
        key = ("graph", bool(fold_batchnorm))
        if key not in entry:
            entry[key] = canonize(model, fold_batchnorm=fold_batchnorm)
        return entry[key]


def analyzer_for(model: Any, key: Any, rules: RuleMap, fold_batchnorm: bool = True) -> Analyzer:
    """The compiled analyzer of ``model`` for the rule settings ``key``, built once."""
    graph = graph_for(model, fold_batchnorm)
    with _LOCK:
        entry = _CACHE[model]
        if key not in entry:
            entry[key] = Analyzer(graph, rules)
        return entry[key]
