"""A figure of the float model's maps beside the deployed model's, and their difference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..explain import Explanation
from ..viz import as_rgb_uint8, colorize, plotly_colorscale, to_data_uri
from .compare import compare_explanations

CMAP = "RdBu_r"  # signed maps: diverging, centred at zero


def method_title(explanation: Explanation) -> str:
    """The method's display name (``Occlusion``, ``SHAP (partition)``)."""
    from .. import explain

    try:
        title = explain.get(explanation.method).title or explanation.method
    except KeyError:
        title = explanation.method
    algorithm = explanation.parameters.get("algorithm")
    return f"{title} ({algorithm})" if algorithm else title


def agreement_figure(
    reference: Explanation,
    deployed: Explanation,
    deployed_name: str = "int8",
    n_images: int = 4,
    label_names: Sequence[str] | None = None,
    colorbar_title: str = "relevance",
    size: int = 130,
) -> go.Figure:
    """One row per image: the image, the Keras model's map, the deployed model's, the difference.

    All maps share one colour scale, symmetric about zero (a diverging map: red raises the
    explained class's score, blue lowers it), with one colour bar; each row's title gives the
    rank correlation of the two maps.

    Parameters
    ----------
    reference, deployed : Explanation
        The same method on the same images and classes (see :func:`~xai_lab.edge.explain_both`).
    deployed_name : str
        How to call the deployed model in the column title.
    colorbar_title : str
        What the colours mean (the method's unit).
    """
    agreement = compare_explanations(reference, deployed)
    n = min(int(n_images), len(reference))
    if n < 1:
        raise ValueError("agreement_figure needs at least one image")
    maps = [reference.maps[:n], deployed.maps[:n], deployed.maps[:n] - reference.maps[:n]]
    bound = float(max(np.abs(m).max() for m in maps[:2])) or 1.0
    columns = ["image", "Keras float32", f"TFLite {deployed_name}", f"{deployed_name} − float32"]
    titles = []
    for i in range(n):
        t = int(reference.targets[i])
        name = label_names[t] if label_names is not None and t < len(label_names) else f"class {t}"
        rho = agreement.rank_correlation[i]
        titles.append(f"#{i} for {name}")
        titles.extend([f"{columns[1]}" if i == 0 else "", f"{columns[2]}" if i == 0 else "",
                       f"{columns[3]}, ρ={rho:.3f}" if i == 0 else f"ρ={rho:.3f}"])
    fig = make_subplots(rows=n, cols=4, subplot_titles=titles, horizontal_spacing=0.015,
                        vertical_spacing=0.05)
    for i in range(n):
        fig.add_trace(go.Image(source=to_data_uri(as_rgb_uint8(reference.inputs[i])), hoverinfo="skip"),
                      row=i + 1, col=1)
        for j, m in enumerate(maps, start=2):
            rgb = colorize(m[i], CMAP, vmin=-bound, vmax=bound)
            fig.add_trace(go.Image(source=to_data_uri(rgb), hoverinfo="skip"), row=i + 1, col=j)
    fig.add_trace(_colorbar(bound, colorbar_title))
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    height, width = reference.maps.shape[1:]
    fig.update_layout(
        title={"text": f"{method_title(reference)} at {height}x{width}: the deployed {deployed_name} model "
                       "against the float model", "font": {"size": 14}},
        width=4 * size + 150,
        height=n * size + 90,
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        plot_bgcolor="white",
    )
    fig.update_annotations(font_size=11)
    return fig


def _colorbar(bound: float, title: str) -> Any:
    return go.Scatter(
        x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
        marker={"colorscale": plotly_colorscale(CMAP), "cmin": -bound, "cmax": bound, "color": [0.0],
                "showscale": True,
                "colorbar": {"title": {"text": title, "side": "right"}, "thickness": 12, "len": 0.8,
                             "x": 1.02}},
    )
