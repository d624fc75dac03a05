"""The gradient family: saliency, SmoothGrad and integrated gradients.

All three differentiate the target *logit* with respect to the input pixels, with one
``tf.function`` per model traced once (free batch size, see ``_graph.gradient_function``).
``attributions`` hold the per-channel values (N, H, W, C); how ``maps`` reduce them over
channels is documented per method.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _graph
from .base import Explainer, MapResult, register
from .info import MethodInfo


def input_gradients(model: Any, x: np.ndarray, targets: np.ndarray, batch_size: int = 256):
    """``d logit[target] / d x`` for every image, shape of ``x``, float32.

    At most ``batch_size`` images per compiled call, fewer for large images
    (:func:`~xai_lab.explain._graph.chunk_size`).
    """
    fn = _graph.gradient_function(model)
    out = []
    t = targets.astype(np.int32)
    for s in _graph.batches(len(x), _graph.chunk_size(model, x.shape[1:], batch_size)):
        grads, _ = fn(x[s], t[s])
        out.append(grads.numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros_like(x)


def path_gradients(
    model: Any,
    points: Any,
    weights: np.ndarray,
    x: np.ndarray,
    targets: np.ndarray,
    batch_size: int,
) -> np.ndarray:
    """``sum_k weights[k] * grad(points(i)[k])`` for each image ``i``.

    ``points(slice)`` returns the (m, K, H, W, C) evaluation points of those images; images
    are processed in chunks so that one compiled call sees about ``batch_size`` points, fewer
    for large images (:func:`~xai_lab.explain._graph.chunk_size`): memory stays bounded.
    """
    k = len(weights)
    batch_size = _graph.chunk_size(model, x.shape[1:], batch_size)
    chunk = max(1, batch_size // k)
    out = np.zeros_like(x)
    for s in _graph.batches(len(x), chunk):
        pts = points(s).astype(np.float32)
        m = len(pts)
        grads = input_gradients(
            model, pts.reshape(m * k, *x.shape[1:]), np.repeat(targets[s], k), batch_size
        ).reshape(m, k, *x.shape[1:])
        out[s] = np.tensordot(weights, grads, axes=([0], [1]))
    return out


@register()
class Saliency(Explainer):
    """Vanilla gradient saliency.

    ``attributions`` are the signed gradients ``d y_c / d x``; ``maps`` are their largest
    absolute value over the colour channels, as in the paper (not their sum).

    References
    ----------
    Simonyan, K., Vedaldi, A., & Zisserman, A. (2014). Deep inside convolutional networks:
    Visualising image classification models and saliency maps. ICLR workshop.
    https://arxiv.org/abs/1312.6034
    """

    name = "saliency"
    info = MethodInfo(
        "Saliency", signed=False,
        meaning="how much a small change of each pixel would change the score of {target}, "
                "up or down (sensitivity, not evidence)",
        high="most sensitive", low="insensitive",
    )
    reference = "Simonyan et al. (2014), Deep inside convolutional networks, ICLR workshop"

    def __init__(self, batch_size: int = 256) -> None:
        super().__init__(batch_size=batch_size)
        self.batch_size = int(batch_size)

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        grads = input_gradients(model, x, targets, self.batch_size)
        return MapResult(maps=np.abs(grads).max(axis=-1), attributions=grads)


@register()
class SmoothGrad(Explainer):
    """SmoothGrad: gradients averaged over noisy copies of the image.

    ``attributions`` = mean over ``n_samples`` of ``d y_c / d x`` at ``x + eps``,
    ``eps ~ N(0, sigma^2)`` with ``sigma = noise * (max(x) - min(x))`` per image (the paper's
    noise level). ``maps`` = largest absolute value over channels (as for saliency).
    The noise is drawn once from ``seed`` and used for every image, so a batch gives the same
    maps as each image alone and two calls give the same maps.

    Parameters
    ----------
    n_samples : int
        Noisy copies per image (paper: 50).
    noise : float
        Noise level as a fraction of the image's value range (paper: 0.10-0.20).
    seed : int
        Seed of the noise.

    References
    ----------
    Smilkov, D., Thorat, N., Kim, B., Viegas, F., & Wattenberg, M. (2017). SmoothGrad:
    removing noise by adding noise. https://arxiv.org/abs/1706.03825
    """

    name = "smoothgrad"
    info = MethodInfo(
        "SmoothGrad", signed=False,
        meaning="how much a small change of each pixel would change the score of {target}, "
                "up or down, averaged over noisy copies of the image (sensitivity, not evidence)",
        high="most sensitive", low="insensitive",
    )
    reference = "Smilkov et al. (2017), SmoothGrad: removing noise by adding noise"

    def __init__(
        self, n_samples: int = 25, noise: float = 0.15, seed: int = 0, batch_size: int = 256
    ) -> None:
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        super().__init__(n_samples=n_samples, noise=noise, seed=seed, batch_size=batch_size)
        self.n_samples, self.noise, self.seed = int(n_samples), float(noise), int(seed)
        self.batch_size = int(batch_size)

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        rng = np.random.default_rng(self.seed)
        eps = rng.standard_normal((self.n_samples, *x.shape[1:])).astype(np.float32)
        flat = x.reshape(len(x), -1)
        sigma = (self.noise * (flat.max(axis=1) - flat.min(axis=1))).astype(np.float32)
        weights = np.full(self.n_samples, 1.0 / self.n_samples, np.float32)

        def points(s: slice) -> np.ndarray:
            return x[s, None] + sigma[s, None, None, None, None] * eps[None]

        grads = path_gradients(model, points, weights, x, targets, self.batch_size)
        return MapResult(maps=np.abs(grads).max(axis=-1), attributions=grads)


@register()
class IntegratedGradients(Explainer):
    """Integrated gradients along the straight path from a baseline to the image.

    ``attributions = (x - x') * integral_0^1 d y_c / d x (x' + a (x - x')) da``, the integral
    by the trapezoid rule on ``steps`` intervals; ``maps`` = their sum over channels (signed).
    Completeness: the attributions sum to ``y_c(x) - y_c(x')`` up to the quadrature error.

    Parameters
    ----------
    baseline : {"black", "white", "mean", "blur"} or float or array
        ``black`` all zeros (the paper's choice for images), ``white`` all ones, ``mean`` each
        image's per-channel mean, ``blur`` each image blurred by a Gaussian of sigma
        ``0.1 * max(H, W)`` pixels, a float a constant image, or an array (H, W, C),
        (1, H, W, C) or (N, H, W, C).
    steps : int
        Trapezoid intervals (``steps + 1`` gradient evaluations per image).

    References
    ----------
    Sundararajan, M., Taly, A., & Yan, Q. (2017). Axiomatic attribution for deep networks.
    ICML. https://arxiv.org/abs/1703.01365
    """

    name = "integrated_gradients"
    info = MethodInfo(
        "Integrated gradients", signed=True,
        meaning="how much each pixel moved the score of {target} away from its score on the "
                "baseline image (black by default); the values sum to that difference",
        high="raised the score of {target}", low="lowered the score of {target}",
    )
    reference = "Sundararajan et al. (2017), Axiomatic attribution for deep networks, ICML"

    def __init__(
        self, baseline: str | float | np.ndarray = "black", steps: int = 32, batch_size: int = 256
    ) -> None:
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if isinstance(baseline, str) and baseline not in ("black", "white", "mean", "blur"):
            raise ValueError(
                f"unknown baseline {baseline!r}; choose black, white, mean, blur, a float or an array"
            )
        super().__init__(baseline=baseline, steps=steps, batch_size=batch_size)
        self.baseline, self.steps, self.batch_size = baseline, int(steps), int(batch_size)

    def baselines(self, x: np.ndarray) -> np.ndarray:
        """The baseline image for each image of ``x`` (N, H, W, C)."""
        b = self.baseline
        if isinstance(b, str):
            if b == "black":
                return np.zeros_like(x)
            if b == "white":
                return np.ones_like(x)
            if b == "mean":
                return np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape).astype(
                    np.float32
                )
            from scipy.ndimage import gaussian_filter

            sigma = 0.1 * max(x.shape[1:3])
            return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest").astype(
                np.float32
            )
        arr = np.asarray(b, dtype=np.float32)
        if arr.ndim == 0:
            return np.full_like(x, float(arr))
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1:] != x.shape[1:] or len(arr) not in (1, len(x)):
            raise ValueError(
                f"baseline of shape {np.shape(b)} does not fit images of shape {x.shape}"
            )
        return np.broadcast_to(arr, x.shape).astype(np.float32)

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        base = self.baselines(x)
        delta = x - base
        alphas = np.linspace(0.0, 1.0, self.steps + 1, dtype=np.float32)
        weights = np.full(self.steps + 1, 1.0 / self.steps, np.float32)
        weights[[0, -1]] *= 0.5  # trapezoid rule

        def points(s: slice) -> np.ndarray:
            a = alphas[None, :, None, None, None]
            return base[s, None] + a * delta[s, None]

        total = path_gradients(model, points, weights, x, targets, self.batch_size)
        attributions = delta * total
        return MapResult(maps=attributions.sum(axis=-1), attributions=attributions)
