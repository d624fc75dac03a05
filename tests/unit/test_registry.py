"""The registry of explainers and the Explainer base class (targets, input checks)."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab import explain
from xai_lab.explain import Explainer, MapResult, UnsupportedModelError, register
from xai_lab.explain.base import _REGISTRY

EXPECTED = {
    "gradcam",
    "gradcam++",
    "saliency",
    "smoothgrad",
    "integrated_gradients",
    "occlusion",
    "shap",
    "attention_rollout",
    "tfexplain.gradcam",
    "tfexplain.smoothgrad",
    "tfexplain.integrated_gradients",
    "tfexplain.occlusion",
}


def test_available_lists_the_methods():
    names = explain.available()
    assert names == sorted(names)
    assert EXPECTED <= set(names)


def test_get_passes_settings_and_reports_registry_name():
    e = explain.get("smoothgrad", n_samples=3, seed=7)
    assert e.name == "smoothgrad" and e.parameters["n_samples"] == 3 and e.parameters["seed"] == 7
    assert "SmoothGrad(" in repr(e)
    with pytest.raises(KeyError, match="unknown explainer 'nope'.*gradcam"):
        explain.get("nope")
    with pytest.raises(TypeError):
        explain.get("gradcam", no_such_setting=1)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="baseline"):
        explain.get("integrated_gradients", baseline="grey")
    with pytest.raises(ValueError, match="algorithm"):
        explain.get("shap", algorithm="kernel")
    with pytest.raises(ValueError, match="background"):
        explain.get("shap", algorithm="deep", background="blur")
    with pytest.raises(ValueError, match="score"):
        explain.get("occlusion", score="loss")


class _Mean(Explainer):
    """A tiny explainer for testing the base class: the image's mean over channels."""

    name = "test.mean"

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__(scale=scale)
        self.scale = scale

    def _explain(self, model, x, targets):
        return MapResult(maps=self.scale * x.mean(axis=-1) + targets[:, None, None])


@pytest.fixture
def registered():
    register("test.mean", scale=2.0)(_Mean)
    yield
    _REGISTRY.pop("test.mean", None)


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    inp = keras.Input(shape=(4, 4, 1))
    out = keras.layers.Dense(3)(keras.layers.Flatten()(inp))
    return keras.Model(inp, out)


def test_register_preset_and_override(registered, tiny_model):
    assert "test.mean" in explain.available()
    assert explain.get("test.mean").scale == 2.0
    assert explain.get("test.mean", scale=3.0).scale == 3.0
    x = np.full((2, 4, 4, 1), 0.5, np.float32)
    e = explain.get("test.mean").explain(tiny_model, x, target=[1, 2])
    np.testing.assert_allclose(e.maps[0], 1.0 + 1) and np.testing.assert_allclose(e.maps[1], 3.0)
    assert e.method == "test.mean" and e.parameters == {"scale": 2.0}


def test_register_refuses_a_second_class_under_the_same_name(registered):
    class Other(_Mean):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register("test.mean")(Other)


def test_targets_and_inputs_are_checked(registered, tiny_model):
    m = explain.get("test.mean")
    x8 = np.full((2, 4, 4, 1), 255, np.uint8)
    e = m.explain(tiny_model, x8)
    assert e.inputs.max() == pytest.approx(1.0)  # uint8 scaled to [0, 1]
    with pytest.raises(ValueError, match="outside"):
        m.explain(tiny_model, x8, target=3)
    with pytest.raises(ValueError, match="one int per image"):
        m.explain(tiny_model, x8, target=[0, 1, 2])
    with pytest.raises(ValueError):
        m.explain(tiny_model, np.zeros((2, 5, 5, 1), np.float32))
    bad = np.zeros((1, 4, 4, 1), np.float32)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.explain(tiny_model, bad)


def test_spatial_methods_refuse_models_without_a_conv_layer(tiny_model):
    with pytest.raises(UnsupportedModelError, match="4-D"):
        explain.get("gradcam").explain(tiny_model, np.zeros((1, 4, 4, 1), np.float32))
