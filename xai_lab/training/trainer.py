"""``fit``: train a model on a dataset with the project's conventions.

What it adds to ``model.fit``: the data layer's tf.data pipeline (uint8 -> float [0, 1],
modality-aware augmentation, seeded shuffling), balanced class weights, validation metrics
computed with scikit-learn every epoch (``val_auc`` as MedMNIST defines it, ``val_acc``,
``val_qwk``), keeping and restoring the best epoch's weights on a validation metric with
optional early stopping, a reproducible seed, an optional ``tf.distribute`` strategy and an
optional wall-time budget. The loss is the cross-entropy of the logits (for CORAL models, of
their log class probabilities), optimiser AdamW (Loshchilov & Hutter, ICLR 2019) with a cosine
learning-rate decay (Loshchilov & Hutter, "SGDR", ICLR 2017).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models.io import IncompatibleDataError, check_fits
from .callbacks import BestWeights, TimeBudget, ValidationMetrics, batched_logits


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    history : dict of lists
        Per-epoch ``loss`` and validation metrics (``val_loss``, ``val_acc``, ``val_auc``,
        ``val_qwk`` for ordinal tasks).
    best_epoch : int or None
        1-based epoch whose weights the model holds after training (None without validation).
    best_value : float or None
        The monitored metric at that epoch.
    monitor : str
    epochs_run : int
    seconds : float
        Wall time of the training loop (pipeline and compilation included).
    stopped_by : str
        ``"epochs"``, ``"early_stopping"`` or ``"time_budget"``.
    val_logits : np.ndarray or None
        The validation logits of the best epoch (for calibration and thresholds).
    """

    history: dict[str, list[float]]
    best_epoch: int | None
    best_value: float | None
    monitor: str
    epochs_run: int
    seconds: float
    stopped_by: str
    val_logits: np.ndarray | None = field(default=None, repr=False)


