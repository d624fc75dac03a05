"""Plotly figures: pure functions of an :class:`~xai_lab.explain.Explanation` or of arrays.

Images are drawn with ``go.Image`` from a PNG data URI (small in a notebook, crisp at any size);
colour bars come from an invisible marker trace carrying the same colour scale. Nothing here
imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .colormaps import DIVERGING
from .maps import ALPHA, MapView, format_value, map_view, model_image, overlay_png
from .overlay import as_rgb_uint8, enlarge, plotly_colorscale, scale_for, to_data_uri

if TYPE_CHECKING:  # pragma: no cover
    from ..explain.explanation import Explanation

#: Colours of the course's figures (train, validation, extra curves).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_NOTE_COLOUR = "#8a1c1c"


def _label(names: Sequence[str] | None, k: int) -> str:
    return str(names[k]) if names is not None and 0 <= k < len(names) else f"class {k}"


def _image_trace(rgb: np.ndarray, name: str = "") -> go.Image:
    return go.Image(source=to_data_uri(rgb), name=name, hoverinfo="skip")


def _png_trace(png: bytes, name: str = "") -> go.Image:
    import base64

    return go.Image(source="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
                    name=name, hoverinfo="skip")


def _crisp(image: np.ndarray, size: int) -> np.ndarray:
    """An image enlarged by an integer nearest-neighbour factor to at least ``size`` pixels, so
    that the browser never smooths a low-resolution image into detail it does not have."""
    rgb = as_rgb_uint8(image)
    return enlarge(rgb, scale_for(rgb.shape, size))


def _wrap_html(text: str, width: int) -> str:
    import textwrap

    return "<br>".join(textwrap.wrap(text, width)) or text


def _colorbar_trace(
    cmap: str, lo: float, hi: float, title: str | dict = "relevance", x: float = 1.02, **colorbar: Any
) -> go.Scatter:
    """An invisible trace whose only purpose is to draw a colour bar from ``lo`` to ``hi``."""
    bar = {"title": title if isinstance(title, dict) else {"text": title}, "thickness": 12,
           "len": 0.8, "x": x, **colorbar}
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        showlegend=False,
        hoverinfo="skip",
        marker={
            "colorscale": plotly_colorscale(cmap),
            "cmin": lo,
            "cmax": hi,
            "color": [lo],
            "showscale": True,
            "colorbar": bar,
        },
    )


def _view_colorbar(view: MapView, **placement: Any) -> go.Scatter:
    """The colour bar of a map view: numbers at the ends (and zero), words for both ends."""
    signed = view.signed
    vals = [view.lo, 0.0, view.hi] if signed else [view.lo, view.hi]
    text = [format_value(v) for v in vals]
    return _colorbar_trace(view.cmap, view.lo, view.hi, tickvals=vals, ticktext=text, **placement)


def _hide_axes(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)


def explanation_title(explanation: Explanation, index: int = 0, label_names: Sequence[str] | None = None) -> str:
    """"Grad-CAM for 'pneumonia': predicted 'pneumonia' (p=0.93)" for image ``index``."""
    p = int(explanation.predictions[index])
    prob = float(explanation.probabilities[index, p])
    predicted = f"'{_label(label_names, p)}'" if label_names is not None else f"class {p}"
    return (
        f"{explanation.title} for {explanation.target_name(index, label_names)}: "
        f"predicted {predicted} (p={prob:.2f})"
    )


def explanation_figure(
    explanation: Explanation,
    index: int = 0,
    alpha: float = ALPHA,
    cmap: str | None = None,
    symmetric: bool | None = None,
    label_names: Sequence[str] | None = None,
    size: int = 260,
    native: bool = True,
) -> go.Figure:
    """The image the model saw, the map over it with a colour bar, and what the map means.

    Both panels are drawn at the model's resolution, enlarged with nearest neighbour: a 28 px
    X-ray shows as 28 x 28 blocks and Grad-CAM's map as its layer's grid (``native=False``
    shows the bilinear upsampling instead, and says so). The colour bar's ends carry the
    method's words ("raised the score of 'pneumonia'"); under the panels, the method's
    one-line meaning and the map's resolution, or -- for an all-zero, constant or non-finite
    map -- why there is nothing to see.

    Parameters
    ----------
    explanation : Explanation
    index : int
        Which image of the batch.
    alpha : float
        Largest opacity of the map over the image (it grows with the map's magnitude).
    cmap : str, optional
        Default: the house rule (diverging for signed maps, sequential otherwise).
    symmetric : bool, optional
        ``True`` forces a scale centred at zero.
    label_names : sequence of str, optional
        Class names for the title and the colour bar.
    size : int
        Pixel size of each panel.
    native : bool
        Draw the map at its own resolution (default).
    """
    view = map_view(explanation, index, label_names, cmap, native)
    if symmetric and not view.signed:
        view = map_view(explanation, index, label_names, cmap or "coolwarm", native)
    h, w = view.input_shape
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04,
                        subplot_titles=(f"the image the model saw ({h} x {w})",
                                        f"{view.title} over it"))  # fmt: skip
    fig.add_trace(_image_trace(_crisp(model_image(explanation, index), size), "image"), row=1, col=1)
    fig.add_trace(_png_trace(overlay_png(explanation, index, label_names, size=size, alpha=alpha,
                                         view=view), "overlay"), row=1, col=2)  # fmt: skip
    if not view.blank:
        bar = _view_colorbar(view, x=1.02, len=0.8, y=0.45, yanchor="middle", title={"text": ""},
                             tickfont={"size": 11})
        words = {view.lo: view.low_label, view.hi: view.high_label}
        bar.marker.colorbar.ticktext = [
            f"{format_value(v)}<br>" + _wrap_html(words[v], 24) if v in words else format_value(v)
            for v in bar.marker.colorbar.tickvals
        ]
        fig.add_trace(bar, row=1, col=2)
    _hide_axes(fig)
    lines = [view.note] if view.blank else [view.meaning, view.resolution]
    colour = _NOTE_COLOUR if view.blank else "#44505c"
    text = "<br>".join(_wrap_html(t, 2 * size // 7) for t in lines)
    n_lines = text.count("<br>") + 1
    fig.add_annotation(text=text, xref="paper", yref="paper", x=0.0, y=0.0, yshift=-8,
                       xanchor="left", yanchor="top", showarrow=False, align="left",
                       font={"size": 12, "color": colour})  # fmt: skip
    fig.update_layout(
        title={"text": explanation_title(explanation, index, label_names), "font": {"size": 14}},
        width=2 * size + 220,
        height=size + 90 + 17 * n_lines,
        margin={"l": 10, "r": 200, "t": 70, "b": 14 + 17 * n_lines},
        plot_bgcolor="white",
    )
    return fig


def compare_figure(
    explanations: Mapping[str, Explanation],
    n_images: int | None = None,
    alpha: float = ALPHA,
    cmap: str | None = None,
    label_names: Sequence[str] | None = None,
    size: int = 150,
    native: bool = True,
    shared_scale: bool = False,
) -> go.Figure:
    """A grid: one row per image, the image the model saw then one column per explanation.

    All explanations must cover the same images (same ``inputs``). Each column has its own
    colour bar under it (maps of different methods have different units). By default each map
    is scaled to its own largest magnitude, written in its corner ("max 0.012"), and the
    column's bar reads in those units ("0 ... max", or "-max ... 0 ... +max"); with
    ``shared_scale`` a column's maps share one scale, so their strengths compare down the
    column (and weak maps fade). Maps are drawn at their own resolution with nearest neighbour (see
    :func:`explanation_figure`). Blank maps (all zero, constant) are marked in their cell and
    the reason is written under the grid. Column titles are the keys, or the method's
    display name where the key is its registry name.
    """
    if not explanations:
        raise ValueError("compare_figure needs at least one explanation")
    names = list(explanations)
    first = explanations[names[0]]
    n = len(first) if n_images is None else min(int(n_images), len(first))
    if n < 1:
        raise ValueError("compare_figure needs at least one image")
    for name in names[1:]:
        other = explanations[name]
        if len(other) < n or other.inputs.shape[1:] != first.inputs.shape[1:]:
            raise ValueError(f"explanation {name!r} does not cover the same images as {names[0]!r}")
    cols = 1 + len(names)
    views: dict[str, list[MapView]] = {}
    for name in names:
        e = explanations[name]
        vs = [map_view(e, i, label_names, cmap, native) for i in range(n)]
        # one colour map per column: diverging when any of its maps is signed
        col_cmap = cmap or (DIVERGING if any(v.signed for v in vs) else None)
        vmax = max((max(abs(v.lo), abs(v.hi)) for v in vs if not v.blank), default=0.0)
        shared = vmax if shared_scale and vmax > 0 else None
        if col_cmap != cmap or shared is not None:
            vs = [map_view(e, i, label_names, col_cmap, native, vmax=shared) for i in range(n)]
        views[name] = vs
    column_titles = [explanations[k].title if k == explanations[k].method else k for k in names]
    titles = []
    for i in range(n):
        p = int(first.predictions[i])
        titles.append(f"#{i}: predicted {_label(label_names, p)} {first.probabilities[i, p]:.2f}")
        titles.extend(column_titles if i == 0 else [""] * len(names))
    fig = make_subplots(rows=n, cols=cols, subplot_titles=titles,
                        horizontal_spacing=0.012, vertical_spacing=0.03)  # fmt: skip
    fig.update_annotations(font_size=11)
    notes: list[str] = []
    for i in range(n):
        fig.add_trace(_image_trace(_crisp(model_image(first, i), size), f"image {i}"), row=i + 1, col=1)
        for j, name in enumerate(names):
            view = views[name][i]
            png = overlay_png(explanations[name], i, label_names, size=size, alpha=alpha, view=view)
            fig.add_trace(_png_trace(png, name), row=i + 1, col=j + 2)
            axis = i * cols + j + 2
            suffix = "" if axis == 1 else str(axis)
            if view.blank:
                notes.append(f"#{i} {column_titles[j]}: {view.note}")
                fig.add_annotation(text="blank map<br>(see below)", xref=f"x{suffix} domain",
                                   yref=f"y{suffix} domain", x=0.5, y=0.5, showarrow=False,
                                   font={"size": 11, "color": "white"}, bgcolor=_NOTE_COLOUR,
                                   opacity=0.85)  # fmt: skip
            elif not shared_scale:
                fig.add_annotation(text=f"max {format_value(max(abs(view.lo), abs(view.hi)), 2)}",
                                   xref=f"x{suffix} domain", yref=f"y{suffix} domain", x=1.0, y=0.0,
                                   xanchor="right", yanchor="bottom", showarrow=False,
                                   font={"size": 9, "color": "#1d2733"}, bgcolor="rgba(255,255,255,0.7)")  # fmt: skip
    _hide_axes(fig)
    grid_h = n * size
    bar_px = 78
    note_lines = [_wrap_html(t, max(40, (cols * size) // 7)) for t in notes]
    note_px = 16 * sum(t.count("<br>") + 1 for t in note_lines)
    for j, name in enumerate(names):
        shown = next((v for v in views[name] if not v.blank), None)
        if shown is None:
            continue
        domain = fig.layout[f"xaxis{'' if j + 2 == 1 else j + 2}"].domain
        title = (f"\u25c0 {_wrap_html(shown.low_label.replace(shown.target, 'the class'), 26)}"
                 f"<br>{_wrap_html(shown.high_label.replace(shown.target, 'the class'), 26)} \u25b6")
        bar = _view_colorbar(shown, orientation="h", x=(domain[0] + domain[1]) / 2,
                                     xanchor="center", y=-8 / grid_h, yanchor="top",
                                     len=0.92 * (domain[1] - domain[0]), lenmode="fraction",
                                     thickness=10, title={"text": title, "side": "bottom",
                                                          "font": {"size": 10}},
                                     tickfont={"size": 10})  # fmt: skip
        if not shared_scale:  # each map on its own scale: the bar reads in units of its maximum
            bar.marker.colorbar.ticktext = (["\u2212max", "0", "+max"] if shown.signed else ["0", "max"])
        fig.add_trace(bar, row=1, col=j + 2)
    if note_lines:
        fig.add_annotation(text="<br>".join(note_lines), xref="paper", yref="paper", x=0.0,
                           y=-(bar_px + 8) / grid_h, xanchor="left", yanchor="top",
                           showarrow=False, align="left",
                           font={"size": 11, "color": _NOTE_COLOUR})  # fmt: skip
    fig.update_layout(
        width=cols * size + 40,
        height=grid_h + 60 + bar_px + note_px + 10,
        margin={"l": 10, "r": 10, "t": 50, "b": bar_px + note_px + 10},
        plot_bgcolor="white",
    )
    return fig


def training_curves(history: Mapping[str, Sequence[float]], title: str = "training") -> go.Figure:
    """Loss (left) and every other metric (right) per epoch from a Keras-style history dict.

    Keys ``loss``/``val_loss`` go to the first panel; any other key ``m``/``val_m`` to the second.
    """
    keys = [k for k, v in history.items() if len(v)]
    loss_keys = [k for k in keys if k in ("loss", "val_loss")]
    other = [k for k in keys if k not in loss_keys and k not in ("lr", "learning_rate")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "metrics"))
    for col, group in ((1, loss_keys), (2, other)):
        for k_i, key in enumerate(group):
            values = np.asarray(history[key], dtype=np.float64)
            fig.add_trace(
                go.Scatter(
                    x=np.arange(1, len(values) + 1),
                    y=values,
                    mode="lines+markers",
                    name=key,
                    line={"color": PALETTE[(k_i + 2 * (col - 1)) % len(PALETTE)],
                          "dash": "dash" if key.startswith("val_") else "solid"},
                ),
                row=1,
                col=col,
            )  # fmt: skip
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, width=760, height=330, margin={"l": 40, "r": 10, "t": 60, "b": 40})
    return fig


def roc_curve_points(y: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold (descending), and the thresholds.

    Ties in ``scores`` are handled as one threshold. Returns ``(fpr, tpr, thresholds)`` starting
    at (0, 0) with threshold +inf. Raises when ``y`` lacks either class.
    """
    y = np.asarray(y).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y {y.shape} and scores {s.shape} differ in length")
    pos = int((y == 1).sum())
    neg = int((y == 0).sum())
    if pos == 0 or neg == 0 or pos + neg != len(y):
        raise ValueError("an ROC curve needs labels in {0, 1} with both classes present")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / pos]
    fpr = np.r_[0.0, fps / neg]
    return fpr, tpr, np.r_[np.inf, s[distinct]]


