"""Overlays and figures: pure functions of an Explanation or of arrays.

``xai_lab.viz.overlay`` is numpy + Pillow only; the plotly figure builders in
``xai_lab.viz.figures`` are loaded on first use, so ``import xai_lab.viz`` stays light.
"""

from __future__ import annotations

import importlib

from .overlay import (
    COLORMAPS,
    as_rgb_uint8,
    colorize,
    colormap_table,
    normalize_map,
    overlay,
    plotly_colorscale,
    to_data_uri,
    to_png_bytes,
)

_FIGURES = (
    "calibration_figure",
    "compare_figure",
    "confusion_figure",
    "explanation_figure",
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
    "COLORMAPS",
    "as_rgb_uint8",
    "colorize",
    "colormap_table",
    "normalize_map",
    "overlay",
    "plotly_colorscale",
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
