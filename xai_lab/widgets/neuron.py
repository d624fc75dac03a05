"""NeuronPlayground: one artificial neuron with two inputs, its activation and decision boundary.

A neuron computes ``y = f(w1 x1 + w2 x2 + b)`` (McCulloch & Pitts, 1943; Rosenblatt, 1958).
It says "class 1" where ``y`` exceeds the activation's midpoint (0.5 for the sigmoid, 0 for
tanh and ReLU), which is the half-plane ``w1 x1 + w2 x2 + b > 0``: the decision boundary is
the straight line ``w1 x1 + w2 x2 + b = 0`` whatever the activation.

References
----------
.. [1] W. S. McCulloch and W. Pitts, "A logical calculus of the ideas immanent in nervous
   activity", Bulletin of Mathematical Biophysics 5, 1943.
.. [2] F. Rosenblatt, "The perceptron: a probabilistic model for information storage and
   organization in the brain", Psychological Review 65(6), 1958.
.. [3] V. Nair and G. E. Hinton, "Rectified linear units improve restricted Boltzmann
   machines", ICML 2010.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import App, set_figure

ACTIVATIONS = ("sigmoid", "tanh", "relu")


def activate(z: Any, activation: str) -> np.ndarray:
    """Apply ``sigmoid``, ``tanh`` or ``relu`` elementwise (numerically stable sigmoid)."""
    z = np.asarray(z, dtype=np.float64)
    if activation == "sigmoid":
        out = np.empty_like(z)
        pos = z >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
        ez = np.exp(z[~pos])
        out[~pos] = ez / (1.0 + ez)
        return out
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")


def threshold(activation: str) -> float:
    """The output above which the neuron says "class 1"."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    return 0.5 if activation == "sigmoid" else 0.0


