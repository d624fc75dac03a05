"""Every pass over a model splits a batch so that one call's largest activation stays within
``working_set.WORKING_SET_BYTES``: the sizes computed, and the same results either way (the
explainers, the prediction pass, the metrics' perturbed images, shap's model calls)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xai_lab import explain  # noqa: E402
from xai_lab.explain import _graph  # noqa: E402
from xai_lab.models import working_set  # noqa: E402

L = keras.layers
TWO_IMAGES = 4 * 720 * 2  # bytes: two images per call under _cnn() (largest output 720 floats)


def _cnn(shape=(12, 12, 1), name="ws_cnn"):
    inp = keras.Input(shape)
    h = L.Conv2D(5, 3, padding="same", activation="relu", name="c1")(inp)  # 12*12*5 = 720
    h = L.MaxPooling2D(2)(h)
    h = L.Conv2D(4, 3, padding="same", activation="relu", name="c2")(h)
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(inp, L.Dense(3, name="logits")(h), name=name)


def test_largest_activation_and_chunk_size():
    from xai_lab import models

    assert working_set.WORKING_SET_BYTES == 16 * 2**20
    model = models.build("cnn", (224, 224, 1), 2)
    assert _graph.largest_activation(model, (224, 224, 1)) == 224 * 224 * 32
    assert _graph.chunk_size(model, (224, 224, 1), 256) == 2  # 16 MiB / 6.4 MB
    assert _graph.chunk_size(model, (224, 224, 1), 1) == 1
    small = _cnn()
    assert _graph.largest_activation(small, (12, 12, 1)) == 720
    assert _graph.chunk_size(small, (12, 12, 1), 256) == 256  # the batch size caps it


def test_nested_models_are_opened_and_open_sizes_count_as_the_larger_side():
    inner = _cnn(shape=(None, None, 1), name="inner")
    inp = keras.Input((None, None, 1))
    outer = keras.Model(inp, inner(inp))
    assert _graph.largest_activation(outer, (30, 20, 1)) == 30 * 30 * 5  # c1, bound 30x30
    assert _graph.chunk_size(outer, (8192, 8192, 1), 64) == 1  # never fewer than one


@pytest.mark.parametrize("name", ["saliency", "smoothgrad", "integrated_gradients", "gradcam",
                                  "occlusion", "deep_taylor", "tfexplain.gradcam"])
def test_split_calls_give_the_same_maps(name, monkeypatch):
    model = _cnn()
    x = np.random.default_rng(0).uniform(0, 1, (5, 12, 12, 1)).astype(np.float32)
    explainer = explain.get(name)
    whole = explainer.explain(model, x)
    sizes: list[int] = []
    batches = _graph.batches

    def recording(n, size):
        sizes.append(size)
        return batches(n, size)

    monkeypatch.setattr(_graph, "batches", recording)
    monkeypatch.setattr(working_set, "WORKING_SET_BYTES", TWO_IMAGES)
    split = explainer.explain(model, x)
    if name != "deep_taylor":  # its analyzer loops by itself (tests/unit/test_lrp_rules.py)
        assert sizes and max(sizes) <= 2
    np.testing.assert_allclose(split.maps, whole.maps, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(split.probabilities, whole.probabilities, rtol=1e-6)
    np.testing.assert_array_equal(split.targets, whole.targets)


class _Recording:
    """A model that records how many images each call gets (everything else: the model's)."""

    def __init__(self, model):
        self.model, self.sizes = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __call__(self, x, **kwargs):
        self.sizes.append(len(x))
        return self.model(x, **kwargs)

    def predict_on_batch(self, x):
        self.sizes.append(len(x))
        return self.model.predict_on_batch(x)


def test_prediction_and_metric_passes_split(monkeypatch):
    from xai_lab import models
    from xai_lab.evaluate import base, faithfulness
    from xai_lab.training.callbacks import batched_logits

    model = _cnn()
    x = np.random.default_rng(1).uniform(0, 1, (5, 12, 12, 1)).astype(np.float32)
    explanation = explain.get("saliency").explain(model, x)
    deletion = faithfulness.Deletion(n_steps=4, baseline=0.0)

    def passes(m):
        return (models.predict_logits(m, x), base.predict_logits(m, x), batched_logits(m, x),
                deletion(m, explanation))

    whole = passes(model)
    monkeypatch.setattr(working_set, "WORKING_SET_BYTES", TWO_IMAGES)
    recording = _Recording(model)
    split = passes(recording)
    assert len(recording.sizes) == 3 * 3 + 13  # 5 images three times, 5 x (4 + 1) perturbed
    assert max(recording.sizes) == 2
    for a, b in zip(split, whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("algorithm", ["gradient", "partition"])
def test_shap_model_calls_split(algorithm, monkeypatch):
    pytest.importorskip("shap")
    model = _cnn()
    x = np.random.default_rng(2).uniform(0, 1, (2, 12, 12, 1)).astype(np.float32)
    explainer = explain.get("shap", algorithm=algorithm, nsamples=8, max_evals=40, batch_size=16)
    assert explainer.images_per_call(model) == 16
    whole = explainer.explain(model, x)
    _graph.model_cache(model).clear()  # the shap explainer is built for its batch size
    monkeypatch.setattr(working_set, "WORKING_SET_BYTES", TWO_IMAGES)
    assert explainer.images_per_call(model) == 2
    sizes: list[int] = []
    forward = _graph.forward_function

    def recording(m):
        fn = forward(m)
        return lambda images: sizes.append(len(images)) or fn(images)

    monkeypatch.setattr(_graph, "forward_function", recording)
    split = explainer.explain(model, x)
    if algorithm == "gradient":
        assert explainer.shap_explainer(model).explainer.batch_size == 2
        np.testing.assert_allclose(split.maps, whole.maps, rtol=1e-5, atol=1e-6)
    else:
        assert sizes and max(sizes) <= 2
        # Logits of a batch of 2 and of 16 differ in the last bits, and with this untrained
        # model's near-equal scores that can change which cluster the partition explainer
        # splits next; the values still sum to f(x) - f(background) either way.
        np.testing.assert_allclose(split.maps.sum(axis=(1, 2)), whole.maps.sum(axis=(1, 2)),
                                   rtol=1e-4, atol=1e-7)


def test_shap_deep_background_in_chunks(monkeypatch):
    pytest.importorskip("shap")
    from xai_lab.explain.shap_methods import DeepInChunks

    model = _cnn()
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (2, 12, 12, 1)).astype(np.float32)
    background = rng.uniform(0, 1, (5, 12, 12, 1)).astype(np.float32)
    explainer = explain.get("shap", algorithm="deep", background=background)
    whole = explainer.explain(model, x)
    assert not isinstance(explainer.shap_explainer(model), DeepInChunks)  # 10 images fit
    _graph.model_cache(model).clear()
    monkeypatch.setattr(working_set, "WORKING_SET_BYTES", 4 * 720 * 4)  # four images per call
    chunked = explainer.shap_explainer(model)
    assert [len(c) for c in chunked.chunks] == [2, 2, 1]  # 2 x chunk images per call
    split = explainer.explain(model, x)
    np.testing.assert_allclose(split.attributions, whole.attributions, rtol=1e-5, atol=1e-8)
    expected = model.predict_on_batch(background).mean(axis=0)
    np.testing.assert_allclose(chunked.expected_value, expected, rtol=1e-5)
    # DeepLIFT's sums: f(x) - E[f(background)] for the explained class
    gap = model.predict_on_batch(x)[np.arange(2), split.targets] - expected[split.targets]
    np.testing.assert_allclose(split.attributions.sum(axis=(1, 2, 3)), gap, rtol=1e-4, atol=1e-6)
