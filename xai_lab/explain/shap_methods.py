"""SHAP values for images through the ``shap`` library, behind the common API.

One class, ``SHAP``, registered as ``"shap"``, with ``algorithm``:

- ``"gradient"``: ``shap.GradientExplainer`` (expected gradients: gradients at random points
  between a background image and the input, times their difference; Erion et al. 2021).
- ``"deep"``: ``shap.DeepExplainer`` (DeepLIFT-style multipliers averaged over the
  background; Lundberg & Lee 2017). Its TensorFlow back end knows a fixed list of operations:
  LeakyReLU, ReLU6 and depthwise convolutions (MobileNet) are refused with
  :class:`UnsupportedModelError`.
- ``"partition"``: ``shap.Explainer`` with ``shap.maskers.Image`` (Owen values over a
  hierarchy of image regions, hidden regions replaced by the masker), calling a compiled
  forward pass.

The background (the reference the SHAP values are measured against)
------------------------------------------------------------------
SHAP values of a class score sum (approximately, exactly for ``deep``) to
``f(x) - E[f(background)]``: the background decides what "absent" means, and so what the map
shows. It is chosen explicitly with ``background``:

- gradient / deep: an array (M, H, W, C) (or one image (H, W, C)) of reference images in
  [0, 1], ideally a sample of *training* images (e.g. 16-100); ``"zeros"`` (the default) one
  black image, so that the values explain ``f(x) - f(black)`` like integrated gradients with
  a black baseline; or a float, one constant image. We do not draw the background from the
  images being explained: an explanation would then depend on its batch companions. shap's
  deep explainer runs each image with the whole background in one call; where that would
  exceed the working set (large images), :class:`DeepInChunks` runs the background in
  chunks, with the same values.
- partition: the masker's fill for hidden regions: ``"blur"`` (the default; a blur whose
  kernel is a quarter of the image side), ``"inpaint"`` (OpenCV Telea inpainting),
  ``"zeros"``, a float, or an array (H, W, C).

Determinism: the global NumPy random state is seeded with ``seed`` before every shap call
(and restored afterwards); gradient and partition explain one image per call, so explaining a
batch equals explaining each image alone. ``nsamples`` (gradient) and ``max_evals``
(partition) trade accuracy for time. ``maps`` are the sum of the SHAP values over channels;
``attributions`` the per-channel values.

References
----------
Lundberg, S. M., & Lee, S.-I. (2017). A unified approach to interpreting model predictions.
NeurIPS. https://arxiv.org/abs/1705.07874

Erion, G., Janizek, J. D., Sturmfels, P., Lundberg, S. M., & Lee, S.-I. (2021). Improving
performance of deep learning models with axiomatic attribution priors and expected gradients.
Nature Machine Intelligence. https://arxiv.org/abs/1906.10670
"""

from __future__ import annotations

import hashlib
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import _graph
from .base import Explainer, MapResult, UnsupportedModelError, register
from .info import MethodInfo

ALGORITHMS = ("gradient", "deep", "partition")


@contextmanager
def seeded_numpy(seed: int):
    """Seed NumPy's global random state (which shap uses) and restore it afterwards."""
    state = np.random.get_state()  # noqa: NPY002 (shap draws from the global state)
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _deep_unsupported(model: Any) -> list[str]:
    """Layers shap's DeepExplainer (TensorFlow) has no rule for."""
    import keras

    bad = []
    for layer in _graph.leaf_layers(model):
        kind = type(layer).__name__
        activation = getattr(getattr(layer, "activation", None), "__name__", "")
        if isinstance(layer, keras.layers.LeakyReLU) or activation == "leaky_relu":
            bad.append(f"{layer.name} (LeakyReLU)")
        elif isinstance(layer, keras.layers.ReLU) and (
            layer.max_value is not None or layer.negative_slope != 0
        ):
            bad.append(f"{layer.name} (ReLU with max_value/negative_slope, e.g. ReLU6)")
        elif activation in ("relu6", "gelu", "silu", "swish", "hard_sigmoid"):
            bad.append(f"{layer.name} ({activation} activation)")
        elif kind in ("DepthwiseConv2D", "SeparableConv2D", "LayerNormalization"):
            bad.append(f"{layer.name} ({kind})")
    return bad


