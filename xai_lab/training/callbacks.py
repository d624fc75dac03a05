"""Keras callbacks used by :func:`xai_lab.training.fit`.

They are plain ``keras.callbacks.Callback`` objects: a live dashboard (or any user code)
attaches the same way, via ``fit(..., callbacks=[...])``, and sees the validation metrics that
:class:`ValidationMetrics` adds to ``logs`` (``val_auc``, ``val_acc``, ``val_loss``, and
``val_qwk`` for ordinal tasks) in ``on_epoch_end``.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np

from ..models.io import probabilities
from ..models.working_set import chunk_size
from . import metrics as M


def batched_logits(model: Any, x: np.ndarray, batch_size: int = 512, distributed: bool = False) -> np.ndarray:
    """``model.predict_on_batch`` over ``x`` in chunks (no progress bar), as float64.

    A chunk holds at most ``batch_size`` images, and fewer where the model's largest activation
    would exceed :data:`~xai_lab.models.working_set.WORKING_SET_BYTES` (validation at 224x224
    under the zoo's cnn: 2 images per call, not 512 taking 3.3 GB per activation).
    ``distributed=True`` uses ``model.predict`` (``predict_on_batch`` of a model built under
    a MirroredStrategy returns the replicas' outputs concatenated).
    """
    batch_size = chunk_size(model, x.shape[1:], batch_size)
    if distributed:
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float64)
    return np.concatenate(
        [np.asarray(model.predict_on_batch(x[i : i + batch_size]), np.float64) for i in range(0, len(x), batch_size)]
    )


class ValidationMetrics(keras.callbacks.Callback):
    """Compute validation metrics with scikit-learn at the end of every epoch.

    Adds ``val_loss`` (NLL), ``val_acc``, ``val_auc`` (MedMNIST definition) and, for ordinal
    tasks, ``val_qwk`` to the epoch logs, so later callbacks (early stopping, dashboards,
    the History) see them.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, task: str, batch_size: int = 512,
                 distributed: bool = False):
        super().__init__()
        self.x, self.y, self.task, self.batch_size = x, np.asarray(y), task, int(batch_size)
        self.distributed = bool(distributed)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logits = batched_logits(self.model, self.x, self.batch_size, self.distributed)
        p = probabilities(logits)
        values = {
            "val_loss": M.nll(self.y, p),
            "val_acc": M.accuracy(self.y, p.argmax(axis=1)),
            "val_auc": M.auc(self.y, p),
        }
        if self.task == "ordinal":
            values["val_qwk"] = M.qwk(self.y, p.argmax(axis=1))
        if logs is not None:
            logs.update(values)


class BestWeights(keras.callbacks.Callback):
    """Keep the weights of the best epoch on ``monitor``; stop after ``patience`` epochs
    without improvement; restore the best weights when training ends.

    The best weights are kept in memory (no checkpoint file): saving the final model then
    saves the best epoch's model.
    """

    def __init__(self, monitor: str = "val_auc", mode: str = "max", patience: int | None = None,
                 min_delta: float = 0.0):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.stopped = False

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"monitor {self.monitor!r} is not among the epoch logs {sorted(logs)}")
        value = float(logs[self.monitor])
        if np.isfinite(value) and self._better(value):
            self.best, self.best_epoch = value, epoch + 1
            self.best_weights = [np.array(w) for w in self.model.get_weights()]
        elif self.patience is not None and self.best_epoch is not None and epoch + 1 - self.best_epoch >= self.patience:
            self.stopped = True
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class TimeBudget(keras.callbacks.Callback):
    """Stop training before the wall time passes ``seconds``.

    After each epoch, training stops when another epoch as long as the longest so far would
    end past the budget (so the budget holds unless the first epoch alone exceeds it).
    """

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = float(seconds)
        self.start = 0.0
        self.longest = 0.0
        self._epoch_start = 0.0
        self.stopped = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._epoch_start)
        if now - self.start + self.longest > self.seconds:
            self.stopped = True
            self.model.stop_training = True
