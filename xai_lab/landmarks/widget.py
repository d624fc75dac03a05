"""TrajectoryReplay: step through an agent's search with the maps of each of its choices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..widgets._common import App, figure_output, set_figure
from .environment import ACTIONS
from .explain import TrajectoryExplanation
from .figures import step_figure


class TrajectoryReplay(App):
    """Replay a search step by step: where the agent stands, what it sees, why it moves.

    A slider (and a play button) picks the step; the figure shows the image with the path so far
    and the crop's outline, the crop, the map of the chosen action's Q-value for each method, and
    the four Q-values. ``select(step)`` does the same without a browser and returns the figure.

    Parameters
    ----------
    explanation : TrajectoryExplanation
        From :func:`~xai_lab.landmarks.explain.explain_trajectory`.
    step : int
        The step shown first (0-based).
    methods : sequence of str, optional
        Which of the explanation's methods to show (default all).
    interval_ms : int
        Milliseconds per step when playing.
    """

    def __init__(self, explanation: TrajectoryExplanation, step: int = 0, methods: Sequence[str] | None = None,
                 interval_ms: int = 900, panel: int = 190) -> None:  # fmt: skip
        if not isinstance(explanation, TrajectoryExplanation):
            raise TypeError("TrajectoryReplay needs a TrajectoryExplanation (from explain_trajectory)")
        if len(explanation) == 0:
            raise ValueError("the trajectory has no steps to replay")
        self.explanation = explanation
        self.methods = list(methods or explanation.methods)
        unknown = [m for m in self.methods if m not in explanation.explanations]
        if unknown:
            raise ValueError(f"no maps for {unknown}; the explanation has {explanation.methods}")
        self.interval_ms = int(interval_ms)
        self.panel = int(panel)
        self.step = 0
        self._widget = None
        self.select(step)

    @property
    def n_steps(self) -> int:
        return len(self.explanation)

    def select(self, step: int) -> Any:
        """Show step ``step`` (0-based); returns its figure."""
        step = int(step)
        if not 0 <= step < self.n_steps:
            raise IndexError(f"step {step} is outside 0..{self.n_steps - 1}")
        self.step = step
        self._refresh()
        return self.figure()

    def figure(self) -> Any:
        return step_figure(self.explanation, self.step, self.methods, panel=self.panel)

    def summary(self) -> str:
        """One sentence about the current step."""
        traj = self.explanation.trajectory
        t = self.step
        level = int(traj.levels[t])
        action = int(traj.actions[t])
        q = traj.q_values[t]
        others = ", ".join(f"{ACTIONS[a]} {q[a]:+.2f}" for a in np.argsort(-q) if a != action)
        row, col = (int(v) for v in traj.positions[t])
        text = (f"step {t + 1} of {self.n_steps}, scale {level + 1} of {len(traj.strides)} (moves of "
                f"{traj.strides[level]} px), at row {row}, column {col}: chose <b>{ACTIONS[action]}</b> "
                f"(Q {q[action]:+.2f}; {others})")  # fmt: skip
        if traj.target is not None:
            text += f"; {np.linalg.norm(traj.positions[t] - traj.target):.1f} px from the landmark"
        return text

    def static_figure(self) -> Any:
        return self.figure()

    def _build(self) -> Any:
        import ipywidgets as widgets

        self.w_step = widgets.IntSlider(value=self.step, min=0, max=self.n_steps - 1, description="step",
                                        continuous_update=False, layout=widgets.Layout(width="420px"))  # fmt: skip
        self.w_step.add_class("xai-trajectory-step")
        self.w_play = widgets.Play(value=self.step, min=0, max=self.n_steps - 1, interval=self.interval_ms,
                                   description="play")  # fmt: skip
        widgets.jslink((self.w_play, "value"), (self.w_step, "value"))
        self.w_step.observe(lambda change: self.select(change["new"]), names="value")
        self.w_info = widgets.HTML()
        fig = self.figure()
        self.w_fig = figure_output(width=int(fig.layout.width) + 20)
        self._widget = widgets.VBox([widgets.HBox([self.w_play, self.w_step]), self.w_info, self.w_fig])
        self._refresh()
        return self._widget

    def _refresh(self) -> None:
        if self._widget is None:
            return
        self.w_info.value = self.summary()
        set_figure(self.w_fig, self.figure())
