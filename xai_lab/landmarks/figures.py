"""Plotly figures of landmark searches: the path over the image, and one step with its maps.

Images are drawn at their own resolution (axes in image pixels; the centre of pixel ``(i, j)`` at
``x = j, y = i``), upscaled with nearest neighbours only so that the browser does not blur them.
The maps are non-negative (Grad-CAM is ReLU'd; saliency is an absolute gradient), so they use a
perceptual sequential colour map (inferno) with a colour bar of their values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..viz import as_rgb_uint8, overlay, plotly_colorscale, to_data_uri
from .environment import ACTIONS
from .explain import TrajectoryExplanation
from .search import Trajectory

#: Colours of the scales, coarse to fine.
SCALE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
MAP_CMAP = "inferno"
TRUTH_COLOUR = "#00e5ff"
#: What a method's map values are, for the colour bar.
MAP_UNITS = {"gradcam": "Grad-CAM value", "saliency": "|dQ / dpixel|"}


def _image(rgb: np.ndarray, upscale: int = 1) -> go.Image:
    """An image trace whose pixel ``(i, j)`` is centred at ``(x=j, y=i)``, at any upscaling."""
    k = max(1, int(upscale))
    big = np.kron(rgb, np.ones((k, k, 1), np.uint8)) if k > 1 else rgb
    return go.Image(source=to_data_uri(big), x0=-0.5 + 0.5 / k, dx=1.0 / k, y0=-0.5 + 0.5 / k, dy=1.0 / k,
                    hoverinfo="skip")  # fmt: skip


def _upscale_for(side: int, pixels: int) -> int:
    return max(1, int(round(pixels / max(1, side))))


def _path_traces(traj: Trajectory, upto: int | None = None, legend: bool = True) -> list[go.Scatter]:
    """The moves up to step ``upto`` (all by default), one coloured line per scale."""
    last = len(traj) if upto is None else int(upto)
    traces = []
    for level in range(len(traj.strides)):
        steps = np.flatnonzero(traj.levels[:last] == level)
        if len(steps) == 0:
            continue
        pts = np.concatenate([traj.positions[steps[:1]], traj.positions[steps + 1]])
        traces.append(go.Scatter(
            x=pts[:, 1], y=pts[:, 0], mode="lines+markers", name=f"scale {level + 1} (step {traj.strides[level]} px)",
            line={"color": SCALE_COLOURS[level % len(SCALE_COLOURS)], "width": 2},
            marker={"size": 5}, showlegend=legend,
            hovertemplate="row %{y}, column %{x}<extra>scale " + str(level + 1) + "</extra>",
        ))  # fmt: skip
    return traces


def _point(rc: Any, name: str, symbol: str, colour: str, legend: bool = True) -> go.Scatter:
    return go.Scatter(x=[float(rc[1])], y=[float(rc[0])], mode="markers", name=name, showlegend=legend,
                      marker={"symbol": symbol, "size": 12, "color": colour, "line": {"width": 1, "color": "black"}},
                      hovertemplate=name + ": row %{y:.1f}, column %{x:.1f}<extra></extra>")  # fmt: skip


def _image_axes(fig: go.Figure, row: int, col: int, side: int, titles: bool = True) -> None:
    fig.update_xaxes(range=[-0.5, side - 0.5], showgrid=False, zeroline=False, row=row, col=col,
                     title_text="column (px)" if titles else None)  # fmt: skip
    fig.update_yaxes(range=[side - 0.5, -0.5], showgrid=False, zeroline=False, row=row, col=col,
                     title_text="row (px)" if titles else None)  # fmt: skip


def trajectory_figure(trajectory: Trajectory, title: str | None = None, size: int = 420) -> go.Figure:
    """The image with the agent's path (one colour per scale), its start, its end and the truth."""
    traj = trajectory
    if traj.image is None:
        raise ValueError("the trajectory does not hold its image (search with record=True)")
    side = traj.image.shape[0]
    fig = go.Figure()
    fig.add_trace(_image(as_rgb_uint8(traj.image), _upscale_for(side, size)))
    for t in _path_traces(traj):
        fig.add_trace(t)
    fig.add_trace(_point(traj.positions[0], "start", "circle", "white"))
    fig.add_trace(_point(traj.positions[-1], "end of the search", "x", "#ffd400"))
    if traj.target is not None:
        fig.add_trace(_point(traj.target, "true landmark", "star", TRUTH_COLOUR))
    err = "" if traj.target is None else f", error {traj.error:.2f} px"
    fig.update_layout(
        title={"text": title or f"search: {len(traj)} moves, ended by {traj.end}{err}", "font": {"size": 13}},
        width=size + 240, height=size + 60, margin={"l": 50, "r": 10, "t": 40, "b": 40},
        legend={"x": 1.02, "y": 1.0, "font": {"size": 11}},
    )  # fmt: skip
    fig.update_xaxes(range=[-0.5, side - 0.5], showgrid=False, zeroline=False, title_text="column (px)")
    fig.update_yaxes(range=[side - 0.5, -0.5], showgrid=False, zeroline=False, title_text="row (px)",
                     scaleanchor="x")  # fmt: skip
    return fig