def two_blobs(n: int = 60, seed: int = 0, separation: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds in 2-D (class 0 lower left, class 1 upper right), ``n`` points each."""
    rng = np.random.default_rng(seed)
    c = separation / 2.0
    x0 = rng.normal(loc=(-c, -c), scale=0.7, size=(n, 2))
    x1 = rng.normal(loc=(c, c), scale=0.7, size=(n, 2))
    return np.vstack([x0, x1]), np.r_[np.zeros(n, np.int64), np.ones(n, np.int64)]


def activation_figure(z_range: float = 5.0) -> Any:
    """The three activation functions side by side on one plot (plotly)."""
    import plotly.graph_objects as go

    z = np.linspace(-z_range, z_range, 201)
    fig = go.Figure()
    for name in ACTIVATIONS:
        fig.add_trace(go.Scatter(x=z, y=activate(z, name), mode="lines", name=name))
    fig.update_layout(title="activation functions", xaxis_title="z", yaxis_title="f(z)", width=520, height=340,
                      margin={"l": 40, "r": 10, "t": 50, "b": 40})  # fmt: skip
    fig.update_yaxes(range=[-1.2, 2.2])
    return fig


class NeuronPlayground(App):
    """Sliders for ``w1``, ``w2``, ``b`` and a menu for the activation.

    ``set(w1=..., w2=..., b=..., activation=...)`` changes the neuron and returns the figure:
    the activation function with the current pre-activation of a probe point marked (left) and
    the neuron's output over the plane with its decision boundary and two labelled point
    clouds (right). :meth:`accuracy` scores the neuron on those points.
    """

    def __init__(
        self,
        w1: float = 1.0,
        w2: float = -0.5,
        b: float = 0.0,
        activation: str = "sigmoid",
        points: tuple[np.ndarray, np.ndarray] | None = None,
        probe: tuple[float, float] = (1.0, 1.0),
        extent: float = 4.0,
        resolution: int = 81,
    ) -> None:
        self.w1, self.w2, self.b = float(w1), float(w2), float(b)
        self.activation = "sigmoid"
        self.points, self.point_labels = points if points is not None else two_blobs()
        self.probe = (float(probe[0]), float(probe[1]))
        self.extent = float(extent)
        self.resolution = int(resolution)
        self._widget = None
        self._syncing = False
        self.set(activation=activation)

    # ------------------------------------------------------------------ the neuron
    def pre_activation(self, x: Any) -> np.ndarray:
        """``z = w1 x1 + w2 x2 + b`` for points (N, 2)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[-1] != 2:
            raise ValueError(f"points must be (N, 2), got shape {x.shape}")
        return x @ np.array([self.w1, self.w2]) + self.b

    def output(self, x: Any) -> np.ndarray:
        """The neuron's output ``f(z)`` for points (N, 2)."""
        return activate(self.pre_activation(x), self.activation)

    def predict(self, x: Any) -> np.ndarray:
        """Class 1 where the output exceeds the activation's threshold."""
        return (self.output(x) > threshold(self.activation)).astype(np.int64)

    def accuracy(self) -> float:
        """Fraction of the playground's points on the right side of the boundary."""
        return float(np.mean(self.predict(self.points) == self.point_labels))

    def set(self, **changes: Any) -> Any:
        """Change ``w1``, ``w2``, ``b`` and/or ``activation``; return the figure."""
        unknown = set(changes) - {"w1", "w2", "b", "activation"}
        if unknown:
            raise TypeError(f"unknown neuron settings {sorted(unknown)}")
        if "activation" in changes:
            threshold(changes["activation"])  # validates
            self.activation = changes["activation"]
        for key in ("w1", "w2", "b"):
            if key in changes:
                value = float(changes[key])
                if not np.isfinite(value):
                    raise ValueError(f"{key} must be finite")
                setattr(self, key, value)
        self._refresh()
        return self.figure

    def boundary(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Two points of the line ``w1 x1 + w2 x2 + b = 0`` inside the plot, or None (no line)."""
        e = self.extent
        if abs(self.w2) > 1e-12:
            x1 = np.array([-e, e])
            return x1, -(self.w1 * x1 + self.b) / self.w2
        if abs(self.w1) > 1e-12:
            x2 = np.array([-e, e])
            return np.full(2, -self.b / self.w1), x2
        return None

    # ------------------------------------------------------------------ figure
    @property
    def figure(self) -> Any:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=2, column_widths=[0.4, 0.6],
                            subplot_titles=(f"activation: {self.activation}",
                                            f"output over the plane (accuracy {self.accuracy():.0%})"))  # fmt: skip
        z = np.linspace(-6, 6, 241)
        fig.add_trace(go.Scatter(x=z, y=activate(z, self.activation), mode="lines", name=self.activation,
                                 line={"color": "#1f77b4"}, showlegend=False), row=1, col=1)  # fmt: skip
        zp = float(self.pre_activation(self.probe)[0])
        fig.add_trace(go.Scatter(x=[zp], y=[float(activate(zp, self.activation))], mode="markers",
                                 marker={"size": 11, "color": "#d62728"}, showlegend=False,
                                 name="probe", hovertemplate="z=%{x:.2f}<br>f(z)=%{y:.3f}<extra></extra>"),
                      row=1, col=1)  # fmt: skip
        g = np.linspace(-self.extent, self.extent, self.resolution)
        xx, yy = np.meshgrid(g, g)
        out = self.output(np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
        fig.add_trace(go.Heatmap(x=g, y=g, z=out, colorscale="RdBu_r", showscale=True,
                                 colorbar={"title": {"text": "f(z)"}, "thickness": 12},
                                 zmid=threshold(self.activation) if self.activation != "relu" else None,
                                 hovertemplate="x1=%{x:.2f}<br>x2=%{y:.2f}<br>f=%{z:.3f}<extra></extra>"),
                      row=1, col=2)  # fmt: skip
        for k, color in ((0, "#2166ac"), (1, "#b2182b")):
            pts = self.points[self.point_labels == k]
            fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=f"class {k}",
                                     marker={"color": color, "size": 6, "line": {"width": 1, "color": "white"}}),
                          row=1, col=2)  # fmt: skip
        line = self.boundary()
        if line is not None:
            fig.add_trace(go.Scatter(x=line[0], y=line[1], mode="lines", name="decision boundary",
                                     line={"color": "black", "width": 3}), row=1, col=2)  # fmt: skip
        fig.update_xaxes(title_text="z = w1 x1 + w2 x2 + b", row=1, col=1)
        fig.update_xaxes(title_text="x1", range=[-self.extent, self.extent], row=1, col=2)
        fig.update_yaxes(title_text="x2", range=[-self.extent, self.extent], row=1, col=2)
        fig.update_layout(width=820, height=380, margin={"l": 40, "r": 10, "t": 50, "b": 40},
                          title=f"y = {self.activation}({self.w1:.2f} x1 + {self.w2:.2f} x2 + {self.b:.2f})",
                          legend={"orientation": "h", "y": -0.2})  # fmt: skip
        return fig

    def static_figure(self) -> Any:
        return self.figure

    # ------------------------------------------------------------------ widget
    def _build(self) -> Any:
        import ipywidgets as widgets

        from ._common import figure_output

        def slider(name: str, value: float) -> Any:
            s = widgets.FloatSlider(value=value, min=-5.0, max=5.0, step=0.1, description=name,
                                    continuous_update=False)  # fmt: skip
            s.add_class(f"xai-{name}")
            return s

        self.w_w1, self.w_w2, self.w_b = slider("w1", self.w1), slider("w2", self.w2), slider("b", self.b)
        self.w_act = widgets.ToggleButtons(options=list(ACTIVATIONS), value=self.activation)
        self.w_info = widgets.HTML()
        self.w_figure = figure_output(width=840)
        for w in (self.w_w1, self.w_w2, self.w_b, self.w_act):
            w.observe(self._on_change, names="value")
        self._widget = widgets.VBox([widgets.HBox([widgets.VBox([self.w_w1, self.w_w2, self.w_b]),
                                                   widgets.VBox([self.w_act, self.w_info])]),
                                     self.w_figure])  # fmt: skip
        self._refresh()
        return self._widget

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        owner = change["owner"]
        key = {id(self.w_w1): "w1", id(self.w_w2): "w2", id(self.w_b): "b", id(self.w_act): "activation"}[id(owner)]
        self.set(**{key: change["new"]})

    def _refresh(self) -> None:
        if self._widget is None:
            return
        self._syncing = True
        try:
            self.w_w1.value, self.w_w2.value, self.w_b.value = self.w1, self.w2, self.b
            self.w_act.value = self.activation
        finally:
            self._syncing = False
        zp = float(self.pre_activation(self.probe)[0])
        self.w_info.value = (f"probe point x = {self.probe}: z = {zp:.2f}, "
                             f"output = {float(activate(zp, self.activation)):.3f}; "
                             f"accuracy on the points {self.accuracy():.0%}")  # fmt: skip
        set_figure(self.w_figure, self.figure)
