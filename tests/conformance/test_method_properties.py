"""Method-specific properties with known answers (beyond the registry-wide conformance suite).

On a linear model ``f(x) = W . x + b`` every attribution method has a closed form:
saliency = |W|, SmoothGrad = W (the gradient does not depend on the noise), integrated
gradients = W (x - x'), occlusion with non-overlapping patches = the patch's contribution
W . (x - fill), SHAP (gradient and deep) = W (x - background) and partition values sum to
``f(x) - f(background)``. On a non-linear CNN, integrated gradients satisfy completeness.
"""

from __future__ import annotations

import numpy as np
import pytest
import zoo

from xai_lab import explain
from xai_lab.explain import UnsupportedModelError

pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")

SHAPE = (8, 8, 2)


@pytest.fixture(scope="module")
def linear():
    import keras

    inp = keras.Input(shape=SHAPE)
    dense = keras.layers.Dense(3, name="fc")
    model = keras.Model(inp, dense(keras.layers.Flatten()(inp)))
    rng = np.random.default_rng(0)
    w = rng.normal(size=(int(np.prod(SHAPE)), 3)).astype(np.float32)
    b = np.array([0.1, -0.2, 0.3], np.float32)
    dense.set_weights([w, b])
    return model, w.reshape(*SHAPE, 3), b


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).uniform(0, 1, (2, *SHAPE)).astype(np.float32)


TARGETS = np.array([2, 0])


def _w(w, targets):
    return np.stack([w[..., t] for t in targets])


def test_saliency_and_smoothgrad_on_linear(linear, x):
    model, w, _ = linear
    s = explain.get("saliency").explain(model, x, target=TARGETS)
    np.testing.assert_allclose(s.attributions, _w(w, TARGETS), rtol=1e-6)
    np.testing.assert_allclose(s.maps, np.abs(_w(w, TARGETS)).max(-1), rtol=1e-6)
    sg = explain.get("smoothgrad", n_samples=5, noise=0.3).explain(model, x, target=TARGETS)
    np.testing.assert_allclose(sg.attributions, _w(w, TARGETS), rtol=1e-5)


@pytest.mark.parametrize("baseline", ["black", "white", "mean", "blur", 0.5])
def test_integrated_gradients_on_linear(linear, x, baseline):
    model, w, _ = linear
    ig = explain.get("integrated_gradients", baseline=baseline, steps=4)
    e = ig.explain(model, x, target=TARGETS)
    base = ig.baselines(x)
    np.testing.assert_allclose(e.attributions, _w(w, TARGETS) * (x - base), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e.maps, e.attributions.sum(-1), rtol=1e-6, atol=1e-7)