def _colourbar(lo: float, hi: float, title: str, x: float) -> go.Scatter:
    return go.Scatter(
        x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
        marker={"colorscale": plotly_colorscale(MAP_CMAP), "cmin": lo, "cmax": hi, "color": [lo], "showscale": True,
                "colorbar": {"title": {"text": title, "side": "right"}, "thickness": 10, "len": 0.75, "x": x, "y": 0.5}},
    )  # fmt: skip


def step_figure(explanation: TrajectoryExplanation, step: int, methods: Sequence[str] | None = None,
                panel: int = 200) -> go.Figure:  # fmt: skip
    """One step of a search: where the agent is, what it saw, the maps of its choice, its Q-values.

    Panels: the image with the path so far, the current crop's outline and the true landmark; the
    crop the agent saw (at its scale: one crop pixel is a ``stride x stride`` block); one panel
    per method with the map of the chosen action's Q-value over the crop (colour bar: the map's
    values); the Q-values of the four actions, the chosen one highlighted.
    """
    traj = explanation.trajectory
    if not 0 <= int(step) < len(traj):
        raise IndexError(f"step {step} is outside 0..{len(traj) - 1}")
    step = int(step)
    if traj.image is None:
        raise ValueError("the trajectory does not hold its image (search with record=True)")
    methods = list(methods or explanation.methods)
    side = traj.image.shape[0]
    crop = traj.crops[step]
    c = crop.shape[0]
    stride = int(traj.strides[int(traj.levels[step])])
    action = int(traj.actions[step])
    n_cols = 3 + len(methods)
    titles = ["image and path", f"what the agent sees (1 px = {stride} px)"]
    titles += [f"{explanation.titles.get(m, m)} of Q({ACTIONS[action]})" for m in methods]
    titles += ["Q-values"]
    # panel widths and gaps in pixels: a wider gap after each map for its colour bar
    gaps = [70, 40] + [110] * (len(methods) - 1) + [170]
    width = 50 + n_cols * panel + sum(gaps) + 20
    fig = make_subplots(rows=1, cols=n_cols, subplot_titles=titles)
    x = 50.0
    for j in range(1, n_cols + 1):
        domain = [x / width, (x + panel) / width]
        fig.layout[f"xaxis{j}"].domain = domain
        fig.layout.annotations[j - 1].x = (domain[0] + domain[1]) / 2
        x += panel + (gaps[j - 1] if j - 1 < len(gaps) else 0)
    # 1: the image with the path so far and the crop's footprint
    fig.add_trace(_image(as_rgb_uint8(traj.image), _upscale_for(side, panel)), row=1, col=1)
    for t in _path_traces(traj, upto=step, legend=False):
        fig.add_trace(t, row=1, col=1)
    top, left, bottom, right = traj.footprint(step)
    fig.add_shape(type="rect", x0=left - 0.5, y0=top - 0.5, x1=right + 0.5, y1=bottom + 0.5,
                  line={"color": "#ffd400", "width": 2}, row=1, col=1)  # fmt: skip
    fig.add_trace(_point(traj.positions[step], "agent", "circle", "#ffd400", legend=False), row=1, col=1)
    if traj.target is not None:
        fig.add_trace(_point(traj.target, "true landmark", "star", TRUTH_COLOUR, legend=False), row=1, col=1)
    _image_axes(fig, 1, 1, side)
    # 2: the crop; 3..: the maps over the crop
    up = _upscale_for(c, panel)
    fig.add_trace(_image(as_rgb_uint8(crop), up), row=1, col=2)
    _image_axes(fig, 1, 2, c, titles=False)
    for j, method in enumerate(methods, start=3):
        heat = explanation[method].maps[step]
        fig.add_trace(_image(overlay(crop, heat, alpha=0.6, cmap=MAP_CMAP, symmetric=False), up), row=1, col=j)
        _image_axes(fig, 1, j, c, titles=False)
        domain = fig.layout[f"xaxis{j}"].domain
        lo, hi = float(np.nanmin(heat)), float(np.nanmax(heat))
        fig.add_trace(_colourbar(lo, hi, MAP_UNITS.get(method, "relevance"), domain[1] + 0.006), row=1, col=j)
    for j in range(2, 3 + len(methods)):
        fig.add_trace(_point(((c - 1) / 2, (c - 1) / 2), "agent", "cross-thin-open", "#ffd400", legend=False),
                      row=1, col=j)  # fmt: skip
    # last: the Q-values
    q = traj.q_values[step]
    colours = ["#ffb000" if a == action else "#9aa5b1" for a in range(len(ACTIONS))]
    fig.add_trace(go.Bar(x=list(ACTIONS), y=q, marker_color=colours, showlegend=False,
                         hovertemplate="Q(%{x}) = %{y:.3f}<extra></extra>"), row=1, col=n_cols)  # fmt: skip
    fig.update_yaxes(title_text="Q-value (return in steps)", row=1, col=n_cols)
    fig.update_xaxes(title_text="action", row=1, col=n_cols)
    err = "" if traj.target is None else f"; {np.linalg.norm(traj.positions[step] - traj.target):.1f} px from the landmark"
    fig.update_layout(
        title={"text": f"step {step + 1} of {len(traj)} at scale {int(traj.levels[step]) + 1} (moves of {stride} px): "
                       f"chose {ACTIONS[action]}{err}", "font": {"size": 13}},
        width=width, height=panel + 130, margin={"l": 0, "r": 0, "t": 70, "b": 50},
    )  # fmt: skip
    fig.update_annotations(font_size=11)
    return fig


