"""training.fit: validation metrics, best epoch, seeds, class weights, callbacks, strategies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xai_lab import models, training  # noqa: E402
from xai_lab.models import IncompatibleDataError  # noqa: E402


def _toy(n=96, size=12, seed=0):
    """Bright images are class 1, dark ones class 0 (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 120, (n, size, size, 1)) + (y * 100)[:, None, None, None]
    return x.astype(np.uint8), y


def _model(seed=0, name="cnn", **opts):
    training.set_seed(seed)
    opts = opts or {"filters": (4, 8), "dense": 8}
    return models.build(name, (12, 12, 1), 2, **opts)


def test_fit_records_validation_metrics_and_restores_best_epoch():
    train, val = _toy(), _toy(48, seed=1)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    model = _model()
    result = training.fit(model, train, val, epochs=3, batch_size=32, seed=0, callbacks=[Spy()],
                          augment="xray", class_weight="balanced")
    assert isinstance(result, training.FitResult)
    assert result.epochs_run == 3 and len(seen) == 3 and result.stopped_by == "epochs"
    assert {"loss", "val_loss", "val_acc", "val_auc"} <= set(result.history)
    assert all("val_auc" in logs for logs in seen)  # a dashboard sees the metrics
    best = int(np.argmax(result.history["val_auc"])) + 1
    assert result.best_epoch == best
    # the model holds the best epoch's weights: its validation AUC is the best value
    p = models.predict_proba(model, val[0])
    assert training.metrics.auc(val[1], p) == pytest.approx(result.best_value, abs=1e-6)
    assert result.val_logits.shape == (48, 2)


@pytest.mark.parametrize("epochs,max_seconds", [(3, None), (4, 1e-9)])
def test_weight_averaging_validates_and_returns_the_averaged_weights(epochs, max_seconds):
    """With ema_momentum the metrics, the best epoch and the returned model all use the
    moving average of the weights (also when the time budget stops training early)."""
    train, val = _toy(), _toy(48, seed=1)
    plain = _model()
    training.fit(plain, train, val, epochs=epochs, batch_size=32, seed=0, max_seconds=max_seconds)
    model = _model()
    result = training.fit(model, train, val, epochs=epochs, batch_size=32, seed=0,
                          ema_momentum=0.9, max_seconds=max_seconds)
    p = models.predict_proba(model, val[0])
    assert training.metrics.auc(val[1], p) == pytest.approx(result.best_value, abs=1e-6)
    np.testing.assert_allclose(models.predict_logits(model, val[0]), result.val_logits, rtol=1e-5,
                               atol=1e-5)
    assert any(not np.allclose(a, b) for a, b in zip(plain.get_weights(), model.get_weights(), strict=True))
    with pytest.raises(ValueError, match="ema_momentum"):
        training.fit(_model(), train, val, epochs=1, ema_momentum=1.0)


def test_same_seed_same_weights_different_seed_differs():
    train, val = _toy(), _toy(32, seed=1)

    def run(seed):
        model = _model(seed)
        training.fit(model, train, val, epochs=2, batch_size=32, seed=seed, augment="xray")
        return model.get_weights()

    a, b, c = run(3), run(3), run(4)
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c, strict=True))


def test_early_stopping_on_a_flat_metric():
    train, val = _toy(64), _toy(32, seed=1)
    model = _model(name="dnn", units=(8,), dropout=0.0)
    result = training.fit(model, train, val, epochs=6, batch_size=32, seed=0, learning_rate=0.0,
                          monitor="val_loss", patience=1)
    assert result.stopped_by == "early_stopping" and result.epochs_run == 2 and result.best_epoch == 1


def test_fit_refuses_data_that_does_not_fit():
    x, y = _toy(16, size=16)
    with pytest.raises(IncompatibleDataError, match="do not fit"):
        training.fit(_model(), (x, y), None, epochs=1)
    x, y = _toy(16)
    with pytest.raises(IncompatibleDataError, match="classes"):
        training.fit(_model(), (x, y + 2), None, epochs=1)


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent(
        """
        import json, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from xai_lab import models, training
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 64)
        x = (rng.integers(0, 120, (64, 8, 8, 1)) + (y * 100)[:, None, None, None]).astype(np.uint8)
        training.set_seed(0)
        model = models.build("dnn", (8, 8, 1), 2, units=(8,))
        before = [w.copy() for w in model.get_weights()]
        result = training.fit(model, (x, y), (x[:32], y[:32]), epochs=2, batch_size=16, strategy=strategy)
        changed = any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
        print(json.dumps({"replicas": strategy.num_replicas_in_sync, "epochs": result.epochs_run,
                          "changed": changed, "auc": result.history["val_auc"][-1]}))
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {**out, "replicas": 2, "epochs": 2, "changed": True}
    assert np.isfinite(out["auc"])
