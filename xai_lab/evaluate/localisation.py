"""Localisation: does the map point at the ground-truth region (a lesion mask)?

These metrics need masks (N, H, W) of booleans at the map's resolution; the phantom
datasets (``xai_lab.data.phantoms.make``) carry them. They do not run the model. Every score
is NaN where the mask is empty, and where the map is NaN or gives no ranking (one value
everywhere); relevance mass accuracy is also NaN where the map has no positive relevance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..explain.explanation import Explanation
from .base import Metric, check_explanation, check_masks, finite_maps, is_constant


def _prepare(metric: Metric, explanation: Explanation, masks: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maps (float64), masks (bool) and the per-image flag of a defined score."""
    explanation = check_explanation(explanation)
    m = check_masks(explanation, masks, metric.name)
    maps, finite = finite_maps(explanation)
    maps = np.where(np.isfinite(maps), maps, 0.0)
    defined = finite & m.reshape(len(m), -1).any(axis=1) & ~is_constant(maps)
    return maps, m, defined


class PointingGame(Metric):
    """Pointing game (Zhang et al. 2018): is the map's maximum inside the mask?

    Parameters
    ----------
    tolerance : int
        The mask is grown by this many pixels (a disc) before the test; Zhang et al. use
        15 pixels on full-size images, 0 suits 28 x 28 inputs.

    Returns
    -------
    ndarray (N,)
        1.0 for a hit, 0.0 for a miss. Where several pixels share the maximum, the fraction
        of them inside the mask (the expected hit under random tie breaking).

    References
    ----------
    Zhang, J., Bargal, S. A., Lin, Z., Brandt, J., Shen, X. & Sclaroff, S. (2018).
    Top-down neural attention by excitation backprop. IJCV 126, 1084-1102.
    """

    name = "pointing_game"
    higher_is_better = True
    needs_masks = True
    reference = "Zhang, J. et al. (2018). Top-down neural attention by excitation backprop. IJCV."

    def __init__(self, tolerance: int = 0) -> None:
        if int(tolerance) < 0:
            raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
        super().__init__(tolerance=int(tolerance))
        self.tolerance = int(tolerance)

    def __call__(self, model: Any, explanation: Explanation, images: Any = None, masks: Any = None) -> np.ndarray:
        maps, m, defined = _prepare(self, explanation, masks)
        if self.tolerance:
            r = self.tolerance
            yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
            disc = (yy**2 + xx**2) <= r * r
            m = np.stack([ndimage.binary_dilation(mi, structure=disc) for mi in m])
        out = np.full(len(maps), np.nan)
        for i in np.flatnonzero(defined):
            top = maps[i] == maps[i].max()
            out[i] = float(m[i][top].sum()) / float(top.sum())
        return out


class RelevanceMassAccuracy(Metric):
    """Relevance mass accuracy (Arras et al. 2022): share of positive relevance in the mask.

    ``sum(max(R, 0) inside mask) / sum(max(R, 0))``; 1 when all positive relevance lies on
    the ground truth. NaN where the map has no positive relevance or the mask is empty.

    References
    ----------
    Arras, L., Osman, A. & Samek, W. (2022). CLEVR-XAI: A benchmark dataset for the ground
    truth evaluation of neural network explanations. Information Fusion 81, 14-40.
    """

    name = "relevance_mass_accuracy"
    higher_is_better = True
    needs_masks = True
    reference = "Arras, L., Osman, A. & Samek, W. (2022). CLEVR-XAI. Information Fusion 81."

    def __init__(self) -> None:
        super().__init__()

    def __call__(self, model: Any, explanation: Explanation, images: Any = None, masks: Any = None) -> np.ndarray:
        explanation = check_explanation(explanation)
        m = check_masks(explanation, masks, self.name)
        maps, finite = finite_maps(explanation)
        pos = np.clip(np.where(np.isfinite(maps), maps, 0.0), 0.0, None).reshape(len(maps), -1)
        total = pos.sum(axis=1)
        inside = (pos * m.reshape(len(m), -1)).sum(axis=1)
        defined = finite & (total > 0) & m.reshape(len(m), -1).any(axis=1)
        out = np.full(len(maps), np.nan)
        out[defined] = inside[defined] / total[defined]
        return out


