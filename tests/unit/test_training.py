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


# ------------------------------------------------------------------------------- recipes
LRP_LAYERS = {
    "InputLayer", "Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "Flatten", "BatchNormalization", "ReLU", "Activation", "Add", "Dropout",
}


def test_recipes_are_picked_by_dataset_and_size():
    from dataclasses import replace

    recipes = training.recipes
    assert recipes.get_recipe("chest_xray") is recipes.RECIPES["chest_xray", 128]  # its default size
    assert recipes.get_recipe("ham10000", 128).model == "stem_resnet"
    assert recipes.get_recipe("pneumoniamnist") is recipes.RECIPES["pneumoniamnist", 28]
    # a size without its own recipe: the nearest size's settings, at the size asked for
    assert recipes.get_recipe("chest_xray", 224) == replace(recipes.RECIPES["chest_xray", 128], size=224)
    assert recipes.get_recipe("pneumoniamnist", 64) == replace(recipes.RECIPES["pneumoniamnist", 28], size=64)
    assert recipes.get_recipe("dermamnist", 78).size == 78  # a tie goes to the smaller size's recipe
    with pytest.raises(KeyError, match="no default recipe for 'nope'"):
        recipes.get_recipe("nope")


@pytest.mark.parametrize("key", [k for k in training.recipes.RECIPES if k[1] >= 96])
def test_high_resolution_recipes_build_lrp_models_with_legible_maps(key):
    """Every layer has an LRP rule; Grad-CAM's map (the last block) is at least 8x8."""
    from xai_lab import data

    recipe = training.recipes.RECIPES[key]
    info = data.get_info(key[0])
    assert recipe.size == key[1] == info["default_size"]
    assert recipe.max_seconds is not None and recipe.max_seconds <= 900
    model = models.build(recipe.model, (recipe.size, recipe.size, info["n_channels"]), info["n_classes"], **recipe.options)
    assert {type(layer).__name__ for layer in model.layers} <= LRP_LAYERS
    last = model.get_layer("last_relu").output.shape
    assert min(last[1], last[2]) >= 8 and model.get_layer("last_conv") is not None


def test_train_on_fits_the_multiclass_decision_rule_on_val(tmp_path):
    """A skewed 3-class set: calibration.json holds the prior correction, metrics.json the
    balanced figures and per-class recalls at it (by name)."""
    from xai_lab import data

    info = {**data.get_info("ham10000"), "label_names": ("a", "b", "c"), "n_classes": 3}

    def split(n, seed):
        r = np.random.default_rng(seed)
        y = r.choice(3, size=n, p=[0.7, 0.2, 0.1])
        x = r.integers(0, 90, (n, 16, 16, 3)) + (y * 70)[:, None, None, None]
        return data.Dataset(x.astype(np.uint8), y, info, "ham10000", "train", "test")

    train, val = split(120, 1), split(60, 2)
    result = training.recipes.train_on("ham10000", train, val, tmp_path, epochs=1, seed=0)
    cal = json.loads((tmp_path / "calibration.json").read_text())
    assert cal["task"] == "multiclass" and len(cal["class_offsets"]) == 3
    assert 0.0 <= cal["prior_strength"] <= 1.5
    np.testing.assert_allclose(cal["prior"], np.bincount(train.labels, minlength=3) / len(train))
    np.testing.assert_allclose(cal["class_offsets"], -cal["prior_strength"] * np.log(cal["prior"]), rtol=1e-6)
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert set(m["recall_by_class"]) == {"a", "b", "c"}
    assert m["class_offsets"] == pytest.approx(cal["class_offsets"])
    assert m["balanced_accuracy_at_threshold"] == pytest.approx(np.mean(m["recall_per_class"]))
    assert result["fit"]["model"] == "stem_resnet" and m["size"] == 16
