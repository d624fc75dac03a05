"""Grad-CAM and Grad-CAM++: class activation maps weighted by gradients.

The explained layer is the last layer with a 4-D output (found inside nested backbones and
Sequential models too), or the one named by ``layer`` (``"name"`` or ``"backbone/inner_name"``).
A new functional model ``input -> (activation, logits)`` is built over the user's layers
(never modifying the model) and cached per model and layer, together with a ``tf.function``
traced once (free batch size) that returns the activations and the gradients of the target
logit. Maps are ReLU'd, kept at the layer's resolution in ``raw_maps`` and bilinearly
upsampled (``tf.image.resize``, half-pixel centres) to the input size in ``maps``. Scores are
the model's logits (pre-softmax), as in the paper. Maps are not normalised: use
``Explanation.normalized()``. An all-zero map stays zero.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from . import _graph
from .base import Explainer, MapResult, register
from .info import MethodInfo


class GradCAM(Explainer):
    """Gradient-weighted class activation mapping.

    ``L = ReLU(sum_k w_k A_k)`` with ``w_k`` the spatial mean of ``d y_c / d A_k``.

    Parameters
    ----------
    layer : str, optional
        The layer to explain; default the last layer with a 4-D output. Grad-CAM is defined on
        rectified feature maps (a ReLU's output): a convolution's output before its
        normalisation and activation can be negative everywhere and often gives blank maps.
    contrast : bool
        Explain the contrastive score ``y_c - mean_{k != c} y_k`` (for two classes the log-odds
        ``y_c - y_other``, what a softmax decision depends on) instead of the logit ``y_c``:
        "why this class rather than the others". A softmax is unchanged when the same number
        is added to every logit, so a class can be predicted with a negative logit; its plain
        Grad-CAM (and deep Taylor) map is then often zero everywhere, the contrastive one not.
    batch_size : int
        At most this many images per compiled call; fewer for large images
        (:func:`~xai_lab.explain._graph.chunk_size`).

    References
    ----------
    Selvaraju, R. R., et al. (2017). Grad-CAM: Visual explanations from deep networks via
    gradient-based localization. ICCV. https://arxiv.org/abs/1610.02391
    """

    name = "gradcam"
    info = MethodInfo(
        "Grad-CAM", signed=False,
        meaning="where the feature maps of layer {layer} raise the score of {target} "
                "(positive evidence only, at the layer's resolution)",
        high="raises the score of {target}", low="no positive evidence",
    )
    reference = "Selvaraju et al. (2017), Grad-CAM, ICCV"
    plus_plus = False

    def __init__(self, layer: str | None = None, contrast: bool = False, batch_size: int = 64) -> None:
        super().__init__(layer=layer, contrast=bool(contrast), batch_size=batch_size)
        self.layer = layer
        self.contrast = bool(contrast)
        self.batch_size = int(batch_size)
        if self.contrast:
            base = type(self).info
            self.info = replace(
                base, title=f"{base.title} (contrastive)",
                meaning=base.meaning.replace("raise the score of {target}",
                                             "raise the score of {target} above the other classes'"),
                high="raises {target} above the other classes",
                low="no evidence for {target} over the others",
            )

    def check_model(self, model: Any) -> None:
        self._layer_path(model)

    def degenerate_reason(self, code: str, heatmap: np.ndarray, logits: np.ndarray, target: int,
                          prediction: int, layer: str | None, model: Any) -> str:
        if code != "zero":
            return super().degenerate_reason(code, heatmap, logits, target, prediction, layer, model)
        text = (f"no positive evidence for {{target}} at layer {layer}: {self.title} is zero "
                "everywhere (the gradient-weighted feature maps are negative or zero at every "
                "position, and Grad-CAM keeps only their positive part)")
        if layer is not None and not _graph.rectified(model, layer):
            text += (f"; layer {layer} can output negative values (a convolution or normalisation "
                     "before its activation): Grad-CAM is defined on rectified feature maps, "
                     "explain the activation after it")
        return text

    def _layer_path(self, model: Any) -> str:
        if self.layer is None:
            return _graph.last_spatial_layer(model)
        return _graph.resolve_layer(model, self.layer)

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        layer = self._layer_path(model)
        fn = cam_function(model, layer, self.plus_plus, self.contrast)
        raws, maps = [], []
        for s in _graph.batches(len(x), _graph.chunk_size(model, x.shape[1:], self.batch_size)):
            raw, up = fn(x[s], targets[s].astype(np.int32))
            raws.append(raw.numpy())
            maps.append(up.numpy())
        return MapResult(
            maps=np.concatenate(maps).astype(np.float32),
            raw_maps=np.concatenate(raws).astype(np.float32),
            layer=layer,
        )


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++: pixel-wise weighting of positive gradients.

    ``w_k = sum_ij alpha_ij ReLU(g_ij)`` with
    ``alpha_ij = g_ij^2 / (2 g_ij^2 + sum_ab A_ab g_ij^3)`` (zero where the denominator is
    zero), ``g = d y_c / d A_k`` of the logit. The paper's exponential output ``exp(y_c)`` only
    scales each map by a positive constant and is omitted (as in pytorch-grad-cam).

    References
    ----------
    Chattopadhay, A., et al. (2018). Grad-CAM++: Generalized gradient-based visual explanations
    for deep convolutional networks. WACV. https://arxiv.org/abs/1710.11063
    """

    name = "gradcam++"
    info = MethodInfo(
        "Grad-CAM++", signed=False,
        meaning="where the feature maps of layer {layer} raise the score of {target}, each "
                "position's positive gradient weighted (positive evidence only, at the layer's "
                "resolution)",
        high="raises the score of {target}", low="no positive evidence",
    )
    reference = "Chattopadhay et al. (2018), Grad-CAM++, WACV"
    plus_plus = True


def cam_function(model: Any, layer: str, plus_plus: bool, contrast: bool = False) -> Any:
    """The compiled ``(x, targets) -> (raw maps, upsampled maps)`` for a model and layer.

    ``contrast``: the score is ``y_c - mean_{k != c} y_k`` instead of ``y_c``.
    """
    cache = _graph.model_cache(model)
    key = ("cam", layer, plus_plus, contrast)
    if key not in cache:
        import tensorflow as tf

        grad_model = _graph.activation_model(model, layer)
        height, width = _graph.input_shape(model)[:2]

        @tf.function(
            input_signature=[
                tf.TensorSpec((None, *_graph.input_shape(model)), tf.float32),
                tf.TensorSpec((None,), tf.int32),
            ]
        )
        def cam(x, targets):
            with tf.GradientTape() as tape:
                activation, logits = grad_model(x, training=False)
                score = tf.gather(logits, targets, axis=1, batch_dims=1)
                if contrast:
                    k = tf.cast(tf.shape(logits)[1], logits.dtype)
                    others = (tf.reduce_sum(logits, axis=1) - score) / tf.maximum(k - 1.0, 1.0)
                    score = score - others
            grads = tape.gradient(score, activation)
            if plus_plus:
                g2 = tf.square(grads)
                g3 = g2 * grads
                total = tf.reduce_sum(activation, axis=(1, 2), keepdims=True)
                denom = 2.0 * g2 + total * g3
                alpha = tf.math.divide_no_nan(g2, denom)
                weights = tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2), keepdims=True)
            else:
                weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            raw = tf.nn.relu(tf.reduce_sum(weights * activation, axis=-1))
            up = tf.image.resize(raw[..., None], (height, width), method="bilinear")[..., 0]
            return raw, tf.nn.relu(up)

        cache[key] = cam
    return cache[key]


register()(GradCAM)
register()(GradCAMPlusPlus)
