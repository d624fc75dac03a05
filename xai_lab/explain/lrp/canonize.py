"""Canonisation: a Keras model as a small graph of LRP-ready operations.

The user's model is read, never changed: we walk its functional graph (``_keras_history`` of
its output tensor back to its input), turn each layer into a :class:`Op` of a few kinds, and
read the weights from the layer's variables *inside* our own TensorFlow functions. Nothing is
cloned, rebuilt or ``set_weights``-ed on the user's model.

Canonisation (Montavon et al., "Layer-wise relevance propagation: an overview", in
*Explainable AI*, LNCS 11700, 2019, sec. 10.3.1; Guillemot et al., "Breaking batch
normalization for better explainability of deep neural networks through layer-wise relevance
propagation", arXiv:2002.11018, 2020):

* a ``BatchNormalization`` that directly follows a linear ``Conv2D``/``Dense`` (no activation
  in between, and nothing else reading the convolution's output) is folded into it:
  ``W' = W * s``, ``b' = b * s + t`` with ``s = gamma / sqrt(var + eps)``,
  ``t = beta - mean * s`` (on tensors computed from the variables, never on the layer);
* any other ``BatchNormalization`` (after a ReLU, after an ``Add``, at the start) becomes an
  elementwise affine op ``y = x * s + t`` that the rules treat like a linear layer with a
  diagonal kernel (see ``bn_rule`` of :class:`xai_lab.explain.lrp.LRP`);
* a final softmax (``Activation("softmax")``, ``Softmax`` or ``activation="softmax"`` on the
  last ``Dense``) is stripped: the pre-softmax logit is explained, like
  ``innvestigate.model_wo_softmax`` (Alber et al., JMLR 20(93), 2019).

Nested functional or Sequential models (single input, single output) are inlined. A layer
of another class that computes a convolution with a kernel derived from its weights, or a
per-channel scale, says so through a method ``lrp_linear() -> (kind, config, params)``
(``kind`` ``"conv"`` with the Conv2D ``config`` of strides, padding, dilations, or
``"scale"``; ``params()`` returns ``(kernel, bias or None)``, or ``(s, t)`` for a scale):
it becomes that op, and a scale folds into the convolution before it like a BatchNorm (the
p4 group convolutions of :mod:`xai_lab.models.equivariant`). Any other layer raises
:class:`~xai_lab.explain.base.UnsupportedModelError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...models.working_set import largest_elements
from ..base import UnsupportedModelError

#: Layer classes (by Keras class name) the LRP explainers understand.
SUPPORTED_LAYERS: tuple[str, ...] = (
    "InputLayer",
    "Conv2D",
    "Dense",
    "BatchNormalization",
    "ReLU",
    "Activation (relu, linear; softmax only as the last layer)",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Reshape",
    "Add",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "Identity",
    "Softmax (last layer only)",
    "nested functional/Sequential models of these",
    "layers with an lrp_linear() method (P4LiftingConv2D, P4GroupConv2D, "
    "P4BatchNormalization, RotationPooling('mean'))",
)

_IDENTITY_LAYERS = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
)


@dataclass
class Op:
    """One operation of the canonical graph.

    ``kind`` is one of ``"linear"`` (with ``linear`` in ``"conv"``, ``"dense"``, ``"scale"``),
    ``"relu"``, ``"maxpool"``, ``"avgpool"``, ``"gap"``, ``"gmp"``, ``"reshape"``, ``"add"``,
    ``"identity"``. ``inputs``/``output`` are tensor ids (0 is the model input).
    ``params()`` returns ``(kernel, bias or None)`` as float32 tensors read from the model's
    variables (folded BatchNorm included); call it inside a ``tf.function``.
    """

    kind: str
    name: str
    layer_class: str
    inputs: tuple[int, ...]
    output: int
    linear: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    params: Callable[[], tuple[Any, Any]] | None = None
    activation: str = "linear"
    first: bool = False
    folded: tuple[str, ...] = ()
    #: The output's shape for one image (no batch axis); None where the model leaves a size open.
    shape: tuple[int | None, ...] = ()


@dataclass
class CanonicalGraph:
    """The canonical graph: ops in topological order, input id 0, one output id."""

    ops: list[Op]
    output: int
    input_shape: tuple[int | None, ...]
    stripped_softmax: bool = False

    def consumers(self, tensor: int) -> list[Op]:
        return [op for op in self.ops if tensor in op.inputs]

    def largest_tensor(self, image_shape: tuple[int, ...]) -> int:
        """Elements per image of the largest tensor of the forward pass (the input included)
        for images of ``image_shape`` (H, W, C).

        A size the model leaves open counts as the image's larger side: no supported op makes
        an image larger, so this is an upper bound.
        """
        return largest_elements([op.shape for op in self.ops], image_shape)

    def describe(self) -> str:
        lines = []
        for op in self.ops:
            extra = f" +{'+'.join(op.folded)}" if op.folded else ""
            act = f" ({op.activation})" if op.kind == "linear" and op.activation != "linear" else ""
            first = " [first]" if op.first else ""
            kind = f"{op.kind}:{op.linear}" if op.linear else op.kind
            lines.append(f"{op.name}{extra}: {kind}{act}{first} {op.inputs} -> {op.output}")
        return "\n".join(lines)


def _unsupported(layer: Any, reason: str = "") -> UnsupportedModelError:
    why = f" ({reason})" if reason else ""
    return UnsupportedModelError(
        f"LRP / deep Taylor cannot handle layer {layer.name!r} of class "
        f"{type(layer).__name__}{why}. Supported layers: {', '.join(SUPPORTED_LAYERS)}."
    )


def _activation_name(layer: Any) -> str:
    import keras

    act = getattr(layer, "activation", None)
    if act is None:
        return "linear"
    try:
        return str(keras.activations.serialize(act))
    except (ValueError, TypeError):
        return getattr(act, "__name__", repr(act))


def _var(v: Any) -> Any:
    import tensorflow as tf

    return tf.cast(tf.convert_to_tensor(v), tf.float32)


def _bn_affine(layer: Any) -> Callable[[], tuple[Any, Any]]:
    """``(s, t)`` of a BatchNormalization in inference mode: ``y = x * s + t``."""
    gamma, beta = layer.gamma, layer.beta
    mean, var, eps = layer.moving_mean, layer.moving_variance, float(layer.epsilon)

    def params() -> tuple[Any, Any]:
        import tensorflow as tf

        s = tf.math.rsqrt(_var(var) + eps)
        if gamma is not None:
            s = s * _var(gamma)
        t = -_var(mean) * s
        if beta is not None:
            t = t + _var(beta)
        return s, t

    return params


def _layer_params(layer: Any) -> Callable[[], tuple[Any, Any]]:
    kernel = layer.kernel
    bias = layer.bias if getattr(layer, "use_bias", False) else None

    def params() -> tuple[Any, Any]:
        return _var(kernel), (None if bias is None else _var(bias))

    return params


def _fold(linear: Callable[[], tuple[Any, Any]], bn: Callable[[], tuple[Any, Any]]):
    def params() -> tuple[Any, Any]:
        w, b = linear()
        s, t = bn()
        b2 = t if b is None else b * s + t
        return w * s, b2  # s broadcasts over the last (output) axis of the kernel

    return params


class _Builder:
    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.next_id = 1
        self.keep: list[Any] = []  # keep Keras tensors alive so that their ids stay unique

    def new_id(self) -> int:
        i = self.next_id
        self.next_id += 1
        return i

    def walk(self, model: Any, input_id: int, top: bool) -> tuple[int, bool]:
        """Add the ops of ``model`` reading tensor ``input_id``; return (output id, stripped)."""
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise UnsupportedModelError(
                f"LRP / deep Taylor needs a model with one input and one output; "
                f"{model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs"
            )
        mapping: dict[int, int] = {id(model.inputs[0]): input_id}
        self.keep.append(model.inputs[0])
        stripped = False
        out_tensor = model.outputs[0]
        if top:
            out_tensor, stripped = self._strip_softmax(out_tensor)
        order = self._topological(out_tensor, mapping)
        for tensor in order:
            self._add(tensor, mapping, strip_activation=top and stripped == "activation"
                      and tensor is out_tensor)
        return mapping[id(out_tensor)], bool(stripped)

    @staticmethod
    def _strip_softmax(tensor: Any) -> tuple[Any, Any]:
        layer = tensor._keras_history[0]
        cls = type(layer).__name__
        if cls == "Softmax" or (cls == "Activation" and _activation_name(layer) == "softmax"):
            node = layer._inbound_nodes[tensor._keras_history[1]]
            return node.input_tensors[0], "layer"
        if cls in ("Dense", "Conv2D") and _activation_name(layer) == "softmax":
            return tensor, "activation"
        return tensor, False

    def _topological(self, out_tensor: Any, mapping: dict[int, int]) -> list[Any]:
        order: list[Any] = []
        seen: set[int] = set(mapping)
        stack: list[tuple[Any, bool]] = [(out_tensor, False)]
        while stack:
            tensor, expanded = stack.pop()
            if id(tensor) in seen and not expanded:
                continue
            if expanded:
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    order.append(tensor)
                continue
            stack.append((tensor, True))
            layer, node_index, _ = tensor._keras_history
            node = layer._inbound_nodes[node_index]
            for parent in node.input_tensors:
                if id(parent) not in seen:
                    stack.append((parent, False))
        return order

    def _add(self, tensor: Any, mapping: dict[int, int], strip_activation: bool) -> None:
        import keras

        self.keep.append(tensor)
        layer, node_index, tensor_index = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        cls = type(layer).__name__
        if cls == "InputLayer":
            raise UnsupportedModelError(
                f"LRP / deep Taylor needs a model with one input; found another input "
                f"{layer.name!r}"
            )
        inputs = tuple(mapping[id(t)] for t in node.input_tensors)
        if isinstance(layer, keras.Model):
            if cls not in ("Functional", "Sequential", "Model"):
                raise _unsupported(layer, "a subclassed model: its graph cannot be read")
            if len(inputs) != 1:
                raise _unsupported(layer, "a nested model with several inputs")
            out, _ = self.walk(layer, inputs[0], top=False)
            mapping[id(tensor)] = out
            return
        if len(node.output_tensors) != 1 or tensor_index != 0:
            raise _unsupported(layer, "a layer with several outputs")
        out = self.new_id()
        mapping[id(tensor)] = out
        op = self._op(layer, cls, inputs, out, strip_activation,
                      tuple(node.input_tensors[0].shape), tuple(tensor.shape))
        op.shape = tuple(None if d is None else int(d) for d in tensor.shape[1:])
        self.ops.append(op)

    def _op(self, layer: Any, cls: str, inputs: tuple[int, ...], out: int, strip: bool,
            in_shape: tuple, out_shape: tuple) -> Op:
        name = layer.name
        if cls in ("Conv2D", "Dense"):
            act = "linear" if strip else _activation_name(layer)
            if act not in ("linear", "relu"):
                raise _unsupported(layer, f"activation {act!r}; only relu and linear are")
            config: dict[str, Any] = {}
            if cls == "Conv2D":
                if getattr(layer, "groups", 1) != 1:
                    raise _unsupported(layer, "grouped convolution")
                if layer.data_format != "channels_last":
                    raise _unsupported(layer, "data_format must be channels_last")
                config = {
                    "strides": tuple(int(s) for s in layer.strides),
                    "padding": layer.padding.upper(),
                    "dilations": tuple(int(d) for d in layer.dilation_rate),
                }
            elif len(in_shape) != 2:
                raise _unsupported(layer, "Dense on a tensor of rank > 2; add a Flatten")
            return Op("linear", name, cls, inputs, out, linear="conv" if cls == "Conv2D" else "dense",
                      config=config, params=_layer_params(layer), activation=act)
        if cls == "BatchNormalization":
            axis = layer.axis if isinstance(layer.axis, int) else None
            rank = len(in_shape)
            if axis is None or axis not in (-1, rank - 1):
                raise _unsupported(layer, f"axis {layer.axis}; only the last (channel) axis is")
            return Op("linear", name, cls, inputs, out, linear="scale", params=_bn_affine(layer))
        if cls == "ReLU":
            cfg = layer.get_config()
            if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get(
                "threshold", 0
            ):
                raise _unsupported(
                    layer,
                    f"ReLU with max_value={cfg.get('max_value')}, negative_slope="
                    f"{cfg.get('negative_slope')}, threshold={cfg.get('threshold')}; only the "
                    "plain ReLU is",
                )
            return Op("relu", name, cls, inputs, out)
        if cls == "Activation":
            act = _activation_name(layer)
            if act == "relu":
                return Op("relu", name, cls, inputs, out)
            if act == "linear":
                return Op("identity", name, cls, inputs, out)
            raise _unsupported(layer, f"activation {act!r}")
        if cls in ("MaxPooling2D", "AveragePooling2D"):
            if layer.data_format != "channels_last":
                raise _unsupported(layer, "data_format must be channels_last")
            config = {
                "ksize": tuple(int(s) for s in layer.pool_size),
                "strides": tuple(int(s) for s in layer.strides),
                "padding": layer.padding.upper(),
            }
            kind = "maxpool" if cls == "MaxPooling2D" else "avgpool"
            return Op(kind, name, cls, inputs, out, config=config)
        if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            if layer.data_format != "channels_last":
                raise _unsupported(layer, "data_format must be channels_last")
            kind = "gap" if cls == "GlobalAveragePooling2D" else "gmp"
            return Op(kind, name, cls, inputs, out, config={"keepdims": bool(layer.keepdims)})
        if cls in ("Flatten", "Reshape"):
            if any(d is None for d in out_shape[1:]):
                raise _unsupported(layer, f"output shape {out_shape} is not fully known")
            shape = tuple(int(d) for d in out_shape[1:])
            return Op("reshape", name, cls, inputs, out, config={"shape": shape})
        if cls == "Add":
            return Op("add", name, cls, inputs, out)
        if cls in _IDENTITY_LAYERS:
            return Op("identity", name, cls, inputs, out)
        if callable(getattr(layer, "lrp_linear", None)):
            try:
                kind, config, params = layer.lrp_linear()
            except ValueError as exc:  # the layer's reason, e.g. max pooling over rotations
                raise _unsupported(layer, str(exc)) from exc
            if kind not in ("conv", "scale"):
                raise _unsupported(layer, f"lrp_linear() kind {kind!r}; only conv and scale are")
            return Op("linear", name, cls, inputs, out, linear=kind, config=dict(config),
                      params=params)
        raise _unsupported(layer)


def canonize(model: Any, fold_batchnorm: bool = True) -> CanonicalGraph:
    """The canonical LRP graph of ``model`` (which is only read).

    ``fold_batchnorm=False`` keeps every BatchNorm as an elementwise affine op.

    Raises
    ------
    UnsupportedModelError
        For a layer outside :data:`SUPPORTED_LAYERS`, naming the layer and its class.
    """
    if not getattr(model, "inputs", None) or not getattr(model, "outputs", None):
        raise UnsupportedModelError(
            "LRP / deep Taylor needs a built functional or Sequential model with an explicit "
            "keras.Input (model.inputs/model.outputs are undefined)"
        )
    builder = _Builder()
    output, stripped = builder.walk(model, 0, top=True)
    ops = _fold_batchnorm(builder.ops, output) if fold_batchnorm else builder.ops
    _mark_first(ops)
    shape = tuple(None if d is None else int(d) for d in model.inputs[0].shape)
    if len(shape) != 4:
        raise UnsupportedModelError(
            f"LRP / deep Taylor explains image models with (N, H, W, C) input; got {shape}"
        )
    return CanonicalGraph(ops, output, shape, stripped_softmax=stripped)


def _fold_batchnorm(ops: list[Op], output: int) -> list[Op]:
    """Fold each BatchNorm into the linear Conv2D/Dense right before it (a new op)."""
    producers = {op.output: op for op in ops}
    n_consumers: dict[int, int] = {}
    for op in ops:
        for i in op.inputs:
            n_consumers[i] = n_consumers.get(i, 0) + 1
    result: list[Op] = []
    removed: set[int] = set()
    for op in ops:
        if op.kind == "linear" and op.linear == "scale":
            prev = producers.get(op.inputs[0])
            if (
                prev is not None
                and prev.kind == "linear"
                and prev.linear in ("conv", "dense")
                and prev.activation == "linear"
                and n_consumers.get(prev.output, 0) == 1
                and prev.output != output
                and id(prev) not in removed
            ):
                removed.add(id(prev))
                fused = Op(
                    "linear",
                    prev.name,
                    prev.layer_class,
                    prev.inputs,
                    op.output,
                    linear=prev.linear,
                    config=prev.config,
                    params=_fold(prev.params, op.params),
                    activation="linear",
                    folded=(op.name,),
                    shape=op.shape,
                )
                idx = next(k for k, r in enumerate(result) if r is prev)
                result[idx] = fused
                continue
        result.append(op)
    return result


def _mark_first(ops: list[Op]) -> None:
    """Mark the linear ops that read the model input (through reshapes/identities only)."""
    pure = {0}
    for op in ops:
        if op.kind in ("reshape", "identity") and op.inputs[0] in pure:
            pure.add(op.output)
        elif op.kind == "linear" and op.linear in ("conv", "dense") and op.inputs[0] in pure:
            op.first = True


def forward(graph: CanonicalGraph, x: Any) -> Any:
    """The canonical graph's output (logits) for ``x``; equals the model's pre-softmax output."""
    from .propagate import forward_activations

    return forward_activations(graph, x)[graph.output]
