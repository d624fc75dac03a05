"""ThresholdExplorer: move a binary decision threshold, see the ROC operating point and the errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..viz.figures import confusion_figure, roc_figure
from ._common import App, class_name, set_figure


class ThresholdExplorer(App):
    """A binary classifier's scores against labels, at an adjustable threshold.

    ``set_threshold(t)`` returns ``(sensitivity, specificity, confusion matrix)``; the figure is
    the ROC curve with the operating point, beside the confusion matrix at ``t``. An image is
    called positive (class 1) when its score is at least ``t``.
    """

    def __init__(self, y: Any, scores: Any, threshold: float = 0.5,
                 label_names: Sequence[str] | None = None) -> None:  # fmt: skip
        self.y = np.asarray(y).astype(np.int64).ravel()
        self.scores = np.asarray(scores, dtype=np.float64).ravel()
        if self.y.shape != self.scores.shape:
            raise ValueError(f"{len(self.y)} labels but {len(self.scores)} scores")
        if not set(np.unique(self.y)) <= {0, 1}:
            raise ValueError("ThresholdExplorer needs binary labels 0 / 1")
        self.label_names = list(label_names) if label_names is not None else None
        self.threshold = 0.5
        self._widget = None
        self.set_threshold(threshold)

    def confusion(self, threshold: float | None = None) -> np.ndarray:
        t = self.threshold if threshold is None else float(threshold)
        pred = (self.scores >= t).astype(np.int64)
        cm = np.zeros((2, 2), np.int64)
        np.add.at(cm, (self.y, pred), 1)
        return cm

    def set_threshold(self, threshold: float) -> tuple[float, float, np.ndarray]:
        t = float(threshold)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {t}")
        self.threshold = t
        cm = self.confusion()
        sens = cm[1, 1] / cm[1].sum() if cm[1].sum() else float("nan")
        spec = cm[0, 0] / cm[0].sum() if cm[0].sum() else float("nan")
        self.sensitivity, self.specificity = float(sens), float(spec)
        self._refresh()
        return self.sensitivity, self.specificity, cm

    def roc(self) -> Any:
        return roc_figure(self.y, self.scores, threshold=self.threshold)

    def matrix(self) -> Any:
        return confusion_figure(self.confusion(), self.label_names,
                                title=f"at threshold {self.threshold:.2f}")  # fmt: skip

    def summary(self) -> str:
        pos = class_name(self.label_names, 1)
        return (f"threshold {self.threshold:.2f}: sensitivity {self.sensitivity:.3f} "
                f"(share of {pos} found), specificity {self.specificity:.3f}")  # fmt: skip

    def static_figure(self) -> Any:
        return self.roc()

    def _build(self) -> Any:
        import ipywidgets as widgets

        from ._common import figure_output

        self.w_t = widgets.FloatSlider(value=self.threshold, min=0.0, max=1.0, step=0.01, description="threshold",
                                       continuous_update=False)  # fmt: skip
        self.w_t.add_class("xai-threshold")
        self.w_t.observe(lambda c: self.set_threshold(c["new"]), names="value")
        self.w_info = widgets.HTML()
        self.w_roc = figure_output(width=470)
        self.w_cm = figure_output(width=320)
        self._widget = widgets.VBox([self.w_t, self.w_info, widgets.HBox([self.w_roc, self.w_cm])])
        self._refresh()
        return self._widget

    def _refresh(self) -> None:
        if self._widget is None:
            return
        self.w_info.value = self.summary()
        set_figure(self.w_roc, self.roc())
        set_figure(self.w_cm, self.matrix())
