"""LearningRatePlayground: gradient descent on a small numpy network, loss curves per learning rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..course import backprop
from ._common import App, set_figure


class LearningRatePlayground(App):
    """Train the two-layer numpy network of notebook 02 with different learning rates.

    ``run(lr=...)`` trains from the same initial weights and adds the loss curve to the figure
    (the last ``keep`` runs are shown) next to the decision regions of the latest run.
    """

    def __init__(self, hidden: int = 8, steps: int = 150, n_points: int = 100, seed: int = 0,
                 activation: str = "tanh", keep: int = 5) -> None:  # fmt: skip
        self.x, self.y = backprop.two_moons(n_points, seed=seed)
        self.params0 = backprop.init_mlp(2, hidden, 2, seed=seed)
        self.steps = int(steps)
        self.activation = activation
        self.keep = int(keep)
        self.runs: list[tuple[float, np.ndarray]] = []
        self.params: dict[str, np.ndarray] | None = None
        self._widget = None

    def run(self, lr: float) -> Any:
        """Train with learning rate ``lr``; returns the figure."""
        lr = float(lr)
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, got {lr}")
        self.params, losses = backprop.gradient_descent(self.params0, self.x, self.y, lr, self.steps,
                                                        self.activation)  # fmt: skip
        self.runs = [r for r in self.runs if r[0] != lr][-(self.keep - 1):] + [(lr, losses)]
        self._refresh()
        return self.figure

    @property
    def final_losses(self) -> dict[float, float]:
        """The last finite loss of each kept run (NaN when it diverged at once)."""
        out = {}
        for lr, losses in self.runs:
            finite = losses[np.isfinite(losses)]
            out[lr] = float(finite[-1]) if finite.size else float("nan")
        return out

    @property
    def figure(self) -> Any:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=2, subplot_titles=("loss per step", "decision regions (last run)"))
        for lr, losses in self.runs:
            fig.add_trace(go.Scatter(x=np.arange(len(losses)), y=losses, mode="lines", name=f"lr={lr:g}"),
                          row=1, col=1)  # fmt: skip
        if self.params is not None:
            g = np.linspace(-2.5, 2.5, 61)
            xx, yy = np.meshgrid(g, g)
            logits, _ = backprop.forward(self.params, np.c_[xx.ravel(), yy.ravel()], self.activation)
            z = logits - logits.max(axis=1, keepdims=True)
            p1 = (np.exp(z[:, 1]) / np.exp(z).sum(axis=1)).reshape(xx.shape)
            fig.add_trace(go.Heatmap(x=g, y=g, z=np.nan_to_num(p1, nan=0.5), zmin=0, zmax=1, colorscale="RdBu_r",
                                     showscale=False), row=1, col=2)  # fmt: skip
        for k, color in ((0, "#2166ac"), (1, "#b2182b")):
            pts = self.x[self.y == k]
            fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", showlegend=False,
                                     marker={"color": color, "size": 5, "line": {"width": 1, "color": "white"}}),
                          row=1, col=2)  # fmt: skip
        fig.update_xaxes(title_text="step", row=1, col=1)
        fig.update_yaxes(title_text="cross-entropy", type="log", row=1, col=1)
        fig.update_layout(width=820, height=360, margin={"l": 50, "r": 10, "t": 40, "b": 40})
        return fig

    def static_figure(self) -> Any:
        return self.figure

    def _build(self) -> Any:
        import ipywidgets as widgets

        from ._common import figure_output

        self.w_lr = widgets.FloatLogSlider(value=0.5, base=10, min=-3, max=2, step=0.1, description="learning rate",
                                           continuous_update=False, style={"description_width": "initial"})  # fmt: skip
        self.w_run = widgets.Button(description="train", button_style="primary")
        self.w_run.add_class("xai-train")
        self.w_info = widgets.HTML()
        self.w_figure = figure_output(self.figure, width=840)
        self.w_run.on_click(lambda _b: self.run(self.w_lr.value))
        self._widget = widgets.VBox([widgets.HBox([self.w_lr, self.w_run]), self.w_info, self.w_figure])
        self._refresh()
        return self._widget

    def _refresh(self) -> None:
        if self._widget is None:
            return
        parts = [f"lr={lr:g}: final loss {v:.3g}" for lr, v in self.final_losses.items()]
        if self.params is not None:
            parts.append(f"accuracy of the last run {backprop.accuracy(self.params, self.x, self.y, self.activation):.0%}")
        self.w_info.value = "; ".join(parts)
        set_figure(self.w_figure, self.figure)
