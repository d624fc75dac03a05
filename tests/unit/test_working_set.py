"""Explainers split a batch so that one compiled call's largest activation stays within
``_graph.WORKING_SET_BYTES``: the sizes they compute, and the same maps either way."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xai_lab import explain  # noqa: E402
from xai_lab.explain import _graph  # noqa: E402

L = keras.layers


def _cnn(shape=(12, 12, 1), name="ws_cnn"):
    inp = keras.Input(shape)
    h = L.Conv2D(5, 3, padding="same", activation="relu", name="c1")(inp)  # 12*12*5 = 720
    h = L.MaxPooling2D(2)(h)
    h = L.Conv2D(4, 3, padding="same", activation="relu", name="c2")(h)
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(inp, L.Dense(3, name="logits")(h), name=name)


def test_largest_activation_and_chunk_size():
    from xai_lab import models

    assert _graph.WORKING_SET_BYTES == 16 * 2**20
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
                                  "occlusion", "deep_taylor"])
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
    monkeypatch.setattr(_graph, "WORKING_SET_BYTES", 4 * 720 * 2)  # two images per call
    split = explainer.explain(model, x)
    if name != "deep_taylor":  # its analyzer loops by itself (tests/unit/test_lrp_rules.py)
        assert sizes and max(sizes) <= 2
    np.testing.assert_allclose(split.maps, whole.maps, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(split.probabilities, whole.probabilities, rtol=1e-6)
    np.testing.assert_array_equal(split.targets, whole.targets)
