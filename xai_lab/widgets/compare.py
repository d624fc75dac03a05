"""CompareExplainers: a grid of images x methods for one model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..viz.figures import compare_figure
from ._common import (
    AUTO_CMAP,
    App,
    check_cmap,
    cmap_options,
    figure_cmap,
    resolve_explainers,
    set_figure,
    unpack_images,
)


class CompareExplainers(App):
    """Explain the same images with several methods and show them side by side.

    ``compare(methods=[...], n_images=4)`` computes what is missing (explanations are cached per
    method) and returns the figure; methods that cannot explain the model are listed in
    :attr:`errors` instead of failing the whole grid.

    Parameters
    ----------
    model : keras.Model
    images : Dataset or array
        Only the first ``max_images`` are used.
    methods, explainers
        As in :class:`~xai_lab.widgets.ExplanationExplorer`.
    n_images : int
        Rows shown at first.
    target : int or None
        Class to explain (``None``: the predicted class of each image).
    """

    def __init__(
        self,
        model: Any,
        images: Any,
        methods: Sequence[str] | None = None,
        explainers: Mapping[str, Any] | None = None,
        n_images: int = 4,
        max_images: int = 8,
        target: int | None = None,
        label_names: Sequence[str] | None = None,
        alpha: float = 0.6,
        cmap: str = AUTO_CMAP,
    ) -> None:
        self.model = model
        imgs, _, self.label_names = unpack_images(images, None, label_names)
        self.images = imgs[: max(1, int(max_images))]
        self.explainers = resolve_explainers(methods, explainers)
        self.target = target
        self.alpha = float(alpha)
        self.cmap = check_cmap(cmap)
        self.selected: list[str] = list(self.explainers)
        self.n_images = max(1, min(int(n_images), len(self.images)))
        self.explanations: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.compare()

    def compare(
        self,
        methods: Sequence[str] | None = None,
        n_images: int | None = None,
        alpha: float | None = None,
        cmap: str | None = None,
    ) -> Any:
        """Update the selection, compute missing explanations and return the figure."""
        from ..explain import UnsupportedModelError

        if methods is not None:
            unknown = [m for m in methods if m not in self.explainers]
            if unknown:
                raise KeyError(f"unknown methods {unknown}; choose from {list(self.explainers)}")
            self.selected = list(methods)
        if n_images is not None:
            if not 1 <= int(n_images) <= len(self.images):
                raise ValueError(f"n_images must be in 1..{len(self.images)}, got {n_images}")
            self.n_images = int(n_images)
        if alpha is not None:
            self.alpha = float(alpha)
        if cmap is not None:
            self.cmap = check_cmap(cmap)
        for name in self.selected:
            if name in self.explanations or name in self.errors:
                continue
            try:
                self.explanations[name] = self.explainers[name].explain(self.model, self.images, self.target)
            except UnsupportedModelError as exc:
                self.errors[name] = str(exc)
        self._refresh()
        return self.figure

    @property
    def shown(self) -> list[str]:
        """The selected methods that could explain the model."""
        return [m for m in self.selected if m in self.explanations]

    @property
    def figure(self) -> Any:
        shown = self.shown
        if not shown:
            return None
        return compare_figure({m: self.explanations[m] for m in shown}, n_images=self.n_images,
                              alpha=self.alpha, cmap=figure_cmap(self.cmap),
                              label_names=self.label_names)  # fmt: skip

    def seconds(self) -> dict[str, float]:
        """Wall time of each computed method (all images)."""
        return {m: float(e.seconds) for m, e in self.explanations.items()}

    # ------------------------------------------------------------------ display
    def static_figure(self) -> Any:
        return self.figure

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if self.figure is None:
            return {**self.widget._repr_mimebundle_(), "text/plain": self._message()}
        return super()._repr_mimebundle_(include, exclude)

    def _message(self) -> str:
        parts = [f"{m}: {e.seconds * 1000:.0f} ms" for m, e in self.explanations.items() if m in self.selected]
        parts += [f"{m} unavailable ({msg})" for m, msg in self.errors.items() if m in self.selected]
        return "; ".join(parts)

    def _build(self) -> Any:
        import ipywidgets as widgets

        from ._common import figure_output

        self.w_methods = widgets.SelectMultiple(options=list(self.explainers), value=tuple(self.selected),
                                                description="methods", rows=min(8, len(self.explainers)))  # fmt: skip
        self.w_n = widgets.IntSlider(value=self.n_images, min=1, max=len(self.images), description="images",
                                     continuous_update=False)  # fmt: skip
        self.w_alpha = widgets.FloatSlider(value=self.alpha, min=0, max=1, step=0.05, description="opacity",
                                           continuous_update=False)  # fmt: skip
        self.w_cmap = widgets.Dropdown(options=cmap_options(), value=self.cmap, description="colours")
        self.w_go = widgets.Button(description="compare", button_style="primary")
        self.w_go.add_class("xai-compare")
        self.w_info = widgets.HTML()
        self.w_figure = figure_output(width=900)
        self.w_go.on_click(self._on_click)
        box = widgets.VBox([widgets.HBox([self.w_methods, widgets.VBox([self.w_n, self.w_alpha, self.w_cmap,
                                                                        self.w_go])]),
                            self.w_info, self.w_figure])  # fmt: skip
        self._widget = box
        self._refresh()
        return box

    def _on_click(self, _button: Any = None) -> None:
        self.compare(methods=list(self.w_methods.value), n_images=self.w_n.value, alpha=self.w_alpha.value,
                     cmap=self.w_cmap.value)  # fmt: skip

    def _refresh(self) -> None:
        if self._widget is None:
            return
        self.w_info.value = self._message()
        fig = self.figure
        if fig is None:
            self.w_figure.layout.display = "none"
        else:
            self.w_figure.layout.display = None
            set_figure(self.w_figure, fig)
