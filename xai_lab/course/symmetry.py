"""Helpers of notebook 16 (symmetry: rotation-equivariant networks) and of
``benchmarks/equivariance.py``: scores on rotated images, and a grid of maps on one colour
scale.

>>> from xai_lab.course import symmetry
>>> symmetry.rotation_scores(model, val, angles=(0, 90, 45))      # doctest: +SKIP
{0: {'acc': 0.74, 'auc': 0.91}, 90: {...}, 45: {...}}
>>> viz.show(symmetry.map_grid({"x": a, "rotated": b}, cmap="RdBu_r"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: The angles of the course's and the benchmark's rotation tables.
ANGLES = (0, 90, 180, 270, 45)


def rotation_scores(model: Any, dataset: Any, angles: Sequence[float] = ANGLES
                    ) -> dict[float, dict[str, float]]:
    """Scores of ``model`` on the images of ``dataset`` rotated counter-clockwise by each angle
    (:func:`xai_lab.models.equivariant.rotate`: exact for quarter turns, bilinear otherwise).

    Returns ``{angle: {"acc": accuracy, "auc": AUC (MedMNIST's definition), "agree": share of
    images whose predicted class is the one predicted for the upright image}}``.
    """
    from .. import models
    from ..models.equivariant import rotate
    from ..training import metrics

    upright = models.predict_proba(model, dataset.images).argmax(axis=1)
    out: dict[float, dict[str, float]] = {}
    for angle in angles:
        proba = models.predict_proba(model, rotate(dataset.images, angle))
        predicted = proba.argmax(axis=1)
        out[angle] = {
            "acc": metrics.accuracy(dataset.labels, predicted),
            "auc": metrics.auc(dataset.labels, proba),
            "agree": float(np.mean(predicted == upright)),
        }
    return out


def map_grid(
    maps: Mapping[str, Any],
    cols: int | None = None,
    cmap: str = "RdBu_r",
    symmetric: bool | None = None,
    colorbar: str = "value",
    title: str = "",
    size: int = 150,
) -> Any:
    """Maps (title -> (H, W) array) side by side on ONE colour scale, with its colour bar.

    Parameters
    ----------
    maps : mapping of str to (H, W) arrays
        Panels in order; all share the colour scale, so equal maps look equal.
    cols : int, optional
        Panels per row (default: all in one row).
    cmap : str
        A colour map of :data:`xai_lab.viz.COLORMAPS`: ``RdBu_r`` for signed values (centred at
        zero), ``viridis`` / ``inferno`` for non-negative ones.
    symmetric : bool, optional
        Centre the scale at zero (default: for diverging colour maps).
    colorbar : str
        What the colours mean (the colour bar's title).
    title : str
    size : int
        Pixel size of a panel.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..viz import COLORMAPS, plotly_colorscale

    if not maps:
        raise ValueError("map_grid needs at least one map")
    if cmap not in COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; choose one of {', '.join(COLORMAPS)}")
    arrays = {name: np.asarray(m, dtype=np.float64) for name, m in maps.items()}
    for name, a in arrays.items():
        if a.ndim != 2:
            raise ValueError(f"map {name!r} must be 2-D (H, W), got shape {a.shape}")
    symmetric = COLORMAPS[cmap] if symmetric is None else bool(symmetric)
    values = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays.values()])
    if values.size == 0:
        lo, hi = 0.0, 1.0
    elif symmetric:
        hi = float(np.abs(values).max()) or 1.0
        lo = -hi
    else:  # from zero (or below, for negative values) to the largest value
        lo, hi = min(float(values.min()), 0.0), float(values.max())
        hi = hi if hi > lo else lo + 1.0
    n = len(arrays)
    cols = n if cols is None else max(1, min(int(cols), n))
    rows = (n + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(arrays),
                        horizontal_spacing=0.02, vertical_spacing=0.08)  # fmt: skip
    for i, (name, a) in enumerate(arrays.items()):
        fig.add_trace(
            go.Heatmap(z=a, coloraxis="coloraxis", name=name,
                       hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>"),
            row=i // cols + 1, col=i % cols + 1,
        )  # fmt: skip
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed",
                     scaleanchor="x", constrain="domain")  # fmt: skip
    for i in range(2, n + 1):  # square pixels in every panel
        fig.update_yaxes(scaleanchor=f"x{i}", row=(i - 1) // cols + 1, col=(i - 1) % cols + 1)
    fig.update_layout(
        coloraxis={"colorscale": plotly_colorscale(cmap), "cmin": lo, "cmax": hi,
                   "colorbar": {"title": {"text": colorbar}, "thickness": 12, "len": 0.9}},
        title={"text": title, "font": {"size": 14}} if title else None,
        width=cols * size + 140,
        height=rows * size + (80 if title else 50),
        margin={"l": 10, "r": 10, "t": 70 if title else 40, "b": 10},
        plot_bgcolor="white",
    )
    fig.update_annotations(font_size=11)
    return fig
