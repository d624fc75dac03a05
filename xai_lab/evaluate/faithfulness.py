"""Faithfulness: does removing what the map calls important change the model's decision?

Deletion and insertion curves and their area under the curve (AUC), after

    Petsiuk, V., Das, A. & Saenko, K. (2018). RISE: Randomized input sampling for
    explanation of black-box models. BMVC 2018. arXiv:1806.07421.

Pixels are ranked by the map (most relevant first). The *deletion* curve replaces them,
``1/n_steps`` of the image at a time, by a baseline and records the model's score for the
explained class; a faithful map makes it fall fast (low AUC is better). The *insertion* curve
starts from the baseline image and puts the pixels back in the same order; a faithful map
makes the score rise fast (high AUC is better).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from ..explain.explanation import Explanation
from .base import Metric, check_explanation, class_scores, finite_maps, is_constant, model_images

BASELINES = ("blur", "mean", "zero")


def baseline_images(x: np.ndarray, baseline: str | float = "zero", blur_sigma: float = 5.0) -> np.ndarray:
    """The image each pixel is replaced with (deletion) or inserted into (insertion).

    Parameters
    ----------
    x : ndarray, float32, shape (N, H, W, C)
    baseline : {"blur", "mean", "zero"} or float
        ``blur``: the image under a Gaussian blur of ``blur_sigma`` pixels (RISE's insertion
        baseline); ``mean``: each image's per-channel mean; ``zero``: black; a number: that
        constant.
    """
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return np.full_like(x, float(baseline))
    if baseline == "zero":
        return np.zeros_like(x)
    if baseline == "mean":
        return np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape).astype(x.dtype)
    if baseline == "blur":
        return ndimage.gaussian_filter(x, sigma=(0, blur_sigma, blur_sigma, 0), mode="reflect").astype(x.dtype)
    raise ValueError(f"unknown baseline {baseline!r}; choose one of {BASELINES} or a number")


def pixel_order(maps: np.ndarray, seed: int = 0, absolute: bool = False) -> np.ndarray:
    """Pixel indices (flattened H*W) per image, most relevant first.

    Ties are broken by a seeded random permutation (the same for every image), not by raster
    order, so that a flat region of the map is removed in no particular spatial order.
    """
    flat = maps.reshape(len(maps), -1)
    if absolute:
        flat = np.abs(flat)
    tiebreak = np.random.default_rng(seed).permutation(flat.shape[1])
    # lexsort sorts by the last key first: by -value, then by the random tiebreak.
    return np.stack([np.lexsort((tiebreak, -row)) for row in flat])


class _PixelCurve(Metric):
    """Shared machinery of :class:`Deletion` and :class:`Insertion`."""

    insert: ClassVar[bool] = False
    reference = (
        "Petsiuk, V., Das, A. & Saenko, K. (2018). RISE: Randomized input sampling for "
        "explanation of black-box models. BMVC."
    )

    def __init__(
        self,
        n_steps: int = 50,
        baseline: str | float = "mean",
        score: str = "probability",
        blur_sigma: float = 5.0,
        absolute: bool = False,
        batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        if int(n_steps) < 1:
            raise ValueError(f"n_steps must be at least 1, got {n_steps}")
        if score not in ("probability", "logit"):
            raise ValueError(f"score must be 'probability' or 'logit', got {score!r}")
        if not isinstance(baseline, (int, float)) and baseline not in BASELINES:
            raise ValueError(f"unknown baseline {baseline!r}; choose one of {BASELINES} or a number")
        super().__init__(
            n_steps=int(n_steps), baseline=baseline, score=score, blur_sigma=float(blur_sigma),
            absolute=bool(absolute), batch_size=int(batch_size), seed=int(seed),
        )
        self.n_steps = int(n_steps)
        self.baseline = baseline
        self.score = score
        self.blur_sigma = float(blur_sigma)
        self.absolute = bool(absolute)
        self.batch_size = int(batch_size)
        self.seed = int(seed)

    def fractions(self) -> np.ndarray:
        """The fraction of pixels removed (deletion) or inserted (insertion) at each step."""
        return np.linspace(0.0, 1.0, self.n_steps + 1)

    def curves(self, model: Any, explanation: Explanation, images: Any = None) -> np.ndarray:
        """The score curves, float64 (N, n_steps + 1); a row of NaN where the map is undefined.

        Column ``k`` is the model's score for the explained class after ``k / n_steps`` of the
        pixels (all channels of a pixel together) were removed (deletion) or inserted
        (insertion) in the order of the map. Rows are NaN for maps with NaN or with one value
        everywhere (such a map ranks no pixel above another).
        """
        explanation = check_explanation(explanation)
        x = model_images(explanation, images)
        maps, finite = finite_maps(explanation)
        valid = finite & ~is_constant(np.where(np.isfinite(maps), maps, 0.0))
        n, h, w, _ = x.shape
        out = np.full((n, self.n_steps + 1), np.nan)
        if not valid.any():
            return out
        idx = np.flatnonzero(valid)
        order = pixel_order(maps[idx], seed=self.seed, absolute=self.absolute)
        base = baseline_images(x[idx], self.baseline, self.blur_sigma)
        counts = np.round(self.fractions() * h * w).astype(np.int64)
        # rank[i, p] = position of pixel p in image i's order; pixel p is "changed" at step k
        # when rank < counts[k].
        rank = np.empty_like(order)
        rows = np.arange(len(idx))[:, None]
        rank[rows, order] = np.arange(h * w)[None, :]
        rank = rank.reshape(len(idx), h, w, 1)
        targets = explanation.targets[idx]
        # One batched forward pass over (image, step) pairs, built chunk by chunk.
        pairs = [(i, k) for i in range(len(idx)) for k in range(self.n_steps + 1)]
        scores = np.empty(len(pairs))
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            ii = np.array([p[0] for p in chunk])
            kk = np.array([p[1] for p in chunk])
            changed = rank[ii] < counts[kk][:, None, None, None]
            if self.insert:
                batch = np.where(changed, x[idx][ii], base[ii])
            else:
                batch = np.where(changed, base[ii], x[idx][ii])
            scores[start : start + len(chunk)] = class_scores(
                model, batch.astype(np.float32), targets[ii], self.score, self.batch_size
            )
        out[idx] = scores.reshape(len(idx), self.n_steps + 1)
        return out

    def auc(self, curves: np.ndarray) -> np.ndarray:
        """Area under each curve over the fraction axis [0, 1] (trapezoid rule)."""
        return np.trapezoid(curves, dx=1.0 / self.n_steps, axis=1)

    def __call__(
        self, model: Any, explanation: Explanation, images: Any = None, masks: Any = None
    ) -> np.ndarray:
        """Area under the curve per image, float64 (N,), NaN where the map is undefined."""
        return self.auc(self.curves(model, explanation, images))


class Deletion(_PixelCurve):
    """Deletion AUC (Petsiuk et al. 2018): lower is better.

    Parameters
    ----------
    n_steps : int
        Number of steps; ``1/n_steps`` of the pixels is removed per step.
    baseline : {"mean", "zero", "blur"} or float
        What removed pixels become; see :func:`baseline_images`. RISE sets deleted pixels to
        zero in the network's *normalised* input space, i.e. to the data mean; for our inputs
        in [0, 1] the image's mean is the analogue (default). ``zero`` makes removed pixels
        black, which in an X-ray is itself strong evidence (no tissue).
    score : {"probability", "logit"}
        The curve follows the softmax probability of the explained class, or its logit.
    blur_sigma : float
        Gaussian sigma in pixels for the ``blur`` baseline.
    absolute : bool
        Rank pixels by the absolute value of the map instead of its signed value.
    batch_size : int
        Perturbed images per forward pass.
    seed : int
        Seed of the tie-breaking order between pixels of equal relevance.

    Notes
    -----
    Returns NaN for a map with NaN or with the same value everywhere: it gives no order.
    """

    name = "deletion"
    higher_is_better = False
    insert = False


class Insertion(_PixelCurve):
    """Insertion AUC (Petsiuk et al. 2018): higher is better.

    Parameters are those of :class:`Deletion`; the default baseline is ``blur`` as in RISE
    (a black start image is far from the data and often scores arbitrarily).
    """

    name = "insertion"
    higher_is_better = True
    insert = True

    def __init__(self, n_steps: int = 50, baseline: str | float = "blur", **settings: Any) -> None:
        super().__init__(n_steps=n_steps, baseline=baseline, **settings)