def _split(data: Any, what: str) -> tuple[np.ndarray, np.ndarray, str | None, int | None]:
    """(uint8 images, int64 labels, task or None, n_classes or None) from a Dataset or a tuple."""
    if hasattr(data, "images") and hasattr(data, "labels"):
        task = getattr(data, "task", None)
        n_classes = getattr(data, "n_classes", None)
        images, labels = data.images, data.labels
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        (images, labels), task, n_classes = data, None, None
    else:
        raise TypeError(f"{what} must be an xai_lab.data.Dataset or an (images, labels) tuple")
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating):
            raise TypeError(f"{what} images must be uint8 or float in [0, 1], got {images.dtype}")
        images = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if len(labels) != len(images):
        raise ValueError(f"{what}: {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError(f"{what} is empty")
    return images, labels, task, n_classes


def resolve_class_weight(class_weight: Any, labels: np.ndarray, n_classes: int) -> dict[int, float] | None:
    """``None``, ``"balanced"`` (n / (k * n_c), from the data layer) or an explicit dict."""
    if class_weight is None or class_weight is False:
        return None
    if class_weight == "balanced" or class_weight is True:
        from ..data import class_weights

        return class_weights(labels, n_classes)
    if isinstance(class_weight, dict):
        return {int(k): float(v) for k, v in class_weight.items()}
    raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {class_weight!r}")


def compile_model(model: Any, *, learning_rate: float = 1e-3, weight_decay: float = 1e-4,
                  total_steps: int | None = None, ema_momentum: float | None = None) -> None:
    """Compile with AdamW, cosine decay over ``total_steps`` and sparse cross-entropy on logits.

    ``ema_momentum`` keeps an exponential moving average of the weights (Polyak & Juditsky,
    SIAM J. Control Optim. 30(4), 1992), which :func:`fit` validates and keeps.
    """
    import keras

    lr: Any = float(learning_rate)
    if total_steps:
        lr = keras.optimizers.schedules.CosineDecay(float(learning_rate), int(total_steps), alpha=0.02)
    ema = {} if ema_momentum is None else {"use_ema": True, "ema_momentum": float(ema_momentum)}
    model.compile(
        optimizer=keras.optimizers.AdamW(lr, weight_decay=float(weight_decay), **ema),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``); optionally make
    TensorFlow ops deterministic (``tf.config.experimental.enable_op_determinism``, global and
    slower; not needed on CPU in our tests)."""
    import keras

    keras.utils.set_random_seed(int(seed))
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def fit(
    model: Any,
    train: Any,
    val: Any = None,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    seed: int | None = None,
    augment: str | None = None,
    class_weight: Any = None,
    strategy: Any = None,
    callbacks: Any = (),
    monitor: str = "val_auc",
    mode: str | None = None,
    patience: int | None = None,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-4,
    max_seconds: float | None = None,
    task: str | None = None,
    deterministic: bool = False,
    ema_momentum: float | None = None,
    verbose: int = 0,
) -> FitResult:
    """Train ``model`` in place on ``train``, selecting the best epoch on ``val``.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`xai_lab.models.build` (logits output). It is compiled here.
    train, val : Dataset or (images, labels)
        uint8 images (N, H, W, C) (float in [0, 1] is accepted) and int labels. ``val`` may
        be None (then no best-epoch selection).
    epochs, batch_size : int
    seed : int, optional
        Seeds shuffling, augmentation and dropout (default ``config.seed()``). Build the model
        after :func:`set_seed` with the same seed for identical initial weights: same seed,
        same data -> identical trained weights.
    augment : None, ``"auto"``, ``"xray"``, ``"dermoscopy"`` or ``"fundus"``
        The data layer's modality-aware augmentation; ``"auto"`` takes the dataset's
        ``info["augment"]``.
    class_weight : None, ``"balanced"`` or dict
    strategy : tf.distribute.Strategy, optional
        Train a copy of the model built under ``strategy.scope()`` (e.g. MirroredStrategy);
        its weights are copied back into ``model`` at the end.
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks (dashboards); they run after the validation metrics are in ``logs``.
    monitor : str
        ``val_auc``, ``val_acc``, ``val_loss`` or ``val_qwk``; ``mode`` defaults to "min" for
        losses, else "max".
    patience : int, optional
        Early stopping after this many epochs without improvement (None: never).
    learning_rate, weight_decay : float
        AdamW settings; the learning rate decays on a cosine to 2 % of its start.
    max_seconds : float, optional
        Wall-time budget: stop when another epoch would end past it (the best epoch is kept).
    task : str, optional
        ``binary``/``multiclass``/``ordinal``; taken from the dataset when it has one.
    deterministic : bool
        Also enable TensorFlow op determinism (global).
    ema_momentum : float, optional
        Train with an exponential moving average of the weights (e.g. 0.99): validation
        metrics, the best-epoch choice and the returned model use the averaged weights.

    Returns
    -------
    FitResult
    """
    import keras

    from .. import config
    from ..data import make_tf_dataset

    seed = config.seed() if seed is None else int(seed)
    x_tr, y_tr, task_tr, k_tr = _split(train, "train")
    n_out = int(model.outputs[0].shape[-1])
    check_fits(model, image_shape=x_tr.shape[1:], n_classes=k_tr or int(y_tr.max()) + 1)
    if y_tr.min() < 0:
        raise IncompatibleDataError("labels must be non-negative class indices")
    task = task or task_tr or ("binary" if n_out == 2 else "multiclass")
    if augment == "auto":
        augment = (getattr(train, "info", None) or {}).get("augment")
    val_cb = None
    if val is not None:
        x_va, y_va, _, k_va = _split(val, "val")
        check_fits(model, image_shape=x_va.shape[1:], n_classes=k_va or int(y_va.max()) + 1)
        val_cb = ValidationMetrics(x_va.astype(np.float32) / 255.0, y_va, task, distributed=strategy is not None)
    set_seed(seed, deterministic)
    data = make_tf_dataset(x_tr, batch_size=batch_size, augment=augment, shuffle=True, seed=seed, labels=y_tr)
    steps = int(np.ceil(len(y_tr) / batch_size)) * int(epochs)
    cw = resolve_class_weight(class_weight, y_tr, n_out)

    if ema_momentum is not None and not 0.0 < float(ema_momentum) < 1.0:
        raise ValueError(f"ema_momentum must be in (0, 1), got {ema_momentum}")
    best = None
    cbs: list[Any] = []
    if ema_momentum is not None and val_cb is not None:
        # the averaged weights are in the model at every epoch end (before the metrics)
        cbs.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    if val_cb is not None:
        cbs.append(val_cb)
        mode = mode or ("min" if monitor.endswith("loss") else "max")
        best = BestWeights(monitor, mode, patience)
    budget = TimeBudget(max_seconds) if max_seconds else None
    cbs += list(callbacks)
    if best is not None:
        cbs.append(best)
    if budget is not None:
        cbs.append(budget)

    target = model
    if strategy is not None:
        with strategy.scope():
            target = keras.models.clone_model(model)
            target.set_weights(model.get_weights())
            compile_model(target, learning_rate=learning_rate, weight_decay=weight_decay,
                          total_steps=steps, ema_momentum=ema_momentum)
    else:
        compile_model(model, learning_rate=learning_rate, weight_decay=weight_decay,
                      total_steps=steps, ema_momentum=ema_momentum)

    start = time.perf_counter()
    # the tf.data pipeline shuffles itself (seeded); shuffle=False keeps Keras from warning
    history = target.fit(
        data, epochs=int(epochs), class_weight=cw, callbacks=cbs, verbose=verbose, shuffle=False
    )
    seconds = time.perf_counter() - start
    if target is not model:
        model.set_weights(target.get_weights())

    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    epochs_run = len(hist.get("loss", []))
    stopped_by = "epochs"
    if best is not None and best.stopped:
        stopped_by = "early_stopping"
    elif budget is not None and budget.stopped and epochs_run < int(epochs):
        stopped_by = "time_budget"
    # logits of the restored (best) weights, for calibration and thresholds
    val_logits = batched_logits(model, val_cb.x) if val_cb is not None else None
    return FitResult(
        history=hist,
        best_epoch=best.best_epoch if best else None,
        best_value=best.best if best else None,
        monitor=monitor,
        epochs_run=epochs_run,
        seconds=seconds,
        stopped_by=stopped_by,
        val_logits=val_logits,
    )