class RelevanceRankAccuracy(Metric):
    """Relevance rank accuracy (Arras et al. 2022): share of the top-K pixels in the mask.

    With ``K`` the number of mask pixels, the fraction of the ``K`` highest-relevance pixels
    that lie in the mask. Pixels tied at the K-th value share the remaining places
    (the expected value under random tie breaking), so the score is deterministic.

    Parameters
    ----------
    absolute : bool
        Rank by ``|R|`` instead of ``R`` (the paper ranks the relevance itself).

    References
    ----------
    Arras, L., Osman, A. & Samek, W. (2022). CLEVR-XAI: A benchmark dataset for the ground
    truth evaluation of neural network explanations. Information Fusion 81, 14-40.
    """

    name = "relevance_rank_accuracy"
    higher_is_better = True
    needs_masks = True
    reference = "Arras, L., Osman, A. & Samek, W. (2022). CLEVR-XAI. Information Fusion 81."

    def __init__(self, absolute: bool = False) -> None:
        super().__init__(absolute=bool(absolute))
        self.absolute = bool(absolute)

    def __call__(self, model: Any, explanation: Explanation, images: Any = None, masks: Any = None) -> np.ndarray:
        maps, m, defined = _prepare(self, explanation, masks)
        if self.absolute:
            maps = np.abs(maps)
            defined &= ~is_constant(maps)
        out = np.full(len(maps), np.nan)
        for i in np.flatnonzero(defined):
            r = maps[i].ravel()
            g = m[i].ravel()
            k = int(g.sum())
            out[i] = _top_k_overlap(r, g, k) / k
        return out


def _top_k_overlap(r: np.ndarray, g: np.ndarray, k: int) -> float:
    """Expected number of mask pixels among the top ``k`` of ``r`` (ties shared out)."""
    threshold = np.sort(r)[::-1][k - 1]
    above = r > threshold
    tied = r == threshold
    places = k - int(above.sum())
    return float(g[above].sum()) + places * float(g[tied].sum()) / float(tied.sum())


class TopKIoU(Metric):
    """Intersection over union of the map's top-k% region with the mask.

    The region is every pixel whose value is at least the value of the
    ``ceil(fraction * H * W)``-th highest pixel (ties at the threshold are all included,
    so the region is a fixed function of the map).

    Parameters
    ----------
    fraction : float
        Share of the image in the top region, in (0, 1].
    absolute : bool
        Threshold ``|R|`` instead of ``R``.

    References
    ----------
    The thresholded-IoU protocol of weakly supervised localisation, e.g. Zhou, B. et al.
    (2016). Learning deep features for discriminative localization. CVPR; used for
    explanation maps in Arras et al. (2022), Information Fusion 81.
    """

    name = "top_k_iou"
    higher_is_better = True
    needs_masks = True
    reference = "Zhou, B. et al. (2016). Learning deep features for discriminative localization. CVPR."

    def __init__(self, fraction: float = 0.1, absolute: bool = False) -> None:
        if not 0.0 < float(fraction) <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        super().__init__(fraction=float(fraction), absolute=bool(absolute))
        self.fraction = float(fraction)
        self.absolute = bool(absolute)

    def __call__(self, model: Any, explanation: Explanation, images: Any = None, masks: Any = None) -> np.ndarray:
        maps, m, defined = _prepare(self, explanation, masks)
        if self.absolute:
            maps = np.abs(maps)
            defined &= ~is_constant(maps)
        out = np.full(len(maps), np.nan)
        for i in np.flatnonzero(defined):
            r = maps[i].ravel()
            k = max(1, int(np.ceil(self.fraction * r.size)))
            region = r >= np.sort(r)[::-1][k - 1]
            g = m[i].ravel()
            out[i] = float((region & g).sum()) / float((region | g).sum())
        return out
