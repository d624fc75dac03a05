"""Figures of superpixel graphs and of their explanations (plotly, pure functions).

Small images are enlarged by repeating pixels (nearest neighbour, no smoothing) so that the
superpixel outlines can be drawn one screen pixel wide; the painted scores stay those of the
model's true resolution (every enlarged block is one input pixel).

Colours: signed scores on the diverging ``RdBu_r`` map centred at zero (red for evidence for the
explained class, blue against), non-negative ones (the GNNExplainer mask, Grad-CAM) on
``viridis``; each map is divided by its largest absolute value on that image, so the colour bar
reads "score / max |score|" (methods have different units).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..explain.explanation import Explanation
from ..viz.overlay import as_rgb_uint8, colorize, plotly_colorscale, to_data_uri
from .construct import SuperpixelGraphs
from .explainers import NodeExplanation

OUTLINE = np.array([255, 200, 0], np.float64)     # superpixel outlines on the image
OUTLINE_ON_MAP = np.array([40, 40, 40], np.float64)


def _scale_for(size: int) -> int:
    return max(1, int(round(224 / max(size, 1))))


def _enlarge(array: np.ndarray, k: int) -> np.ndarray:
    return np.repeat(np.repeat(array, k, axis=0), k, axis=1)


def outlines(segments: np.ndarray, k: int) -> np.ndarray:
    """Boolean (H k, W k) mask of the superpixel borders of an enlarged segmentation."""
    s = _enlarge(np.asarray(segments), k)
    edge = np.zeros(s.shape, bool)
    edge[:, :-1] |= s[:, :-1] != s[:, 1:]
    edge[:-1, :] |= s[:-1, :] != s[1:, :]
    return edge


def _draw_outlines(rgb: np.ndarray, segments: np.ndarray, k: int, color: np.ndarray,
                   opacity: float = 0.45) -> np.ndarray:
    big = _enlarge(rgb, k).astype(np.float64)
    edge = outlines(segments, k)
    big[edge] = (1 - opacity) * big[edge] + opacity * color
    return np.clip(np.round(big), 0, 255).astype(np.uint8)


def _colorbar(cmap: str, lo: float, hi: float, title: str, x: float) -> go.Scatter:
    return go.Scatter(
        x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
        marker={"colorscale": plotly_colorscale(cmap), "cmin": lo, "cmax": hi, "color": [lo],
                "showscale": True,
                "colorbar": {"title": {"text": title, "side": "right"}, "thickness": 12, "len": 0.9, "x": x}},
    )


def _hide_axes(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)


def graph_figure(graphs: SuperpixelGraphs, index: int = 0, size: int = 300,
                 title: str | None = None) -> go.Figure:
    """The image with its superpixels (left) and its region adjacency graph (right).

    On the right, each node sits at its superpixel's centroid, coloured by the superpixel's mean
    intensity (first channel's for colour images: ``mean_red``), with a colour bar; a line joins
    two nodes whose superpixels touch.
    """
    if not 0 <= int(index) < len(graphs):
        raise IndexError(f"index {index} out of range for {len(graphs)} graphs")
    i = int(index)
    image, seg = graphs.images[i], graphs.segments[i]
    h, w = seg.shape
    k = _scale_for(max(h, w))
    rgb = as_rgb_uint8(image)
    n = int(graphs.n_nodes[i])
    names = list(graphs.feature_names)
    feats = graphs.features[i, :n]
    ys = feats[:, names.index("y")] * (h - 1) * k + k / 2
    xs = feats[:, names.index("x")] * (w - 1) * k + k / 2
    intensity = feats[:, 0]
    edges = graphs.graph_edges(i)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04, subplot_titles=(
        f"{n} SLIC superpixels", f"region adjacency graph: {n} nodes, {len(edges)} edges"))
    fig.add_trace(go.Image(source=to_data_uri(_draw_outlines(rgb, seg, k, OUTLINE)), hoverinfo="skip"), 1, 1)
    faded = np.round(0.35 * _enlarge(rgb, k).astype(np.float64) + 0.65 * 255).astype(np.uint8)
    fig.add_trace(go.Image(source=to_data_uri(faded), hoverinfo="skip"), 1, 2)
    ex, ey = [], []
    for u, v in edges:
        ex += [xs[u], xs[v], None]
        ey += [ys[u], ys[v], None]
    fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line={"color": "rgba(60,60,60,0.6)", "width": 1},
                             hoverinfo="skip", showlegend=False), 1, 2)
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers", showlegend=False,
        text=[f"node {v}: {names[0]} {intensity[v]:.2f}, area {feats[v, -1]:.3f}" for v in range(n)],
        hoverinfo="text",
        marker={"size": 9, "color": intensity, "colorscale": plotly_colorscale("gray"), "cmin": 0.0,
                "cmax": 1.0, "line": {"width": 1, "color": "#d62728"}, "showscale": True,
                "colorbar": {"title": {"text": f"node {names[0]} (0-1)", "side": "right"},
                             "thickness": 12, "len": 0.9}}), 1, 2)
    _hide_axes(fig)
    fig.update_xaxes(range=[-0.5, w * k - 0.5], row=1, col=2)
    fig.update_yaxes(range=[h * k - 0.5, -0.5], row=1, col=2)
    label = ""
    if graphs.labels is not None and graphs.label_names:
        label = f" (label: {graphs.label_names[int(graphs.labels[i])]})"
    fig.update_layout(
        title={"text": title or f"{graphs.name or 'image'} #{i}{label}, {h}x{w} px", "font": {"size": 14}},
        width=2 * size + 160, height=size + 90, margin={"l": 10, "r": 10, "t": 70, "b": 10},
        plot_bgcolor="white",
    )
    return fig


def _is_signed(e: Any) -> bool:
    if isinstance(e, NodeExplanation):
        return bool(e.signed)
    finite = e.maps[np.isfinite(e.maps)]
    return bool(finite.size and finite.min() < 0)


def node_explanation_figure(
    explanations: Mapping[str, NodeExplanation | Explanation],
    indices: Sequence[int] | int = 0,
    alpha: float = 0.75,
    label_names: Sequence[str] | None = None,
    size: int = 190,
) -> go.Figure:
    """A grid: one row per image; the image with its superpixels, then one column per explanation.

    NodeExplanations are painted superpixel by superpixel (with the outlines); pixel
    Explanations (of an image model, for comparison) are drawn pixel by pixel. Every map is
    divided by its largest absolute value on its image; signed maps use ``RdBu_r`` from -1 to 1,
    non-negative ones ``viridis`` from 0 to 1, each with its colour bar.

    Parameters
    ----------
    explanations : mapping of title -> NodeExplanation or Explanation
        Of the same images; the first NodeExplanation gives the superpixels.
    indices : int or sequence of int
        The images (rows).
    alpha : float
        Opacity of the colours over the image.
    label_names : sequence of str, optional
        Class names for the row titles.
    size : int
        Pixel size of a panel.
    """
    if not explanations:
        raise ValueError("node_explanation_figure needs at least one explanation")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    nodes = [e for e in explanations.values() if isinstance(e, NodeExplanation)]
    if not nodes:
        raise ValueError("give at least one NodeExplanation (it carries the superpixels)")
    ref = nodes[0]
    rows = [int(indices)] if isinstance(indices, (int, np.integer)) else [int(i) for i in indices]
    for name, e in explanations.items():
        if len(e) != len(ref) or e.inputs.shape != ref.inputs.shape:
            raise ValueError(f"explanation {name!r} does not cover the same images")
    if not rows or any(not 0 <= r < len(ref) for r in rows):
        raise IndexError(f"indices must lie in 0..{len(ref) - 1}")
    names = list(explanations)
    cols = 1 + len(names)
    def cls(c: int) -> str:
        return str(label_names[c]) if label_names is not None and 0 <= c < len(label_names) else f"class {c}"

    titles = []
    for r_i, r in enumerate(rows):
        t, p = int(ref.targets[r]), int(ref.predictions[r])
        titles.append(f"#{r}: predicted {cls(p)} {ref.probabilities[r, p]:.2f}<br>explained: {cls(t)}")
        titles += names if r_i == 0 else [""] * len(names)
    height = len(rows) * (size + 45) + 60
    spacing = min(45 / height, 1 / max(len(rows) - 1, 1) - 1e-3) if len(rows) > 1 else 0.0
    fig = make_subplots(rows=len(rows), cols=cols, subplot_titles=titles,
                        horizontal_spacing=0.01, vertical_spacing=spacing)
    h, w = ref.segments.shape[1:]
    k = _scale_for(max(h, w))
    signed_any = unsigned_any = False
    for r_i, r in enumerate(rows):
        seg = ref.segments[r]
        rgb = as_rgb_uint8(ref.inputs[r])
        fig.add_trace(go.Image(source=to_data_uri(_draw_outlines(rgb, seg, k, OUTLINE)), hoverinfo="skip"),
                      r_i + 1, 1)
        for j, name in enumerate(names):
            e = explanations[name]
            heat = e.maps[r].astype(np.float64)
            finite = heat[np.isfinite(heat)]
            peak = float(np.abs(finite).max()) if finite.size else 0.0
            scaled = heat / peak if peak > 0 else np.zeros_like(heat)
            signed = _is_signed(e)
            signed_any |= signed
            unsigned_any |= not signed
            colors = colorize(scaled, "RdBu_r", vmin=-1.0, vmax=1.0) if signed else \
                colorize(scaled, "viridis", vmin=0.0, vmax=1.0)
            blended = (1 - alpha) * rgb.astype(np.float64) + alpha * colors.astype(np.float64)
            blended = np.clip(np.round(blended), 0, 255).astype(np.uint8)
            if isinstance(e, NodeExplanation):
                panel = _draw_outlines(blended, e.segments[r], k, OUTLINE_ON_MAP, 0.5)
            else:
                panel = _enlarge(blended, k)
            fig.add_trace(go.Image(source=to_data_uri(panel), hoverinfo="skip"), r_i + 1, j + 2)
    x = 1.01
    if signed_any:
        fig.add_trace(_colorbar("RdBu_r", -1.0, 1.0, "signed score / max |score|", x), 1, cols)
        x += 0.09
    if unsigned_any:
        fig.add_trace(_colorbar("viridis", 0.0, 1.0, "score / max score (>= 0)", x), 1, cols)
    _hide_axes(fig)
    fig.update_layout(width=cols * size + 190, height=height,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, plot_bgcolor="white")
    fig.update_annotations(font_size=11)
    return fig


def agreement_figure(matrix: Any, title: str = "mean Spearman rank correlation per superpixel") -> go.Figure:
    """A heat map of :func:`~xai_lab.graphs.compare.agreement_matrix` (RdBu_r from -1 to 1)."""
    names = list(matrix.index)
    values = matrix.to_numpy(np.float64)
    text = [["" if not np.isfinite(v) else f"{v:.2f}" for v in row] for row in values]
    fig = go.Figure(go.Heatmap(
        z=values, x=names, y=names, zmin=-1, zmax=1, colorscale=plotly_colorscale("RdBu_r"),
        text=text, texttemplate="%{text}", hoverinfo="skip",
        colorbar={"title": {"text": "Spearman rho", "side": "right"}, "thickness": 12}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title={"text": title, "font": {"size": 14}}, width=140 + 110 * len(names),
                      height=120 + 60 * len(names), margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return fig