def test_integrated_gradients_baseline_array_and_errors(linear, x):
    model, w, _ = linear
    ref = np.full(SHAPE, 0.25, np.float32)
    e = explain.get("integrated_gradients", baseline=ref, steps=2).explain(model, x, target=0)
    np.testing.assert_allclose(e.attributions, w[None, ..., 0] * (x - ref), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        explain.get("integrated_gradients", baseline=np.zeros((3, 3, 2))).explain(model, x)


@pytest.mark.parametrize("baseline", ["black", "white", "mean", "blur"])
def test_integrated_gradients_completeness_on_cnn(baseline):
    """sum(attributions) = f(x) - f(x') up to the trapezoid rule's error (Sundararajan 2017)."""
    model = zoo.build("resnet")
    x = zoo.images("resnet", n=2)
    ig = explain.get("integrated_gradients", baseline=baseline, steps=64)
    e = ig.explain(model, x)
    t = e.targets
    fx = np.asarray(model(x, training=False))[np.arange(2), t]
    fb = np.asarray(model(ig.baselines(x), training=False))[np.arange(2), t]
    total = e.attributions.reshape(2, -1).sum(1)
    np.testing.assert_allclose(total, fx - fb, rtol=0.02, atol=0.02 * np.abs(fx - fb).max() + 1e-6)


def test_occlusion_on_linear(linear, x):
    model, w, _ = linear
    e = explain.get("occlusion", patch_size=4, stride=4, fill=0.0).explain(model, x, target=TARGETS)
    contrib = _w(w, TARGETS) * x  # removing a pixel (fill 0) drops the logit by w * x
    expected = np.zeros((2, 8, 8))
    for r in (0, 4):
        for c in (0, 4):
            expected[:, r : r + 4, c : c + 4] = contrib[:, r : r + 4, c : c + 4].sum(axis=(1, 2, 3))[
                :, None, None
            ]
    np.testing.assert_allclose(e.maps, expected, rtol=1e-5, atol=1e-5)
    # overlapping patches (stride 2): every pixel covered, average of the covering drops
    ov = explain.get("occlusion", patch_size=4, stride=2).explain(model, x, target=TARGETS)
    assert np.all(np.isfinite(ov.maps))
    # probability scores: the drop is in [-1, 1]
    pr = explain.get("occlusion", patch_size=4, score="probability").explain(model, x)
    assert np.abs(pr.maps).max() <= 1.0


def test_shap_gradient_and_deep_on_linear(linear, x):
    model, w, b = linear
    bg = np.random.default_rng(2).uniform(0, 1, (4, *SHAPE)).astype(np.float32)
    deep = explain.get("shap", algorithm="deep", background=bg).explain(model, x, target=TARGETS)
    expected = _w(w, TARGETS) * (x - bg.mean(0))
    np.testing.assert_allclose(deep.attributions, expected, rtol=1e-4, atol=1e-5)
    grad = explain.get("shap", algorithm="gradient", nsamples=16).explain(model, x, target=TARGETS)
    np.testing.assert_allclose(grad.attributions, _w(w, TARGETS) * x, rtol=1e-4, atol=1e-5)


def test_shap_partition_efficiency_on_linear(linear, x):
    """Owen values sum to f(x) - f(fully masked); with fill 0 that is W . x."""
    model, w, _ = linear
    e = explain.get("shap", algorithm="partition", background="zeros", max_evals=64).explain(
        model, x, target=TARGETS
    )
    total = e.attributions.reshape(2, -1).sum(1)
    expected = (_w(w, TARGETS) * x).reshape(2, -1).sum(1)
    np.testing.assert_allclose(total, expected, rtol=1e-4, atol=1e-4)


def test_shap_restores_numpy_global_state(linear, x):
    model, _, _ = linear
    np.random.seed(123)  # noqa: NPY002
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    explain.get("shap", nsamples=4).explain(model, x)
    assert np.random.random() == expected  # noqa: NPY002


def test_shap_deep_refuses_leaky_relu():
    import keras

    inp = keras.Input(shape=SHAPE)
    h = keras.layers.LeakyReLU(name="leaky")(keras.layers.Dense(4)(keras.layers.Flatten()(inp)))
    model = keras.Model(inp, keras.layers.Dense(2)(h))
    with pytest.raises(UnsupportedModelError, match="leaky.*LeakyReLU"):
        explain.get("shap", algorithm="deep").explain(model, np.zeros((1, *SHAPE), np.float32))


def test_tfexplain_integrated_gradients_is_tf_explain(linear, x):
    from tf_explain.core.integrated_gradients import IntegratedGradients

    model, _, _ = linear
    e = explain.get("tfexplain.integrated_gradients", n_steps=5).explain(model, x, target=1)
    paths = IntegratedGradients.generate_interpolations(x, 5).astype(np.float32)
    theirs = IntegratedGradients.get_integrated_gradients(paths, model, 1, 5).numpy()
    np.testing.assert_allclose(e.attributions, theirs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(e.maps, np.abs(theirs).sum(-1), rtol=1e-5, atol=1e-7)


def test_tfexplain_refuses_sequential_with_reason():
    model = zoo.build("sequential")
    x = zoo.images("sequential", n=1)
    with pytest.raises(UnsupportedModelError, match="tf-explain's GradCAM cannot explain Sequential"):
        explain.get("tfexplain.gradcam").explain(model, x)
    with pytest.raises(UnsupportedModelError, match="model.output"):
        explain.get("tfexplain.smoothgrad").explain(model, x)


# ------------------------------------------------------------------ blank maps and their reasons
@pytest.fixture(scope="module")
def gap_cnn():
    """Conv(relu) -> GAP -> Dense: Grad-CAM at the ReLU sums to the logit minus its bias."""
    import keras

    inp = keras.Input(shape=(8, 8, 1))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")
    feat = keras.layers.ReLU(name="relu")(conv(inp))
    dense = keras.layers.Dense(2, name="logits")
    model = keras.Model(inp, dense(keras.layers.GlobalAveragePooling2D()(feat)))
    rng = np.random.default_rng(2)
    conv.set_weights([np.abs(rng.normal(size=(3, 3, 1, 4))).astype(np.float32), np.zeros(4, np.float32)])
    # class 0 reads the features with negative weights: its evidence is negative everywhere
    dense.set_weights([np.stack([-np.ones(4), np.ones(4)], axis=1).astype(np.float32),
                       np.array([5.0, 0.0], np.float32)])
    return model


def test_blank_gradcam_and_deep_taylor_say_why(gap_cnn):
    x = np.random.default_rng(3).uniform(0.2, 1, (2, 8, 8, 1)).astype(np.float32)
    e = explain.get("gradcam", layer="relu").explain(gap_cnn, x, target=0)
    assert np.all(e.maps == 0) and list(e.flagged) == [True, True]
    note = e.note(0, ["normal", "pneumonia"])
    assert note.startswith("no positive evidence for 'normal' at layer relu: Grad-CAM is zero everywhere")
    assert "rectified" not in note  # the ReLU's output is rectified: no advice to move
    conv = explain.get("gradcam", layer="conv").explain(gap_cnn, x, target=0)
    assert "can output negative values" in conv.note(0)
    logits = np.asarray(gap_cnn(x))
    dt = explain.get("deep_taylor").explain(gap_cnn, x, target=0)
    assert (logits[:, 0] <= 0).any(), "the fixture should give negative logits for class 0"
    for i in range(2):
        if logits[i, 0] <= 0:
            assert dt.flagged[i] and f"{logits[i, 0]:.3g}" in dt.note(i) and "not positive" in dt.note(i)
        else:
            assert not dt.flagged[i]


def test_contrastive_gradcam_explains_the_logit_difference(gap_cnn):
    import tensorflow as tf

    x = np.random.default_rng(4).uniform(0, 1, (3, 8, 8, 1)).astype(np.float32)
    e = explain.get("gradcam", layer="relu", contrast=True).explain(gap_cnn, x, target=1)
    assert e.title == "Grad-CAM (contrastive)" and "above the other classes" in e.meaning
    from xai_lab.explain import _graph

    grad_model = _graph.activation_model(gap_cnn, "relu")
    with tf.GradientTape() as tape:
        a, logits = grad_model(x)
        score = logits[:, 1] - logits[:, 0]
    g = tape.gradient(score, a)
    cam = tf.nn.relu(tf.reduce_sum(tf.reduce_mean(g, axis=(1, 2), keepdims=True) * a, -1)).numpy()
    np.testing.assert_allclose(e.raw_maps, cam, rtol=1e-5, atol=1e-6)
    plain = explain.get("gradcam", layer="relu").explain(gap_cnn, x, target=1)
    assert not np.allclose(plain.raw_maps, e.raw_maps)
