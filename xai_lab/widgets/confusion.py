"""ConfusionExplorer: pick a cell of the confusion matrix, see its images and their maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..viz.figures import compare_figure, confusion_figure
from ._common import (
    AUTO_CMAP,
    App,
    check_cmap,
    class_name,
    figure_cmap,
    predict,
    resolve_explainers,
    set_figure,
    unpack_images,
)


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Counts ``cm[i, j]`` of images of true class ``i`` predicted as ``j``."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    for name, y in (("labels", y_true), ("predictions", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} must be class indices in 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


class ConfusionExplorer(App):
    """The confusion matrix of a model on labelled images; a cell opens its images with maps.

    The widget offers the cells in a menu (each with its count) rather than plotly click events,
    so it works in every front end and keeps no JavaScript state in the notebook.
    ``select_cell(true, predicted)`` does the same from code and returns the figure.

    Parameters
    ----------
    model : keras.Model
    images : Dataset or array
    labels : array, optional
        Needed unless ``images`` is a Dataset.
    method : str
        The explainer for the cell's images (a registry name or a key of ``explainers``).
    max_per_cell : int
        Images shown per cell (the first ones in data order).
    """

    def __init__(
        self,
        model: Any,
        images: Any,
        labels: Any = None,
        label_names: Sequence[str] | None = None,
        method: str = "gradcam",
        explainers: Mapping[str, Any] | None = None,
        max_per_cell: int = 4,
        alpha: float = 0.6,
        cmap: str = AUTO_CMAP,
    ) -> None:
        self.model = model
        self.images, labels, self.label_names = unpack_images(images, labels, label_names)
        if labels is None:
            raise ValueError("ConfusionExplorer needs the true labels")
        self.labels = labels
        self.explainers = resolve_explainers(None if explainers else [method], explainers)
        if method not in self.explainers:
            raise KeyError(f"unknown method {method!r}; choose from {list(self.explainers)}")
        self.method = method
        self.max_per_cell = int(max_per_cell)
        self.alpha, self.cmap = float(alpha), check_cmap(cmap)
        self.probabilities = predict(model, self.images)
        self.n_classes = int(self.probabilities.shape[1])
        self.predictions = self.probabilities.argmax(axis=1)
        self.cm = confusion_matrix(self.labels, self.predictions, self.n_classes)
        self.cell: tuple[int, int] | None = None
        self.explanation: Any = None
        self.error: str | None = None

    def indices(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the images of true class ``true`` predicted as ``predicted``."""
        return np.flatnonzero((self.labels == true) & (self.predictions == predicted))

    def cells(self) -> list[tuple[str, tuple[int, int]]]:
        """Menu entries: "true A -> predicted B (n)" for every non-empty cell, errors first."""
        entries = []
        for i in range(self.n_classes):
            for j in range(self.n_classes):
                if self.cm[i, j]:
                    text = (f"true {class_name(self.label_names, i)} -> predicted "
                            f"{class_name(self.label_names, j)} ({self.cm[i, j]})")  # fmt: skip
                    entries.append((text, (i, j)))
        return sorted(entries, key=lambda e: e[1][0] == e[1][1])

    def select_cell(self, true: int, predicted: int) -> Any:
        """Explain (up to ``max_per_cell``) images of a cell; returns the figure or ``None``."""
        from ..explain import UnsupportedModelError

        for v in (true, predicted):
            if not 0 <= int(v) < self.n_classes:
                raise ValueError(f"class {v} outside 0..{self.n_classes - 1}")
        self.cell = (int(true), int(predicted))
        idx = self.indices(*self.cell)[: self.max_per_cell]
        self.explanation, self.error = None, None
        if len(idx) == 0:
            self.error = "no images in this cell"
        else:
            try:
                # explain the predicted class: what made the model say so
                self.explanation = self.explainers[self.method].explain(self.model, self.images[idx], None)
            except UnsupportedModelError as exc:
                self.error = f"{self.method} cannot explain this model: {exc}"
        self._refresh()
        return self.cell_figure

    @property
    def cell_figure(self) -> Any:
        if self.explanation is None:
            return None
        return compare_figure({self.method: self.explanation}, alpha=self.alpha, cmap=figure_cmap(self.cmap),
                              label_names=self.label_names, size=170)  # fmt: skip

    def matrix_figure(self) -> Any:
        return confusion_figure(self.cm, self.label_names, normalize=True)

    # ------------------------------------------------------------------ display
    def static_figure(self) -> Any:
        return self.matrix_figure()

    def _build(self) -> Any:
        import ipywidgets as widgets

        from ._common import figure_output

        self.w_cell = widgets.Dropdown(options=[("choose a cell", None), *self.cells()], value=None,
                                       description="cell", layout=widgets.Layout(width="420px"))  # fmt: skip
        self.w_cell.add_class("xai-cell")
        self.w_cell.observe(self._on_cell, names="value")
        self.w_info = widgets.HTML()
        self.w_matrix = figure_output(self.matrix_figure(), width=420)
        self.w_figure = figure_output(width=560)
        self.w_figure.layout.display = "none"
        box = widgets.VBox([widgets.HBox([self.w_matrix, widgets.VBox([self.w_cell, self.w_info])]),
                            self.w_figure])  # fmt: skip
        self._widget = box
        return box

    def _on_cell(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.select_cell(*change["new"])

    def _refresh(self) -> None:
        if self._widget is None:
            return
        fig = self.cell_figure
        if fig is None:
            self.w_info.value = f"<b>{self.error}</b>" if self.error else ""
            self.w_figure.layout.display = "none"
        else:
            t, p = self.cell or (0, 0)
            self.w_info.value = (f"{len(self.explanation)} of {self.cm[t, p]} images; "
                                 f"{self.method} explains the predicted class")  # fmt: skip
            self.w_figure.layout.display = None
            set_figure(self.w_figure, fig)