#: Marker of each landmark in :func:`landmarks_figure`.
LANDMARK_MARKERS = {
    "carina": ("star", "#00e5ff"),
    "right_apex": ("triangle-up", "#7CFC00"),
    "left_apex": ("triangle-up", "#ff66cc"),
    "lesion": ("x", "#ffd400"),
}


def landmarks_figure(data: Any, n: int = 6, cols: int = 6, panel: int = 150) -> go.Figure:
    """The first ``n`` images of a :class:`~.phantoms.LandmarkSet` with their landmarks marked."""
    from .phantoms import LANDMARK_TITLES, LANDMARKS

    n = max(1, min(int(n), len(data)))
    cols = max(1, min(int(cols), n))
    rows = (n + cols - 1) // cols
    side = data.size
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.01, vertical_spacing=0.02)
    for i in range(n):
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(_image(as_rgb_uint8(data.images[i]), _upscale_for(side, panel)), row=r, col=c)
        for k, name in enumerate(LANDMARKS):
            symbol, colour = LANDMARK_MARKERS[name]
            fig.add_trace(_point(data.points[i, k], LANDMARK_TITLES[name], symbol, colour, legend=i == 0),
                          row=r, col=c)  # fmt: skip
        fig.update_xaxes(range=[-0.5, side - 0.5], row=r, col=c)
        fig.update_yaxes(range=[side - 0.5, -0.5], row=r, col=c)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(
        title={"text": f"phantom radiographs ({side} x {side} px) and their landmarks", "font": {"size": 13}},
        width=cols * panel + 250, height=rows * panel + 60, margin={"l": 5, "r": 5, "t": 40, "b": 5},
        legend={"x": 1.01, "y": 1.0, "font": {"size": 11}},
    )  # fmt: skip
    return fig


