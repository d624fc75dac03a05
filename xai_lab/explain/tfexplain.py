"""Adapters that call tf-explain 0.3.1 itself, for comparison in the course.

tf-explain (unmaintained since 2022) was written for tf.keras 2 models that output
probabilities, and renders its results as coloured grids. These adapters call its own
computational static methods and return the numbers it computes *before* its display steps
(colour maps, per-image min-max or standardisation, uint8 casting), so they can be compared
with this package's methods:

- ``tfexplain.gradcam``: ``GradCAM.get_gradients_and_filters`` + ``generate_ponderated_output``
  (tf-explain's defaults: guided gradients on; no ReLU), upsampled with ``cv2.resize`` as its
  ``heatmap_display`` does. tf-explain cannot find the layer itself on Keras 3 (it reads the
  removed ``output_shape``), so we pass the last 4-D layer (or ``layer``).
- ``tfexplain.smoothgrad``: ``SmoothGrad.generate_noisy_images`` + ``get_averaged_gradients``;
  the gradient is that of its cross-entropy loss treating the model's outputs as
  probabilities (our models output logits, so this differs from gradients of the logit).
  The map is ``sum_c |gradient|``, what tf-explain displays before standardising.
- ``tfexplain.integrated_gradients``: ``generate_interpolations`` + ``get_integrated_gradients``
  (black baseline; tf-explain averages the path gradients and does not multiply them by
  ``x - baseline``). The map is ``sum_c |average gradient|``.
- ``tfexplain.occlusion``: ``OcclusionSensitivity.get_sensitivity_map``: ``1 - score`` of the
  target with each patch hidden by the value 127.5 (tf-explain assumes 0-255 images; our
  inputs are in [0, 1], so the patch is far out of range), one patch per ``patch_size`` cell
  without overlap, resized by OpenCV.

``class_index`` is one int per tf-explain call, so images are grouped by target.
Models tf-explain cannot handle raise :class:`UnsupportedModelError`: Sequential models
(tf-explain reads ``model.output``, which Keras 3 Sequential models do not provide), and
layers inside nested models (tf-explain reads ``model.get_layer(name).output``, which for a
backbone used as a layer belongs to the backbone's own graph).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import numpy as np

from . import _graph
from .base import Explainer, MapResult, UnsupportedModelError, register
from .info import MethodInfo
from .shap_methods import seeded_numpy

REFERENCE = "Meudec, R. (2021). tf-explain (0.3.1). https://github.com/sicara/tf-explain"


def _needs_output(model: Any, method: str) -> None:
    if _graph.is_sequential(model):
        raise UnsupportedModelError(
            f"tf-explain's {method} cannot explain Sequential model {model.name!r}: it reads "
            "model.output, which Keras 3 Sequential models do not have; wrap it as "
            "keras.Model(model.inputs, model.outputs[0]) or use this package's method"
        )


def _by_target(targets: np.ndarray):
    for t in np.unique(targets):
        yield int(t), np.flatnonzero(targets == t)


@register()
class TFExplainGradCAM(Explainer):
    """tf-explain's Grad-CAM (Selvaraju et al. 2017), raw ponderated output.

    Parameters
    ----------
    layer : str, optional
        Layer name (top level of the model); default the last layer with a 4-D output.
    use_guided_grads : bool
        tf-explain's default ``True`` keeps only positive gradients where the activation is
        positive (not the paper's Grad-CAM).
    """

    name = "tfexplain.gradcam"
    info = MethodInfo(
        "Grad-CAM (tf-explain)", signed=True,
        meaning="tf-explain's Grad-CAM of the score of {target} at layer {layer}, before its "
                "display steps: guided gradients and no ReLU, so negative values remain",
        high="raises the score of {target}", low="lowers the score of {target}",
    )
    reference = REFERENCE

    def __init__(self, layer: str | None = None, use_guided_grads: bool = True) -> None:
        super().__init__(layer=layer, use_guided_grads=use_guided_grads)
        self.layer, self.use_guided_grads = layer, bool(use_guided_grads)

    def _layer(self, model: Any) -> str:
        path = (
            _graph.last_spatial_layer(model)
            if self.layer is None
            else _graph.resolve_layer(model, self.layer)
        )
        if "/" in path or _graph.is_model(_graph.get_layer(model, path)):
            raise UnsupportedModelError(
                f"tf-explain's GradCAM cannot use layer {path!r} of model {model.name!r}: it is "
                "(inside) a nested model, whose output tf-explain cannot connect to the outer "
                "model's input; use this package's 'gradcam'"
            )
        return path

    def check_model(self, model: Any) -> None:
        _needs_output(model, "GradCAM")
        self._layer(model)

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        import cv2
        from tf_explain.core.grad_cam import GradCAM

        layer = self._layer(model)
        raw: np.ndarray | None = None
        # tf-explain takes one class per call; each call gets at most the images that keep the
        # model's largest activation within the working set (2 of 224x224 under the zoo's cnn).
        step = _graph.chunk_size(model, x.shape[1:], len(x))
        for t, all_idx in _by_target(targets):
            for s in _graph.batches(len(all_idx), step):
                idx = all_idx[s]
                with warnings.catch_warnings():  # tf-explain passes [model.inputs]
                    warnings.filterwarnings("ignore", message=r"(?s).*structure of `inputs`")
                    outputs, grads = GradCAM.get_gradients_and_filters(
                        model, x[idx], layer, t, self.use_guided_grads
                    )
                cams = np.stack([c.numpy() for c in GradCAM.generate_ponderated_output(outputs, grads)])
                if raw is None:
                    raw = np.zeros((len(x), *cams.shape[1:]), np.float32)
                raw[idx] = cams
        height, width = x.shape[1:3]
        maps = np.stack([cv2.resize(m, (width, height)) for m in raw])
        return MapResult(maps=maps, raw_maps=raw, layer=layer)


@register()
class TFExplainSmoothGrad(Explainer):
    """tf-explain's SmoothGrad (Smilkov et al. 2017), with its defaults.

    ``noise`` is tf-explain's absolute standard deviation (default 1.0, on [0, 1] images).
    Each image is explained alone with the NumPy seed ``seed`` (tf-explain draws its noise from
    NumPy's global generator), so batches equal single images.
    """

    name = "tfexplain.smoothgrad"
    info = MethodInfo(
        "SmoothGrad (tf-explain)", signed=False,
        meaning="tf-explain's SmoothGrad: absolute gradients of its cross-entropy loss for "
                "{target}, summed over channels and averaged over noisy copies (sensitivity)",
        high="most sensitive", low="insensitive",
    )
    reference = REFERENCE

    def __init__(self, num_samples: int = 5, noise: float = 1.0, seed: int = 0) -> None:
        super().__init__(num_samples=num_samples, noise=noise, seed=seed)
        self.num_samples, self.noise, self.seed = int(num_samples), float(noise), int(seed)

    def check_model(self, model: Any) -> None:
        _needs_output(model, "SmoothGrad")

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        from tf_explain.core.smoothgrad import SmoothGrad

        grads = np.zeros_like(x)
        for i in range(len(x)):
            with seeded_numpy(self.seed):
                noisy = SmoothGrad.generate_noisy_images(x[i : i + 1], self.num_samples, self.noise)
            grads[i] = SmoothGrad.get_averaged_gradients(
                noisy, model, int(targets[i]), self.num_samples
            ).numpy()[0]
        if not np.all(np.isfinite(grads)):
            raise UnsupportedModelError(
                "tf-explain's SmoothGrad gave non-finite gradients: its loss treats the model's "
                "outputs as probabilities, and this model outputs logits"
            )
        return MapResult(maps=np.abs(grads).sum(axis=-1), attributions=grads)


@register()
class TFExplainIntegratedGradients(Explainer):
    """tf-explain's integrated gradients (Sundararajan et al. 2017), black baseline."""

    name = "tfexplain.integrated_gradients"
    info = MethodInfo(
        "Integrated gradients (tf-explain)", signed=False,
        meaning="tf-explain's integrated gradients: absolute path-averaged gradients of the "
                "score of {target}, not multiplied by the image (sensitivity)",
        high="most sensitive", low="insensitive",
    )
    reference = REFERENCE

    def __init__(self, n_steps: int = 10) -> None:
        if n_steps < 2:
            raise ValueError(f"n_steps must be at least 2 for tf-explain, got {n_steps}")
        super().__init__(n_steps=n_steps)
        self.n_steps = int(n_steps)

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        from tf_explain.core.integrated_gradients import IntegratedGradients

        grads = np.zeros_like(x)
        # One image per call: tf-explain's tf.function then traces once per class, not once
        # per batch size and class.
        for i in range(len(x)):
            paths = IntegratedGradients.generate_interpolations(x[i : i + 1], self.n_steps)
            out = IntegratedGradients.get_integrated_gradients(
                paths.astype(np.float32), model, int(targets[i]), self.n_steps
            )
            grads[i] = out.numpy()[0]
        return MapResult(maps=np.abs(grads).sum(axis=-1), attributions=grads)


@register()
class TFExplainOcclusion(Explainer):
    """tf-explain's occlusion sensitivity (Zeiler & Fergus 2014): ``1 - score`` per patch.

    Parameters
    ----------
    patch_size : int
        Side of the square patch tf-explain greys out.
    batch_size : int, optional
        Patched images per ``model.predict`` batch (None: Keras' 32), fewer where the model's
        largest activation would exceed
        :data:`~xai_lab.models.working_set.WORKING_SET_BYTES`.
    """

    name = "tfexplain.occlusion"
    info = MethodInfo(
        "Occlusion (tf-explain)", signed=True,
        meaning="tf-explain's occlusion: 1 minus the model's output for {target} with the patch "
                "hidden by the value 127.5 (far outside our [0, 1] images)",
        high="hiding it lowers the output for {target}",
        low="hiding it raises the output for {target}",
    )
    reference = REFERENCE

    def __init__(self, patch_size: int = 8, batch_size: int | None = None) -> None:
        if patch_size < 1:
            raise ValueError(f"patch_size must be at least 1, got {patch_size}")
        super().__init__(patch_size=patch_size, batch_size=batch_size)
        self.patch_size, self.batch_size = int(patch_size), batch_size

    def check_model(self, model: Any) -> None:
        shape = _graph.input_shape(model)
        if shape[0] != shape[1]:
            raise UnsupportedModelError(
                f"tf-explain's occlusion resizes its map with height and width swapped; it only "
                f"handles square images, and this model takes {shape[0]}x{shape[1]}"
            )

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        from tf_explain.core.occlusion_sensitivity import OcclusionSensitivity

        per_call = _graph.chunk_size(model, x.shape[1:], self.batch_size or 32)
        method = OcclusionSensitivity(batch_size=per_call)
        maps = np.zeros(x.shape[:3], np.float32)
        # tf-explain calls model.predict, which prints a progress bar: keep it quiet.
        with contextlib.redirect_stdout(io.StringIO()):
            for i in range(len(x)):
                maps[i] = method.get_sensitivity_map(model, x[i], int(targets[i]), self.patch_size)
        return MapResult(maps=maps)
