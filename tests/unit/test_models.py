"""The model zoo: every family builds, trains a step, saves and loads exactly; safe loading."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xai_lab import models  # noqa: E402
from xai_lab.models import transfer, vit  # noqa: E402

SHAPE = (12, 12, 1)
TINY = {
    "dnn": {"units": (16,)},
    "cnn": {"filters": (4, 8), "dense": 8},
    "resnet": {"filters": (4, 8)},
    "stem_resnet": {"stem_filters": 4, "filters": (4, 8)},
    "rnn": {"units": 8},
    "vit": {"patch_size": 4, "dim": 8, "depth": 2, "num_heads": 2},
    "transfer": {"weights": None, "alpha": 0.35, "min_size": 32},
}
LRP_LAYERS = {
    "InputLayer", "Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "Flatten", "BatchNormalization", "ReLU", "Activation", "Add", "Dropout",
}


def _data(n=8, shape=SHAPE, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, k, n)


def test_registry_lists_every_family():
    assert set(models.available()) >= set(TINY)
    with pytest.raises(KeyError, match="available"):
        models.build("nope", SHAPE, 2)
    with pytest.raises(ValueError, match="n_classes"):
        models.build("cnn", SHAPE, 1)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("head", ["softmax", "coral"])
def test_build_train_step_save_load_exact(name, head, tmp_path):
    if name == "transfer" and head == "coral":
        pytest.skip("one transfer build is enough (slow backbone)")
    x, y = _data()
    keras.utils.set_random_seed(0)
    model = models.build(name, SHAPE, 3, head=head, **TINY[name])
    assert isinstance(model, keras.Model) and model.inputs[0].shape[1:] == SHAPE
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    out = np.asarray(model.predict_on_batch(x))
    assert out.shape == (len(x), 3)
    p = models.probabilities(out)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    path = models.save(model, tmp_path / f"{name}.keras")
    assert sorted(os.listdir(tmp_path)) == [f"{name}.keras"]  # no temporary file left
    loaded = models.load(path)
    np.testing.assert_array_equal(np.asarray(loaded.predict_on_batch(x)), out)


@pytest.mark.parametrize(
    "name,shape,options",
    [
        ("cnn", (28, 28, 1), {}),
        ("resnet", (28, 28, 1), {}),
        ("stem_resnet", (128, 128, 1), {}),
        ("stem_resnet", (128, 128, 3), {"block": "bottleneck", "stem_pool": False, "blocks": (1, 2, 1)}),
    ],
)
def test_lrp_models_use_only_rule_layers(name, shape, options):
    model = models.build(name, shape, 2, **options)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert kinds <= LRP_LAYERS, kinds - LRP_LAYERS
    assert model.get_layer("last_conv") is not None
    assert model.get_layer("last_relu") is not None


@pytest.mark.parametrize(
    "options,last",
    [
        ({}, (8, 8, 128)),  # stem 128 -> 32 px, then 32 -> 16 -> 8
        ({"stem_pool": False, "filters": (24, 48, 96)}, (16, 16, 96)),
        ({"stem_pool": False, "stem_filters": 16, "filters": (16, 32, 64, 128)}, (8, 8, 128)),
        ({"block": "bottleneck", "filters": (64, 128, 256)}, (8, 8, 256)),
    ],
)
def test_stem_resnet_last_feature_map_at_128_px(options, last):
    """Grad-CAM's resolution is the last block's map: 8x8 (or 16x16) at 128 px."""
    model = models.build("stem_resnet", (128, 128, 1), 2, **options)
    assert tuple(model.get_layer("last_relu").output.shape[1:]) == last
    conv = model.get_layer("last_conv")
    assert isinstance(conv, keras.layers.Conv2D) and tuple(conv.output.shape[1:]) == last


def test_stem_resnet_refuses_bad_options():
    with pytest.raises(ValueError, match="block must be"):
        models.build("stem_resnet", (32, 32, 1), 2, block="inverted")
    with pytest.raises(ValueError, match="one positive int per stage"):
        models.build("stem_resnet", (32, 32, 1), 2, filters=(4, 8), blocks=(1, 1, 1))
    with pytest.raises(ValueError, match="at least one stage"):
        models.build("stem_resnet", (32, 32, 1), 2, filters=())


def test_coral_head_gives_ordered_probabilities():
    head = models.CoralHead(5)
    feats = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    out = np.asarray(head(feats))
    p = np.exp(out)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(models.probabilities(out), p, atol=1e-5)
    cum = 1 / (1 + np.exp(-np.asarray(head.cumulative_logits(feats))))
    assert np.all(np.diff(cum, axis=1) <= 1e-7)  # P(y > k) non-increasing in k
    np.testing.assert_allclose(1 - p[:, :1].ravel(), cum[:, 0], atol=1e-5)


def test_vit_attention_model_shapes_and_roundtrip(tmp_path):
    model = models.build("vit", (12, 12, 3), 2, patch_size=4, dim=8, depth=2, num_heads=2)
    att = vit.attention_model(model)
    x = np.random.default_rng(0).random((3, 12, 12, 3), dtype=np.float32)
    scores = att.predict_on_batch(x)
    assert len(scores) == 2
    for s in scores:
        assert s.shape == (3, 2, 10, 10)  # 9 patches + CLS token
        np.testing.assert_allclose(s.sum(-1), 1.0, atol=1e-5)
    loaded = models.load(models.save(model, tmp_path / "vit.keras"))
    again = vit.attention_model(loaded).predict_on_batch(x)
    np.testing.assert_array_equal(again[0], scores[0])
    mean = models.build("vit", (12, 12, 3), 2, patch_size=4, dim=8, depth=1, num_heads=2, pool="mean")
    one = vit.attention_scores(mean, x)  # always a list, also for a single block
    assert len(one) == 1 and one[0].shape == (3, 2, 9, 9)
    with pytest.raises(ValueError, match="SelfAttention"):
        vit.attention_model(models.build("dnn", (12, 12, 3), 2))


def test_transfer_offline_falls_back_with_warning(monkeypatch):
    monkeypatch.setenv("XAI_LAB_OFFLINE", "1")
    with pytest.warns(transfer.TransferWeightsWarning, match="randomly initialised"):
        model = models.build("transfer", (28, 28, 1), 2, weights="imagenet")
    assert model.get_layer("to_rgb") is not None and model.get_layer("upsample") is not None
    assert model.predict_on_batch(np.zeros((1, 28, 28, 1), np.float32)).shape == (1, 2)


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(models.ModelFileError, match="does not exist"):
        models.load(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(models.ModelFileError, match="corrupt"):
        models.load(bad)
    good = models.save(models.build("dnn", SHAPE, 2, units=(4,)), tmp_path / "good.keras")
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(models.ModelFileError):
        models.load(truncated)
    with pytest.raises(ValueError, match=".keras"):
        models.save(models.build("dnn", SHAPE, 2, units=(4,)), tmp_path / "model.h5")


def test_lambda_model_refused_in_safe_mode(tmp_path):
    inputs = keras.Input(SHAPE)
    x = keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 2.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    path = models.save(model, tmp_path / "lambda.keras")
    with pytest.raises(models.ModelFileError, match="Lambda") as err:
        models.load(path)
    assert "safe_mode=False" in str(err.value) and "trust" in str(err.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert models.load(path, safe_mode=False).outputs[0].shape[-1] == 2


def test_data_that_does_not_fit_is_refused():
    model = models.build("dnn", SHAPE, 2, units=(4,))
    with pytest.raises(models.IncompatibleDataError, match="do not fit"):
        models.check_fits(model, image_shape=(28, 28, 1))
    with pytest.raises(models.IncompatibleDataError, match="5 classes"):
        models.check_fits(model, n_classes=5)
    with pytest.raises(models.IncompatibleDataError):
        models.predict_proba(model, np.zeros((2, 28, 28, 3), np.uint8))
    p = models.predict_proba(model, np.zeros((2, 12, 12, 1), np.uint8), temperature=2.0)
    assert p.shape == (2, 2)
