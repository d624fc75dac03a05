"""TrainingDashboard: a Keras callback that draws the learning curves live, with a Stop button.

A Jupyter kernel handles widget events (a button click) only while no cell is running, so a
click during a blocking ``model.fit`` waits until the fit ends. To stop live, start the fit
with :meth:`TrainingDashboard.run_in_background` (the kernel stays free, the curves still
update) and collect the result with :meth:`TrainingDashboard.result`; the Stop button then
sets ``model.stop_training`` at the end of the current batch. From code, :meth:`stop` does
the same at any time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import keras
import numpy as np

from ..viz.figures import training_curves
from ._common import App, set_figure


class TrainingDashboard(keras.callbacks.Callback, App):
    """Live learning curves for ``model.fit`` / ``xai_lab.training.fit``.

    Examples
    --------
    >>> dash = TrainingDashboard(title="CNN on PneumoniaMNIST")   # doctest: +SKIP
    >>> dash.display()                                            # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[dash])               # doctest: +SKIP

    Parameters
    ----------
    title : str
        Figure title.
    update_every : int
        Redraw every this many epochs (the last epoch is always drawn).
    """

    def __init__(self, title: str = "training", update_every: int = 1) -> None:
        super().__init__()
        self.title = title
        self.update_every = max(1, int(update_every))
        self.history: dict[str, list[float]] = {}
        self.epoch_seconds: list[float] = []
        self.stop_requested = False
        self.stopped_epoch: int | None = None
        self.epochs: int | None = None
        self.status = "waiting for training to start"
        self._epoch_start = 0.0
        self._handle: Any = None
        self._future: Future | None = None
        self._widget = None

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Ask the running fit to stop at the end of the current batch."""
        self.stop_requested = True
        self.status = "stopping after this batch"
        self._refresh(draw=False)

    def reset(self) -> None:
        """Forget the curves (a new run)."""
        self.history = {}
        self.epoch_seconds = []
        self.stopped_epoch = None
        self.stop_requested = False

    def run_in_background(self, fit: Callable[[], Any]) -> Future:
        """Run ``fit()`` (a function that trains with this callback) in a thread.

        The cell returns at once, so the Stop button works while training runs. Get the
        fit's return value with :meth:`result`.
        """
        if self._future is not None and not self._future.done():
            raise RuntimeError("a training run is still going on; stop it or wait for result()")
        future: Future = Future()

        def target() -> None:
            try:
                future.set_result(fit())
            except BaseException as exc:  # handed to result(), which re-raises it
                future.set_exception(exc)

        self._future = future
        threading.Thread(target=target, name="xai-lab-training", daemon=True).start()
        return future

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the background fit and return its result (re-raising its error)."""
        if self._future is None:
            raise RuntimeError("no background training: call run_in_background(fit) first")
        return self._future.result(timeout)

    # ------------------------------------------------------------------ keras hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.stop_requested = False
        self.stopped_epoch = None
        self.epochs = self.params.get("epochs") if isinstance(self.params, dict) else None
        self.status = "training"
        self._refresh(draw=False)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.stop_requested:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)
        for key, value in (logs or {}).items():
            v = np.asarray(value)
            if v.size == 1:
                self.history.setdefault(key, []).append(float(v))
        if self.stop_requested:
            self.model.stop_training = True
            self.stopped_epoch = epoch + 1
        done = len(self.epoch_seconds)
        self.status = f"epoch {done}" + (f"/{self.epochs}" if self.epochs else "")
        if done % self.update_every == 0:
            self._refresh(draw=True)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        n = len(self.epoch_seconds)
        stopped = f", stopped by the user after epoch {self.stopped_epoch}" if self.stopped_epoch else ""
        self.status = f"done: {n} epochs in {sum(self.epoch_seconds):.1f} s{stopped}"
        self._refresh(draw=True)
        if self._handle is not None:
            self._handle.update(self)

    # ------------------------------------------------------------------ display
    @property
    def figure(self) -> Any:
        return training_curves(self.history, title=self.title)

    def static_figure(self) -> Any:
        return self.figure

    def display(self) -> Any:
        """Show the dashboard; its static copy in the notebook is replaced when training ends."""
        from IPython.display import display

        self._handle = display(self, display_id=True)
        return self._handle

    def _build(self) -> Any:
        import ipywidgets as widgets

        from ._common import figure_output

        self.w_stop = widgets.Button(description="Stop", button_style="danger", icon="stop")
        self.w_stop.add_class("xai-stop")
        self.w_stop.on_click(lambda _b: self.stop())
        self.w_status = widgets.HTML()
        self.w_figure = figure_output(self.figure, width=780)
        self._widget = widgets.VBox([widgets.HBox([self.w_stop, self.w_status]), self.w_figure])
        self._refresh(draw=False)
        return self._widget

    def _refresh(self, draw: bool) -> None:
        if self._widget is None:
            return
        last = {k: v[-1] for k, v in self.history.items() if v}
        numbers = ", ".join(f"{k} {v:.4g}" for k, v in last.items())
        self.w_status.value = f"{self.status}" + (f" &middot; {numbers}" if numbers else "")
        self.w_stop.disabled = self.status.startswith("done")
        if draw:
            set_figure(self.w_figure, self.figure)