def roc_figure(
    y: Sequence[int], scores: Sequence[float], name: str = "model", threshold: float | None = None
) -> go.Figure:
    """ROC curve with its AUC (trapezoids); optionally marks the operating point of ``threshold``.

    ``y`` holds 0/1 labels and ``scores`` the probability of class 1.
    """
    fpr, tpr, _ = roc_curve_points(y, scores)
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                             line={"dash": "dot", "color": "grey"}))  # fmt: skip
    fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{name} (AUC {auc:.3f})",
                             line={"color": PALETTE[0]}))  # fmt: skip
    if threshold is not None:
        yy = np.asarray(y).astype(np.int64).ravel()
        pred = np.asarray(scores, dtype=np.float64).ravel() >= threshold
        tp = float((pred & (yy == 1)).sum() / max((yy == 1).sum(), 1))
        fp = float((pred & (yy == 0)).sum() / max((yy == 0).sum(), 1))
        fig.add_trace(go.Scatter(x=[fp], y=[tp], mode="markers", name=f"threshold {threshold:.2f}",
                                 marker={"size": 11, "color": PALETTE[3]}))  # fmt: skip
    fig.update_layout(
        title="ROC curve",
        xaxis_title="false-positive rate (1 - specificity)",
        yaxis_title="true-positive rate (sensitivity)",
        width=460,
        height=420,
        margin={"l": 50, "r": 10, "t": 50, "b": 50},
        legend={"x": 0.45, "y": 0.05},
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def confusion_figure(
    cm: np.ndarray, labels: Sequence[str] | None = None, normalize: bool = False, title: str = "confusion matrix"
) -> go.Figure:
    """A confusion-matrix heat map: rows are true classes, columns predicted ones.

    With ``normalize=True`` each row is divided by its total (a row of zeros stays zero); the
    counts are always written in the cells.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {cm.shape}")
    k = cm.shape[0]
    names = [_label(labels, i) for i in range(k)]
    z = cm.astype(np.float64)
    if normalize:
        totals = z.sum(axis=1, keepdims=True)
        z = np.divide(z, totals, out=np.zeros_like(z), where=totals > 0)
    text = [[f"{int(cm[i, j])}" + (f"<br>{z[i, j]:.0%}" if normalize else "") for j in range(k)]
            for i in range(k)]  # fmt: skip
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
            showscale=False,
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="predicted",
        yaxis_title="true",
        width=160 + 70 * k,
        height=140 + 70 * k,
        margin={"l": 60, "r": 10, "t": 50, "b": 50},
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def probability_bar(
    probabilities: Sequence[float], label_names: Sequence[str] | None = None, title: str = "prediction"
) -> go.Figure:
    """Horizontal bars of class probabilities; the most probable class is highlighted."""
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    names = [_label(label_names, i) for i in range(len(p))]
    best = int(np.argmax(p)) if len(p) else -1
    colors = [PALETTE[3] if i == best else PALETTE[0] for i in range(len(p))]
    fig = go.Figure(go.Bar(x=p, y=names, orientation="h", marker_color=colors,
                           text=[f"{v:.2f}" for v in p], textposition="auto"))  # fmt: skip
    fig.update_layout(
        title=title,
        xaxis={"range": [0, 1], "title": "probability"},
        width=380,
        height=120 + 28 * len(p),
        margin={"l": 100, "r": 10, "t": 40, "b": 40},
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def reliability_points(y: Sequence[int], proba: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean confidence, accuracy and count per equal-width confidence bin (empty bins: NaN, 0).

    Confidence is the top-class probability and accuracy whether the top class is right
    (the reliability diagram of Niculescu-Mizil & Caruana, 2005; Guo et al., 2017).
    """
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"proba must be (N, K) with N={len(y)}, got {p.shape}")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / counts
        accuracy = np.bincount(bins, weights=correct, minlength=n_bins) / counts
    return mean_conf, accuracy, counts


