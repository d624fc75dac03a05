"""Models from elsewhere: a final softmax is detected (no softmax twice), odd outputs refused."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xai_lab import models

SHAPE = (12, 12, 1)


def _body(seed: int = 0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input(SHAPE)
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return inp, x


def _logit_model():
    inp, x = _body()
    return keras.Model(inp, keras.layers.Dense(3, name="logits")(x))


def _softmax_variants():
    """The same network (same weights) ending in a softmax in each way Keras allows."""
    base = _logit_model()
    dense = base.get_layer("logits")
    inp = base.inputs[0]
    feats = dense.input
    as_layer = keras.Model(inp, keras.layers.Softmax()(base.outputs[0]))
    as_activation = keras.Model(inp, keras.layers.Activation("softmax")(base.outputs[0]))
    fused = keras.layers.Dense(3, activation="softmax")
    fused_model = keras.Model(inp, fused(feats))
    fused.set_weights(dense.get_weights())
    sequential = keras.Sequential([keras.Input(SHAPE), *base.layers[1:], keras.layers.Softmax()])
    nested = keras.Model(inp, sequential(inp))
    return base, {"Softmax": as_layer, "Activation": as_activation, "Dense(activation)": fused_model,
                  "Sequential": sequential, "nested model": nested}


@pytest.fixture(scope="module")
def variants():
    return _softmax_variants()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (6, *SHAPE), dtype=np.uint8)


def test_logit_models_are_not_taken_for_probability_models(variants):
    base, _ = variants
    assert not models.outputs_probabilities(base)
    assert not models.outputs_probabilities(models.build("cnn", (28, 28, 1), 2))
    assert not models.outputs_probabilities(models.build("cnn", (28, 28, 3), 5, head="coral"))


@pytest.mark.parametrize("kind", ["Softmax", "Activation", "Dense(activation)", "Sequential", "nested model"])
def test_softmax_models_give_their_own_probabilities(variants, images, kind):
    base, softmaxed = variants
    model = softmaxed[kind]
    assert models.outputs_probabilities(model)
    expected = models.predict_proba(base, images)  # softmax of the true logits
    direct = np.asarray(model.predict_on_batch(models.as_input(images)))
    np.testing.assert_allclose(direct, expected, atol=1e-6)  # the variants are the same network
    np.testing.assert_allclose(models.predict_proba(model, images), expected, atol=1e-5)
    # temperature scaling acts on the pre-softmax logits: log p differs by a constant per image
    np.testing.assert_allclose(models.predict_proba(model, images, temperature=2.5),
                               models.predict_proba(base, images, temperature=2.5), atol=1e-5)
    logits = models.predict_logits(model, images)
    np.testing.assert_allclose(models.probabilities(logits), expected, atol=1e-5)


def test_a_certain_probability_model_gives_finite_logits(images):
    inp, x = _body()
    out = keras.layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.Constant(500.0),
                             bias_initializer=keras.initializers.Constant([0.0, 1e4, 0.0]))(x)
    model = keras.Model(inp, out)
    logits = models.predict_logits(model, images)
    assert np.isfinite(logits).all()
    np.testing.assert_allclose(models.predict_proba(model, images)[:, 1], 1.0, atol=1e-6)


def test_explanations_and_evaluation_scores_use_the_probabilities_once(variants, images):
    from xai_lab import explain
    from xai_lab.evaluate.base import class_scores

    base, softmaxed = variants
    model = softmaxed["Dense(activation)"]
    targets = np.zeros(len(images), dtype=np.int64)
    expected = models.predict_proba(base, images)
    e = explain.get("saliency").explain(model, images)
    np.testing.assert_allclose(e.probabilities, expected, atol=1e-5)
    x = models.as_input(images)
    np.testing.assert_allclose(class_scores(model, x, targets), expected[:, 0], atol=1e-5)


def test_several_or_non_class_outputs_are_refused(images):
    inp, x = _body()
    two = keras.Model(inp, [keras.layers.Dense(2)(x), keras.layers.Dense(3)(x)])
    maps = keras.Model(inp, keras.layers.Conv2D(2, 1)(inp))  # (N, H, W, 2): a segmentation map
    single = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))
    for model, message in ((two, "2 outputs"), (maps, "(None, 12, 12, 2)"), (single, "at least 2")):
        with pytest.raises(models.ModelOutputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            models.output_classes(model)
        with pytest.raises(models.ModelOutputError):
            models.predict_proba(model, images)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_predict_proba_refuses_a_meaningless_temperature(variants, images, temperature):
    base, _ = variants
    with pytest.raises(ValueError, match="temperature"):
        models.predict_proba(base, images, temperature=temperature)


def test_the_explorer_shows_a_softmax_models_own_probabilities(tmp_path):
    import json

    from xai_lab.app import ExplorerApp

    keras.utils.set_random_seed(3)
    inp = keras.Input((28, 28, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))
    folder = tmp_path / "soft"
    folder.mkdir()
    models.save(model, folder / "model.keras")
    (folder / "metrics.json").write_text(json.dumps({"dataset": "pneumoniamnist"}))
    image = np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)
    expected = np.asarray(model.predict_on_batch(models.as_input(image[None])))[0]
    with ExplorerApp(tmp_path, methods=["gradcam"]) as explorer:
        explorer.select_model(explorer.find_models()[0])
        case = explorer.analyse(image, "x.png")
    np.testing.assert_allclose(case.probabilities, expected, atol=1e-5)
