"""What every widget app shares: a figure pane, the display bundle, explainer helpers.

A figure pane is an :class:`ipywidgets.Output` whose ``outputs`` are set directly to the
figure's ``plotly_mimetype`` bundle. Nothing is printed inside an Output context (that would
leak into the cell's stdout under nbval), no ``FigureWidget`` is used (megabytes of JavaScript
in the notebook's widget state), and the figure renders offline.

Each app displays as a bundle holding the live widget view, the current figure as plotly JSON
and, where cheap, a PNG: a live JupyterLab shows the widget; a notebook executed without a
front end (nbval, ``nbconvert --execute``) or exported without widget state falls back to the
static figure.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..viz.figures import figure_mimebundle
from ..viz.overlay import COLORMAPS

#: The colour-map choice that follows the house rule (diverging for signed maps, else sequential).
AUTO_CMAP = "auto"


def cmap_options() -> list[tuple[str, str]]:
    """(label, value) pairs for a colour-map menu, the house rule first."""
    return [("automatic", AUTO_CMAP)] + [(name, name) for name in COLORMAPS]


def check_cmap(cmap: str | None) -> str:
    """``"auto"`` (or None) or a known colour map; a ``ValueError`` otherwise."""
    if cmap is None:
        return AUTO_CMAP
    if cmap != AUTO_CMAP and cmap not in COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; choose 'auto' or one of {', '.join(COLORMAPS)}")
    return cmap


def figure_cmap(cmap: str) -> str | None:
    """The ``cmap`` argument of the viz builders for a widget's choice (None: the house rule)."""
    return None if cmap == AUTO_CMAP else cmap


def figure_output(fig: Any = None, width: int = 620, height: int | None = None) -> Any:
    """An Output widget with fixed size showing ``fig`` (plotly) or nothing."""
    import ipywidgets as widgets

    layout = {"width": f"{width}px"}
    if height is not None:
        layout["min_height"] = f"{height}px"
    out = widgets.Output(layout=widgets.Layout(**layout))
    if fig is not None:
        set_figure(out, fig)
    return out


def set_figure(out: Any, fig: Any) -> None:
    """Replace what ``out`` shows by the figure (no print, no Output context)."""
    out.outputs = ({"output_type": "display_data", "data": figure_mimebundle(fig), "metadata": {}},)


def set_text(out: Any, text: str) -> None:
    """Replace what ``out`` shows by plain text."""
    out.outputs = ({"output_type": "stream", "name": "stdout", "text": text},)


class App:
    """Base of the widget apps: subclasses build ``_build()`` and keep ``figure`` current."""

    _widget: Any = None

    @property
    def widget(self) -> Any:
        """The ipywidgets box (built on first access)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def static_figure(self) -> Any:
        """The plotly figure to show where no live kernel renders the widget."""
        raise NotImplementedError

    def static_png(self) -> bytes | None:
        """A PNG of the current view for plain viewers (``None`` when there is none)."""
        return None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        import base64

        bundle: dict[str, Any] = {}
        png = self.static_png()
        if png is not None:
            bundle["image/png"] = base64.b64encode(png).decode("ascii")
        bundle.update(figure_mimebundle(self.static_figure()))
        bundle.update(self.widget._repr_mimebundle_())
        bundle["text/plain"] = f"<{type(self).__name__}: run the notebook in Jupyter for the interactive version>"
        return bundle


# ------------------------------------------------------------------ data helpers
def unpack_images(
    images: Any, labels: Any = None, label_names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Accept a Dataset (``images``, ``labels``, ``label_names``) or arrays."""
    if hasattr(images, "images") and hasattr(images, "labels"):
        ds = images
        images = ds.images
        labels = ds.labels if labels is None else labels
        if label_names is None:
            label_names = list(getattr(ds, "label_names", None) or []) or None
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or len(arr) == 0:
        raise ValueError(f"images must be a non-empty (N, H, W, C) batch, got shape {np.shape(images)}")
    lab = None if labels is None else np.asarray(labels).astype(np.int64).ravel()
    if lab is not None and len(lab) != len(arr):
        raise ValueError(f"{len(lab)} labels for {len(arr)} images")
    return arr, lab, (list(label_names) if label_names is not None else None)


def class_name(names: Sequence[str] | None, k: int) -> str:
    return str(names[k]) if names is not None and 0 <= k < len(names) else f"class {k}"


# ------------------------------------------------------------------ explainer helpers
def resolve_explainers(
    methods: Sequence[str] | None = None, explainers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Explainer instances by display name.

    ``explainers`` maps names to ready :class:`~xai_lab.explain.Explainer` instances (used as
    given, e.g. with custom settings); ``methods`` lists registry names (default: all
    registered methods when no ``explainers`` are given).
    """
    from .. import explain

    out: dict[str, Any] = dict(explainers or {})
    if methods is None:
        methods = [] if explainers else explain.available()
    for name in methods:
        if name not in out:
            out[name] = explain.get(name)
    if not out:
        raise ValueError("no explainers: pass methods=[...] or explainers={...}")
    return out


def takes_layer(explainer: Any) -> bool:
    """Whether the explainer's constructor has a ``layer`` setting (Grad-CAM and friends)."""
    try:
        return "layer" in inspect.signature(type(explainer).__init__).parameters
    except (TypeError, ValueError):
        return False


def with_layer(explainer: Any, layer: str | None) -> Any:
    """A copy of ``explainer`` explaining ``layer`` (the same explainer when it has no layer)."""
    if not takes_layer(explainer) or explainer.parameters.get("layer") == layer:
        return explainer
    new = type(explainer)(**{**explainer.parameters, "layer": layer})
    new.name = explainer.name
    return new


def spatial_layers(model: Any) -> list[str]:
    """Names of the layers Grad-CAM can explain (4-D outputs), input to output."""
    from ..explain import _graph

    return list(_graph.spatial_layers(model))


def predict(model: Any, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Class probabilities (softmax of the model's logits) for a batch of images."""
    from .. import models

    return np.asarray(models.predict_proba(model, images, batch_size=batch_size), dtype=np.float32)