def calibration_figure(
    y: Sequence[int], probas: Mapping[str, np.ndarray], n_bins: int = 10, title: str = "reliability diagram"
) -> go.Figure:
    """Reliability diagram: accuracy against confidence per bin, one curve per probability set
    (e.g. ``{"before": p, "after temperature scaling": q}``); the diagonal is perfect calibration."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line={"dash": "dot", "color": "grey"}))  # fmt: skip
    for i, (name, proba) in enumerate(probas.items()):
        conf, acc, counts = reliability_points(y, proba, n_bins)
        keep = counts > 0
        fig.add_trace(go.Scatter(x=conf[keep], y=acc[keep], mode="lines+markers", name=name,
                                 marker={"size": 4 + 10 * np.sqrt(counts[keep] / counts.max())},
                                 line={"color": PALETTE[i % len(PALETTE)]},
                                 customdata=counts[keep],
                                 hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>n=%{customdata}"))  # fmt: skip
    fig.update_layout(title=title, xaxis_title="confidence (top-class probability)", yaxis_title="accuracy",
                      width=460, height=420, margin={"l": 50, "r": 10, "t": 50, "b": 50},
                      legend={"x": 0.02, "y": 0.98})  # fmt: skip
    fig.update_xaxes(range=[0, 1.02])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def image_grid(
    images: np.ndarray, titles: Sequence[str] | None = None, cols: int = 8, size: int = 110
) -> go.Figure:
    """A grid of images (N, H, W[, C]), uint8 or float in [0, 1]."""
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles or [""] * n),
                        horizontal_spacing=0.01, vertical_spacing=0.06)  # fmt: skip
    for i in range(n):
        fig.add_trace(_image_trace(_crisp(images[i], size)), row=i // cols + 1, col=i % cols + 1)
    _hide_axes(fig)
    fig.update_layout(width=cols * size + 20, height=rows * size + 40,
                      margin={"l": 5, "r": 5, "t": 30, "b": 5})  # fmt: skip
    fig.update_annotations(font_size=10)
    return fig


def figure_mimebundle(fig: go.Figure) -> dict[str, Any]:
    """The figure as a Jupyter display bundle: plotly JSON plus a plain-text fallback.

    The same bundle as plotly's ``plotly_mimetype`` renderer: it renders offline (plotly.js
    ships with the plotly wheel's JupyterLab extension) and keeps notebooks small. Built here
    with plotly's JSON encoder because importing ``plotly.io``'s renderers imports nbformat and
    jsonschema, which took seconds (tens of seconds on a busy machine) per kernel.
    """
    import json

    from plotly.io.json import to_json_plotly

    data = json.loads(to_json_plotly(fig.to_dict(), pretty=False))
    data.setdefault("config", {})
    title = fig.layout.title.text if fig.layout.title and fig.layout.title.text else "figure"
    return {"application/vnd.plotly.v1+json": data, "text/plain": f"<plotly figure: {title}>"}


def show(fig: go.Figure) -> None:
    """Display a figure through the offline ``plotly_mimetype`` bundle."""
    from IPython.display import display

    display(figure_mimebundle(fig), raw=True)


def set_notebook_renderer() -> None:
    """Make plotly figures render through the offline ``plotly_mimetype`` renderer.

    Auto-detection may choose ``notebook_connected``, which loads plotly.js from a CDN and stays
    blank offline; ``plotly_mimetype`` uses the plotly.js that ships with the JupyterLab extension.
    """
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype"
