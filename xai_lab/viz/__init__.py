"""One visual language for maps and figures: pure functions of an Explanation or of arrays.

- :mod:`~xai_lab.viz.colormaps`: the colour maps (diverging cool-warm for signed maps,
  sequential viridis for non-negative ones; no rainbow by default);
- :mod:`~xai_lab.viz.maps`: :func:`map_view` (what to draw for one map, at the model's
  resolution, with its display name, meaning, colour-bar words and, for a blank map, why),
  raster renderers for HTML (:func:`overlay_png`, :func:`image_png`, :func:`colorbar_svg`);
- :mod:`~xai_lab.viz.overlay`: colouring, blending, nearest-neighbour enlarging, PNG encoding;
- :mod:`~xai_lab.viz.figures`: plotly figures for notebooks.

``colormaps``, ``maps`` and ``overlay`` are numpy + Pillow only; the plotly builders are
loaded on first use, so ``import xai_lab.viz`` stays light.
"""

from __future__ import annotations

import importlib

from .colormaps import COLOR_NAMES, DIVERGING, SEQUENTIAL, default_cmap
from .maps import (
    ALPHA,
    MapView,
    colorbar_svg,
    image_png,
    map_view,
    model_image,
    native_map,
    overlay_png,
    render_overlay,
)
from .overlay import (
    COLORMAPS,
    as_rgb_uint8,
    colorize,
    colormap_table,
    enlarge,
    normalize_map,
    overlay,
    plotly_colorscale,
    resize_nearest,
    scale_for,
    to_data_uri,
    to_png_bytes,
)

_FIGURES = (
    "calibration_figure",
    "compare_figure",
    "confusion_figure",
    "explanation_figure",
    "explanation_title",
    "figure_mimebundle",
    "image_grid",
    "probability_bar",
    "reliability_points",
    "roc_curve_points",
    "roc_figure",
    "set_notebook_renderer",
    "show",
    "training_curves",
)

__all__ = [
    "ALPHA",
    "COLORMAPS",
    "COLOR_NAMES",
    "DIVERGING",
    "SEQUENTIAL",
    "MapView",
    "as_rgb_uint8",
    "colorbar_svg",
    "colorize",
    "colormap_table",
    "default_cmap",
    "enlarge",
    "image_png",
    "map_view",
    "model_image",
    "native_map",
    "normalize_map",
    "overlay",
    "overlay_png",
    "plotly_colorscale",
    "render_overlay",
    "resize_nearest",
    "scale_for",
    "to_data_uri",
    "to_png_bytes",
    *_FIGURES,
]


def __getattr__(name: str):
    if name in _FIGURES:
        value = getattr(importlib.import_module(f"{__name__}.figures"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xai_lab.viz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_FIGURES))
