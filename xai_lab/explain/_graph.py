"""Reading a Keras 3 model as a graph, without changing it.

General helpers shared by the explainers (Grad-CAM, the gradient family, SHAP, tf-explain
adapters; reusable by LRP):

- :func:`spatial_layers` / :func:`last_spatial_layer` / :func:`resolve_layer` find layers with a
  4-D output, also inside nested models (a ``keras.applications`` backbone used as a layer)
  and Sequential models; a nested layer is named by its path, ``"backbone/inner_name"``.
- :func:`run_graph` executes a model layer by layer (in inference mode) on any tensors,
  returning its output and the outputs of chosen layers ("taps"), descending into nested
  models only where a tap lies inside them.
- :func:`activation_model` builds (and caches) a new functional ``keras.Model`` mapping the
  model's input to ``(activation of a layer, logits)``; :func:`functional_view` gives a
  functional model with the same layers for a Sequential one.
- :func:`forward_function` / :func:`gradient_function` are ``tf.function``-compiled forward
  and input-gradient passes, traced once per model (input signature with a free batch size).
- :func:`chunk_size` (from :mod:`xai_lab.models.working_set`) says how many images one compiled
  call may take: at most the method's ``batch_size`` and no more than keep the largest
  activation within ``WORKING_SET_BYTES``.

The user's model is never modified: new graphs only *call* its layers (sharing weights); no
layer is added to it, no weight or activation is changed. Caches are keyed weakly by the model.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from ..models.working_set import (  # noqa: F401  (the explainers read them from here)
    chunk_size,
    largest_activation,
    leaf_layers,
)
from .base import UnsupportedModelError

_CACHE: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()


def model_cache(model: Any) -> dict[Any, Any]:
    """A per-model dictionary that lives as long as the model (for compiled functions)."""
    try:
        return _CACHE.setdefault(model, {})
    except TypeError:  # not weak-referenceable: no caching
        return {}


def _keras():
    import keras

    return keras


def is_model(layer: Any) -> bool:
    return isinstance(layer, _keras().Model)


def is_sequential(model: Any) -> bool:
    return isinstance(model, _keras().Sequential)


def _output_rank(layer: Any) -> int | None:
    try:
        out = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(out, (list, tuple)):
        return None
    return len(out.shape)


def _children(model: Any) -> list[Any]:
    """The model's layers in execution order, without its input layers."""
    keras = _keras()
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def spatial_layers(model: Any, prefix: str = "") -> list[str]:
    """Paths of all layers with a 4-D output, in execution order, nested models included."""
    paths: list[str] = []
    for layer in _children(model):
        path = prefix + layer.name
        if is_model(layer):
            paths.extend(spatial_layers(layer, path + "/"))
        if _output_rank(layer) == 4:
            paths.append(path)
    return paths


def last_spatial_layer(model: Any) -> str:
    """Path of the last layer with a 4-D (N, h, w, c) output (Grad-CAM's default layer).

    A nested model whose output is 4-D (a backbone with ``include_top=False``) is itself that
    layer; otherwise the search descends into it.
    """
    for layer in reversed(_children(model)):
        if _output_rank(layer) == 4:
            return layer.name
        if is_model(layer):
            try:
                return f"{layer.name}/{last_spatial_layer(layer)}"
            except UnsupportedModelError:
                continue
    raise UnsupportedModelError(
        f"model {model.name!r} has no layer with a 4-D (N, h, w, c) output after its input; "
        "a spatial method such as Grad-CAM needs a convolutional layer"
    )


def get_layer(model: Any, path: str) -> Any:
    """The layer at ``path`` (``"name"`` or ``"outer/inner"``)."""
    layer = model
    for part in path.split("/"):
        if not is_model(layer):
            raise KeyError(path)
        matches = [child for child in _children(layer) if child.name == part]
        if not matches:
            raise KeyError(path)
        layer = matches[0]
    return layer


def resolve_layer(model: Any, name: str) -> str:
    """The path of the layer ``name``: a path, or a bare name found anywhere (if unique)."""
    try:
        get_layer(model, name)
        return name
    except KeyError:
        pass
    found = [p for p in _all_paths(model) if p.rsplit("/", 1)[-1] == name]
    if len(found) == 1:
        return found[0]
    candidates = spatial_layers(model)
    if len(found) > 1:
        raise ValueError(f"layer name {name!r} is ambiguous in model {model.name!r}: {found}")
    raise ValueError(
        f"no layer {name!r} in model {model.name!r}; layers with a 4-D output: "
        f"{', '.join(candidates) if candidates else '(none)'}"
    )


def _all_paths(model: Any, prefix: str = "") -> list[str]:
    paths = []
    for layer in _children(model):
        path = prefix + layer.name
        paths.append(path)
        if is_model(layer):
            paths.extend(_all_paths(layer, path + "/"))
    return paths


def _call(layer: Any, args: tuple, kwargs: dict) -> Any:
    if "training" in getattr(layer, "_call_context_args", ()) or getattr(
        layer, "_call_has_training_arg", False
    ):
        kwargs = {**kwargs, "training": False}
    return layer(*args, **kwargs)


