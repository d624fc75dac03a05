"""Comparing node explanations with each other and with pixel explanations, superpixel by superpixel.

A pixel map (an :class:`~xai_lab.explain.Explanation` of an image model, e.g. the 28 px CNN's
integrated gradients) becomes one score per superpixel by :func:`pool`: by default the SUM of
the pixel relevance inside the superpixel, which is the pixel method's estimate of the whole
region's contribution (for methods that are complete, such as integrated gradients and LRP,
what taking the region away would change), the quantity a node score measures. ``how="mean"``
gives the mean instead (less weight to large superpixels).

Agreement is Spearman's rank correlation (Spearman 1904) between two score vectors over the nodes
of one graph: 1 when both rank the superpixels alike, 0 when unrelated, -1 when reversed. It is
NaN (undefined) when either vector is constant or a graph has fewer than 3 nodes.

References
----------
Spearman, C. (1904). The proof and measurement of association between two things. American
Journal of Psychology 15(1), 72-101.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..explain.explanation import Explanation
from .explainers import NodeExplanation


def pool(maps: Any, segments: np.ndarray, n_nodes: int | None = None, how: str = "sum") -> np.ndarray:
    """Pixel maps (N, H, W) -> one score per superpixel (N, V), NaN beyond each graph's nodes.

    Parameters
    ----------
    maps : ndarray (N, H, W) or Explanation
    segments : ndarray, int (N, H, W)
        Node index of every pixel (``SuperpixelGraphs.segments``).
    n_nodes : int, optional
        V, the width of the result (default: the largest node index + 1).
    how : {"sum", "mean"}
    """
    m = np.asarray(maps.maps if isinstance(maps, Explanation) else maps, dtype=np.float64)
    seg = np.asarray(segments)
    if m.shape != seg.shape:
        raise ValueError(f"maps {m.shape} and segments {seg.shape} must have the same (N, H, W) shape")
    if how not in ("sum", "mean"):
        raise ValueError(f"how must be 'sum' or 'mean', got {how!r}")
    v = int(seg.max()) + 1 if n_nodes is None else int(n_nodes)
    out = np.full((len(m), v), np.nan)
    for i in range(len(m)):
        flat = seg[i].ravel()
        count = np.bincount(flat, minlength=v)[:v].astype(np.float64)
        total = np.bincount(flat, m[i].ravel(), minlength=v)[:v]
        present = count > 0
        out[i, present] = total[present] if how == "sum" else total[present] / count[present]
    return out


def rank_correlation(a: Any, b: Any) -> float:
    """Spearman's rho between two score vectors over their finite entries; NaN if undefined."""
    from scipy.stats import spearmanr

    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"score vectors differ in length: {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def node_scores(explanation: NodeExplanation | Explanation, segments: np.ndarray, n_nodes: int,
                how: str = "sum") -> np.ndarray:
    """(N, V) scores: a NodeExplanation's own, or a pixel Explanation pooled per superpixel."""
    if isinstance(explanation, NodeExplanation):
        s = explanation.scores.astype(np.float64)
        out = np.full((len(s), n_nodes), np.nan)
        out[:, : s.shape[1]] = s[:, :n_nodes]
        return out
    if isinstance(explanation, Explanation):
        return pool(explanation.maps, segments, n_nodes, how)
    raise TypeError(f"expected a NodeExplanation or an Explanation, got {type(explanation).__name__}")


def agreement(explanations: Mapping[str, NodeExplanation | Explanation], segments: np.ndarray | None = None,
              how: str = "sum"):
    """Spearman's rho per image between every pair of explanations, as a tidy table.

    Parameters
    ----------
    explanations : mapping of name -> NodeExplanation or Explanation
        All of the same images (same ``inputs``); pixel explanations are pooled per superpixel.
    segments : ndarray (N, H, W), optional
        The superpixels; default: those of the first NodeExplanation.
    how : {"sum", "mean"}
        How pixel maps are pooled (:func:`pool`).

    Returns
    -------
    pandas.DataFrame
        Columns ``image, a, b, spearman, n_nodes``; one row per image and pair (a before b in
        the mapping's order).
    """
    import pandas as pd

    names = list(explanations)
    if len(names) < 2:
        raise ValueError("agreement needs at least two explanations")
    if segments is None:
        nodes = [e for e in explanations.values() if isinstance(e, NodeExplanation)]
        if not nodes:
            raise ValueError("give segments, or at least one NodeExplanation to take them from")
        segments = nodes[0].segments
    segments = np.asarray(segments)
    first = explanations[names[0]]
    for name in names:
        e = explanations[name]
        if len(e) != len(segments) or e.inputs.shape[:3] != segments.shape or not np.allclose(
                e.inputs, first.inputs, atol=1.5 / 255):
            raise ValueError(f"explanation {name!r} does not cover the same images as {names[0]!r}")
    v = int(segments.max()) + 1
    scores = {name: node_scores(explanations[name], segments, v, how) for name in names}
    counts = np.array([len(np.unique(s)) for s in segments])
    rows = []
    for i in range(len(segments)):
        for p, a in enumerate(names):
            for b in names[p + 1:]:
                rows.append({"image": i, "a": a, "b": b,
                             "spearman": rank_correlation(scores[a][i], scores[b][i]),
                             "n_nodes": int(counts[i])})
    return pd.DataFrame(rows, columns=["image", "a", "b", "spearman", "n_nodes"])


def agreement_matrix(table: Any):
    """Mean Spearman's rho of each pair (NaN ignored) as a symmetric names x names table."""
    import pandas as pd

    names = list(dict.fromkeys([*table["a"], *table["b"]]))
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for (a, b), group in table.groupby(["a", "b"], sort=False):
        values = group["spearman"].to_numpy(np.float64)
        value = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        out.loc[a, b] = out.loc[b, a] = value
    return out
