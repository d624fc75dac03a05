"""Robustness: does the map stay put when the image changes imperceptibly?

Max-sensitivity after

    Yeh, C.-K., Hsieh, C.-Y., Suggala, A. S., Inouye, D. I. & Ravikumar, P. (2019).
    On the (in)fidelity and sensitivity of explanations. NeurIPS 2019. arXiv:1901.09392.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..explain.explanation import Explanation
from .base import Metric, check_explanation, explainer_for, model_images


class MaxSensitivity(Metric):
    """Max-sensitivity (Yeh et al. 2019): the largest relative change of the map under noise.

    ``max_j ||e(x + d_j) - e(x)|| / ||e(x)||`` over ``n_samples`` perturbations ``d_j`` drawn
    uniformly from ``[-radius, radius]`` per pixel and channel (the L-infinity ball of
    Yeh et al.), with the Frobenius norm of the (N, H, W) maps. The perturbed image is
    clipped to [0, 1] (the model's input domain) unless ``clip=False``. Targets are the
    explanation's targets, so the map of the same class is compared. Lower is better.

    Parameters
    ----------
    radius : float
        Noise radius in the model's input scale [0, 1] (0.02 is about 5 grey levels).
    n_samples : int
        Number of perturbations.
    clip : bool
        Clip perturbed images to [0, 1].
    explainer : Explainer or str, optional
        The explainer to re-run; by default rebuilt from the explanation's method and
        parameters (see :func:`xai_lab.evaluate.base.explainer_for`).
    seed : int
        Seed of the noise. The same noise is drawn for every image, so explaining a batch
        gives the same scores as explaining each image alone.

    Returns
    -------
    ndarray (N,)
        NaN where the original map is zero everywhere (no relative change is defined) or
        any map holds NaN.
    """

    name = "max_sensitivity"
    higher_is_better = False
    reference = "Yeh, C.-K. et al. (2019). On the (in)fidelity and sensitivity of explanations. NeurIPS."

    def __init__(
        self,
        radius: float = 0.02,
        n_samples: int = 10,
        clip: bool = True,
        explainer: Any = None,
        seed: int = 0,
    ) -> None:
        if float(radius) <= 0:
            raise ValueError(f"radius must be positive, got {radius}")
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        super().__init__(radius=float(radius), n_samples=int(n_samples), clip=bool(clip), seed=int(seed))
        self.radius = float(radius)
        self.n_samples = int(n_samples)
        self.clip = bool(clip)
        self.explainer = explainer
        self.seed = int(seed)

    def __call__(self, model: Any, explanation: Explanation, images: Any = None, masks: Any = None) -> np.ndarray:
        explanation = check_explanation(explanation)
        x = model_images(explanation, images)
        explainer = explainer_for(explanation, self.explainer)
        rng = np.random.default_rng(self.seed)
        base = explanation.maps.astype(np.float64)
        n = len(base)
        denom = np.sqrt((base.reshape(n, -1) ** 2).sum(axis=1))
        worst = np.zeros(n)
        bad = ~np.isfinite(base.reshape(n, -1)).all(axis=1)
        for _ in range(self.n_samples):
            noise = rng.uniform(-self.radius, self.radius, size=x.shape[1:]).astype(np.float32)
            xp = x + noise[None]
            if self.clip:
                xp = np.clip(xp, 0.0, 1.0)
            e = explainer.explain(model, xp, target=explanation.targets)
            maps = e.maps.astype(np.float64)
            bad |= ~np.isfinite(maps.reshape(n, -1)).all(axis=1)
            diff = np.sqrt(((maps - base).reshape(n, -1) ** 2).sum(axis=1))
            worst = np.maximum(worst, np.where(np.isfinite(diff), diff, 0.0))
        out = np.full(n, np.nan)
        ok = ~bad & (denom > 0)
        out[ok] = worst[ok] / denom[ok]
        return out