def run_graph(model: Any, inputs: Any, taps: list[str] | tuple[str, ...] = ()) -> tuple[Any, dict]:
    """Run ``model`` on ``inputs`` (inference mode), collecting the outputs of ``taps``.

    Returns ``(output, {path: tensor})``. Works on symbolic ``keras.Input`` tensors (to build a
    new functional model) as well as on concrete tensors (inside a ``tf.function``).
    Only nested models that contain a tap are executed layer by layer.
    """
    found: dict[str, Any] = {}
    output = _run(model, inputs, tuple(taps), "", found)
    missing = [t for t in taps if t not in found]
    if missing:
        raise ValueError(f"layer(s) {missing} of model {model.name!r} were not reached")
    if isinstance(output, (list, tuple)):
        output = output[0]
    return output, found


def _run(model: Any, inputs: Any, taps: tuple[str, ...], prefix: str, found: dict) -> Any:
    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        path = prefix + layer.name
        if is_model(layer) and any(t.startswith(path + "/") for t in taps):
            out = _run(layer, args[0], taps, path + "/", found)
        else:
            out = _call(layer, args, kwargs)
        if path in taps:
            found[path] = out
        return out

    if is_sequential(model):
        x = inputs
        for layer in _children(model):
            x = call(layer, x)
        return x
    if not hasattr(model, "_run_through_graph"):
        raise UnsupportedModelError(
            f"model {model.name!r} ({type(model).__name__}) is neither functional nor Sequential; "
            "subclassed models cannot be read layer by layer"
        )
    return model._run_through_graph(
        inputs, operation_fn=lambda op: op, call_fn=lambda op, *a, **k: call(op, *a, **k)
    )


#: Activations whose output can be negative.
_SIGNED_ACTIVATIONS = {"linear", "tanh", "elu", "selu", "gelu", "silu", "swish", "leaky_relu",
                       "mish", "softsign", "hard_silu", "hard_swish"}
_PASS_THROUGH = ("MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling2D",
                 "Dropout", "SpatialDropout2D", "ZeroPadding2D", "Cropping2D", "UpSampling2D",
                 "Reshape", "Flatten", "Identity")


def rectified(model: Any, path: str) -> bool:
    """False when the layer at ``path`` can output negative values by construction.

    A convolution or Dense layer without activation and a normalisation layer (BatchNorm,
    LayerNorm) can; a ReLU, a layer with a non-negative activation, and pooling, dropout or
    padding of such a layer cannot. Layers this cannot tell about count as rectified.
    """
    try:
        layer = get_layer(model, path)
    except KeyError:
        return True
    for _ in range(8):
        kind = type(layer).__name__
        if kind == "ReLU":
            return float(getattr(layer, "negative_slope", 0.0) or 0.0) == 0.0
        activation = getattr(layer, "activation", None)
        if activation is not None:
            return getattr(activation, "__name__", str(activation)) not in _SIGNED_ACTIVATIONS
        if kind in ("BatchNormalization", "LayerNormalization", "GroupNormalization"):
            return False
        if kind not in _PASS_THROUGH:
            return True
        try:
            layer = layer.input._keras_history.operation
        except (AttributeError, ValueError):
            return True
    return True


def input_shape(model: Any) -> tuple[int, ...]:
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise UnsupportedModelError(
            f"model {model.name!r} has a free input size {shape}; explainers need a fixed one"
        )
    return tuple(int(d) for d in shape)


def activation_model(model: Any, layer: str) -> Any:
    """A new functional model ``input -> (activation of layer, logits)`` (cached per model).

    The model is not modified: the new graph calls its layers (sharing their weights).
    """
    cache = model_cache(model)
    key = ("activation_model", layer)
    if key not in cache:
        keras = _keras()
        inp = keras.Input(shape=input_shape(model), dtype="float32")
        out, taps = run_graph(model, inp, [layer])
        cache[key] = keras.Model(inp, [taps[layer], out], name=f"{model.name}_activation")
    return cache[key]


def functional_view(model: Any) -> Any:
    """``model`` itself if functional; for a Sequential one a functional model of its layers."""
    if not is_sequential(model):
        return model
    cache = model_cache(model)
    if "functional_view" not in cache:
        keras = _keras()
        inp = keras.Input(shape=input_shape(model), dtype="float32")
        out, _ = run_graph(model, inp)
        cache["functional_view"] = keras.Model(inp, out, name=f"{model.name}_functional")
    return cache["functional_view"]


def _signature(model: Any) -> Any:
    import tensorflow as tf

    return tf.TensorSpec((None, *input_shape(model)), tf.float32)


def forward_function(model: Any) -> Callable[[Any], Any]:
    """A compiled ``x -> logits`` (inference mode), traced once per model."""
    cache = model_cache(model)
    if "forward" not in cache:
        import tensorflow as tf

        ref = weakref.ref(model)  # no strong reference from the cache value to its key

        @tf.function(input_signature=[_signature(model)])
        def forward(x):
            out = ref()(x, training=False)
            return out[0] if isinstance(out, (list, tuple)) else out

        cache["forward"] = forward
    return cache["forward"]


def gradient_function(model: Any) -> Callable[[Any, Any], Any]:
    """A compiled ``(x, targets) -> (d logit[target] / d x, logits)``, traced once per model."""
    cache = model_cache(model)
    if "gradient" not in cache:
        import tensorflow as tf

        ref = weakref.ref(model)

        @tf.function(input_signature=[_signature(model), tf.TensorSpec((None,), tf.int32)])
        def gradient(x, targets):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = ref()(x, training=False)
                out = out[0] if isinstance(out, (list, tuple)) else out
                score = tf.gather(out, targets, axis=1, batch_dims=1)
            return tape.gradient(score, x), out

        cache["gradient"] = gradient
    return cache["gradient"]


def batches(n: int, size: int):
    """Slices covering ``range(n)`` in chunks of ``size``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