@register()
class SHAP(Explainer):
    """SHAP values through the ``shap`` library (see the module docstring for the background).

    Parameters
    ----------
    algorithm : {"gradient", "deep", "partition"}
    background : None, str, float or array
        See the module docstring. ``None``: ``"zeros"`` for gradient/deep, ``"blur"`` for
        partition.
    nsamples : int
        Samples per image for ``gradient``.
    max_evals : int
        Model evaluations per image for ``partition``.
    seed : int
        Seed of NumPy's global random state during shap calls.
    batch_size : int
        At most this many images per model call inside shap; fewer where the model's largest
        activation would exceed :data:`~xai_lab.models.working_set.WORKING_SET_BYTES` (see
        :meth:`images_per_call`).
    """

    name = "shap"
    info = MethodInfo(
        "SHAP", signed=True,
        meaning="each pixel's share of the difference between the score of {target} and its "
                "average over the background images",
        high="raised the score of {target}", low="lowered the score of {target}",
    )
    reference = "Lundberg & Lee (2017), A unified approach to interpreting model predictions, NeurIPS"

    def __init__(
        self,
        algorithm: str = "gradient",
        background: Any = None,
        nsamples: int = 64,
        max_evals: int = 500,
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown shap algorithm {algorithm!r}; choose {', '.join(ALGORITHMS)}")
        if background is None:
            background = "blur" if algorithm == "partition" else "zeros"
        valid = ("blur", "inpaint", "zeros") if algorithm == "partition" else ("zeros",)
        if isinstance(background, str) and background not in valid:
            raise ValueError(
                f"background {background!r} is not valid for algorithm {algorithm!r}; use "
                f"{', '.join(valid)}, a float or an array"
            )
        super().__init__(
            algorithm=algorithm,
            background=background,
            nsamples=nsamples,
            max_evals=max_evals,
            seed=seed,
            batch_size=batch_size,
        )
        self.algorithm, self.background = algorithm, background
        self.model_agnostic = algorithm == "partition"  # forward passes only
        self.nsamples, self.max_evals = int(nsamples), int(max_evals)
        self.seed, self.batch_size = int(seed), int(batch_size)

    # ------------------------------------------------------------------ checks
    def check_model(self, model: Any) -> None:
        if self.algorithm == "deep":
            bad = _deep_unsupported(model)
            if bad:
                raise UnsupportedModelError(
                    "shap's DeepExplainer (TensorFlow) has no rule for "
                    f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}; "
                    "use algorithm='gradient' or 'partition'"
                )

    # ------------------------------------------------------------------ background
    def background_images(self, shape: tuple[int, ...]) -> np.ndarray:
        """The background set (M, H, W, C) for gradient/deep."""
        b = self.background
        if isinstance(b, str):  # "zeros"
            return np.zeros((1, *shape), np.float32)
        arr = np.asarray(b, dtype=np.float32)
        if arr.ndim == 0:
            return np.full((1, *shape), float(arr), np.float32)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1:] != tuple(shape):
            raise ValueError(f"background of shape {arr.shape} does not fit images of shape {shape}")
        return arr

    def _mask_value(self, shape: tuple[int, ...]) -> Any:
        b = self.background
        if b == "blur":
            k = max(3, (max(shape[:2]) // 4) | 1)
            return f"blur({k},{k})"
        if b == "inpaint":
            return "inpaint_telea"
        if b == "zeros":
            return 0.0
        arr = np.asarray(b, dtype=np.float32)
        if arr.ndim == 0:
            return float(arr)
        if arr.shape != tuple(shape):
            raise ValueError(f"background of shape {arr.shape} does not fit images of shape {shape}")
        return arr

    def _key(self) -> tuple:
        b = self.background
        if isinstance(b, (str, float, int)):
            bkey: Any = b
        else:
            arr = np.ascontiguousarray(b, dtype=np.float32)
            bkey = (arr.shape, hashlib.sha1(arr.tobytes()).hexdigest())
        return ("shap", self.algorithm, bkey, self.batch_size)

    def shap_explainer(self, model: Any) -> Any:
        """The shap explainer object for ``model`` (built once per model and settings)."""
        import shap

        cache = _graph.model_cache(model)
        key = self._key()
        if key not in cache:
            shape = _graph.input_shape(model)
            view = _graph.functional_view(model)
            with seeded_numpy(self.seed), _quiet():
                if self.algorithm == "gradient":
                    explainer = shap.GradientExplainer(
                        view, self.background_images(shape), batch_size=self.images_per_call(model)
                    )
                elif self.algorithm == "deep":
                    background = self.background_images(shape)
                    # shap runs the image tiled once per background image together with the
                    # background: 2 M images per call
                    chunk = max(1, self.images_per_call(model) // 2)
                    explainer = (
                        shap.DeepExplainer(view, background) if len(background) <= chunk
                        else DeepInChunks(model, view, background, chunk)
                    )
                else:
                    forward = _graph.forward_function(model)

                    def predict(images: np.ndarray) -> np.ndarray:
                        return forward(np.asarray(images, np.float32)).numpy()

                    masker = shap.maskers.Image(self._mask_value(shape), shape)
                    explainer = shap.Explainer(predict, masker, algorithm="partition")
            cache[key] = explainer
        return cache[key]

    # ------------------------------------------------------------------ explaining
    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        explainer = self.shap_explainer(model)
        values = np.zeros(x.shape, np.float32)
        if self.algorithm == "deep":
            # Deterministic and per image independent: one call for the batch, all classes
            # (shap's TensorFlow DeepExplainer has no "explain this class" option).
            for s in _graph.batches(len(x), self.batch_size):
                with seeded_numpy(self.seed), _quiet():
                    sv = explainer.shap_values(x[s], check_additivity=False)
                sv = np.asarray(sv, dtype=np.float32)
                if isinstance(sv, list) or sv.shape[:-1] != x[s].shape:
                    sv = np.moveaxis(np.asarray(sv, np.float32), 0, -1)  # list of classes
                values[s] = sv[np.arange(len(sv)), ..., targets[s]]
            return MapResult(maps=values.sum(axis=-1), attributions=values)
        step = self.images_per_call(model)
        for i in range(len(x)):
            values[i] = self._one(explainer, x[i : i + 1], int(targets[i]), step)
        return MapResult(maps=values.sum(axis=-1), attributions=values)

    def images_per_call(self, model: Any) -> int:
        """Images per model call inside shap: ``batch_size``, or fewer where the model's largest
        activation would exceed :data:`~xai_lab.models.working_set.WORKING_SET_BYTES`."""
        return _graph.chunk_size(model, _graph.input_shape(model), self.batch_size)

    def _one(self, explainer: Any, x: np.ndarray, target: int, step: int) -> np.ndarray:
        rank = np.array([[target]])
        with seeded_numpy(self.seed), _quiet():
            if self.algorithm == "gradient":
                sv, _ = explainer.shap_values(
                    x,
                    nsamples=self.nsamples,
                    ranked_outputs=rank,
                    output_rank_order="custom",
                    rseed=self.seed,
                )
            else:
                result = explainer(
                    x,
                    max_evals=self.max_evals,
                    batch_size=step,
                    outputs=[target],
                    silent=True,
                )
                sv = result.values
        return _single_output(sv, x.shape)


class DeepInChunks:
    """shap's ``DeepExplainer`` over a background too large for one model call, in chunks.

    For every image, shap's TensorFlow ``DeepExplainer`` runs the image tiled once per
    background image together with the background (2 M images in one call; 3.3 GB peak at
    224x224 with M = 16 under the zoo's cnn) and averages the M attributions (DeepLIFT
    multipliers times ``x - b``). The average over the whole background is the size-weighted
    average of the averages over chunks of it, so :meth:`shap_values` gives the same values (to
    float rounding) with at most 2 x ``chunk`` images per call. One shap explainer serves all
    chunks: its background is the ``data`` attribute it reads at every call.

    Parameters
    ----------
    model, view : keras.Model
        The model and its functional view (what shap explains).
    background : np.ndarray
        (M, H, W, C) background images.
    chunk : int
        Background images per call.
    """

    def __init__(self, model: Any, view: Any, background: np.ndarray, chunk: int) -> None:
        import shap

        from .. import models

        parts = list(_graph.batches(len(background), chunk))
        self.chunks = [background[s] for s in parts]
        self.explainer = shap.DeepExplainer(view, self.chunks[0])
        logits = models.predict_logits(model, background).astype(np.float64)
        self._chunk_means = [logits[s].mean(axis=0) for s in parts]
        #: mean model output over the whole background (shap's ``expected_value``)
        self.expected_value = logits.mean(axis=0)

    def shap_values(self, x: np.ndarray, check_additivity: bool = False) -> np.ndarray:
        """The SHAP values of ``x`` (shap's layout), averaged over the background's chunks.

        ``check_additivity``: shap's check, per chunk (its values sum to the model output
        minus the chunk's mean output).
        """
        total = None
        n = sum(len(c) for c in self.chunks)
        inner = self.explainer.explainer  # shap's TensorFlow back end (TFDeep)
        try:
            for c, mean in zip(self.chunks, self._chunk_means, strict=True):
                inner.data, inner.expected_value = [c], mean
                sv = np.asarray(self.explainer.shap_values(x, check_additivity=check_additivity),
                                np.float64)
                total = sv * (len(c) / n) if total is None else total + sv * (len(c) / n)
        finally:
            inner.data, inner.expected_value = [self.chunks[0]], self._chunk_means[0]
        return total.astype(np.float32)


@contextmanager
def _quiet():
    """Silence Keras' input-structure warning that shap's list-of-inputs calls trigger."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*structure of `inputs`")
        warnings.filterwarnings("ignore", message=r"(?s).*Expected: keras_tensor")
        warnings.filterwarnings("ignore", message=r"Your TensorFlow version is newer")
        yield


def _single_output(sv: Any, shape: tuple[int, ...]) -> np.ndarray:
    """shap's output for one image and one class as an (H, W, C) array."""
    if isinstance(sv, list):
        sv = sv[0]
    arr = np.asarray(sv, dtype=np.float32)
    if arr.shape == (*shape, 1):
        arr = arr[..., 0]
    if arr.shape != tuple(shape):
        raise RuntimeError(f"unexpected shap output of shape {arr.shape} for input {shape}")
    return arr[0]