def scales_figure(image: np.ndarray, position: Any, crop_size: int = 15, strides: Any = None,
                  panel: int = 170) -> go.Figure:  # fmt: skip
    """What the agent sees at ``position`` at every scale: the image with each crop's outline,
    then the crops (one crop pixel = a ``stride x stride`` box average of the image)."""
    from .environment import LandmarkEnvironment

    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    env = LandmarkEnvironment(img[None], crop_size=crop_size, strides=strides)
    pos = np.asarray(position, np.int64).reshape(1, 2)
    n = env.n_scales
    titles = ["image"] + [f"scale {k + 1}: crop of {crop_size} x {crop_size}, 1 px = {s} px"
                          for k, s in enumerate(env.strides)]  # fmt: skip
    fig = make_subplots(rows=1, cols=n + 1, subplot_titles=titles, horizontal_spacing=0.03)
    side = env.size
    fig.add_trace(_image(as_rgb_uint8(img), _upscale_for(side, panel)), row=1, col=1)
    half = crop_size // 2
    for k, stride in enumerate(env.strides):
        lo, hi = stride // 2, stride - stride // 2 - 1
        r, c = int(pos[0, 0]), int(pos[0, 1])
        colour = SCALE_COLOURS[k % len(SCALE_COLOURS)]
        fig.add_shape(type="rect", x0=c - half * stride - lo - 0.5, x1=c + half * stride + hi + 0.5,
                      y0=r - half * stride - lo - 0.5, y1=r + half * stride + hi + 0.5,
                      line={"color": colour, "width": 2}, row=1, col=1)  # fmt: skip
        crop = env.observe(np.array([0]), pos, np.array([k]))[0]
        fig.add_trace(_image(as_rgb_uint8(crop), _upscale_for(crop_size, panel)), row=1, col=k + 2)
        fig.add_shape(type="rect", x0=-0.5, x1=crop_size - 0.5, y0=-0.5, y1=crop_size - 0.5,
                      line={"color": colour, "width": 3}, row=1, col=k + 2)  # fmt: skip
        fig.update_xaxes(range=[-0.5, crop_size - 0.5], row=1, col=k + 2)
        fig.update_yaxes(range=[crop_size - 0.5, -0.5], row=1, col=k + 2)
    fig.add_trace(_point(pos[0], "agent", "circle", "#ffd400", legend=False), row=1, col=1)
    fig.update_xaxes(range=[-0.5, side - 0.5], row=1, col=1)
    fig.update_yaxes(range=[side - 0.5, -0.5], row=1, col=1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(width=(n + 1) * (panel + 20), height=panel + 90, margin={"l": 5, "r": 5, "t": 70, "b": 5},
                      title={"text": f"what the agent sees at row {int(pos[0, 0])}, column {int(pos[0, 1])}, "
                             "scale by scale", "font": {"size": 13}})  # fmt: skip
    fig.update_annotations(font_size=10)
    return fig


def training_figure(log: Any) -> go.Figure:
    """Loss and mean reward per move during training, against the number of updates."""
    h = log.history
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Huber loss of the double-DQN target",
                                                        "mean reward per move (in steps) and exploration"))  # fmt: skip
    fig.add_trace(go.Scatter(x=h["update"], y=h["loss"], mode="lines+markers", name="loss"), row=1, col=1)
    fig.add_trace(go.Scatter(x=h["update"], y=h["reward"], mode="lines+markers", name="reward per move"), row=1, col=2)
    fig.add_trace(go.Scatter(x=h["update"], y=h["epsilon"], mode="lines", name="epsilon (exploration)",
                             line={"dash": "dot"}), row=1, col=2)  # fmt: skip
    fig.update_xaxes(title_text="updates")
    fig.update_layout(width=820, height=330, margin={"l": 40, "r": 10, "t": 50, "b": 40},
                      title={"text": f"training: {log.updates} updates, {log.transitions} moves, "
                             f"{log.seconds:.0f} s", "font": {"size": 13}})  # fmt: skip
    fig.update_annotations(font_size=11)
    return fig
