"""Grad-CAM and Grad-CAM++ against slow textbook implementations, tf-explain, and hand-computed
cases.

- ``keras_io_gradcam``: the keras-io recipe ("Grad-CAM class activation visualization",
  F. Chollet), eager ``GradientTape`` one image at a time, without its final division by the
  maximum (our maps are not normalised; the normalised maps are compared too).
- tf-explain 0.3.1's ``GradCAM.get_gradients_and_filters`` + ``generate_ponderated_output``
  (raw, before its colouring), with ``use_guided_grads=False`` and a ReLU.
- ``textbook_gradcam_pp``: the Grad-CAM++ weights of Chattopadhay et al. (2018), eq. 19 with
  the exponential's derivatives, written out per image and per channel in NumPy.
- A one-convolution model whose Grad-CAM can be written down by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab import explain

pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")


def _cnn(seed: int = 0, input_shape=(16, 16, 3), n_classes: int = 3):
    import keras
    from keras import layers

    init = keras.initializers.GlorotUniform
    inp = keras.Input(shape=input_shape)
    x = layers.Conv2D(6, 3, activation="relu", kernel_initializer=init(seed), name="conv1")(inp)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Conv2D(8, 3, activation="relu", kernel_initializer=init(seed + 1), name="conv2")(x)
    x = layers.Flatten()(x)
    out = layers.Dense(n_classes, kernel_initializer=init(seed + 2), name="logits")(x)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def model():
    return _cnn()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(3).uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)


def keras_io_gradcam(model, img_array, layer_name, pred_index):
    """The keras-io Grad-CAM recipe for one image (1, H, W, C), without normalisation."""
    import keras
    import tensorflow as tf

    grad_model = keras.models.Model(
        model.inputs, [model.get_layer(layer_name).output, model.outputs[0]]
    )
    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(img_array)
        class_channel = preds[:, pred_index]
    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
    heatmap = last_conv_layer_output[0] @ pooled_grads[..., tf.newaxis]
    heatmap = tf.squeeze(heatmap)
    return tf.maximum(heatmap, 0).numpy()


def activations_and_grads(model, layer_name, img, target, order=1):
    """Activations and the first ``order`` derivatives of exp(logit) wrt them (one image)."""
    import keras
    import tensorflow as tf

    grad_model = keras.models.Model(
        model.inputs, [model.get_layer(layer_name).output, model.outputs[0]]
    )
    with tf.GradientTape() as tape:
        a, preds = grad_model(img)
        score = preds[0, target]
    g = tape.gradient(score, a)
    return a.numpy()[0].astype(np.float64), g.numpy()[0].astype(np.float64), float(score)


def textbook_gradcam_pp(model, layer_name, img, target):
    """Grad-CAM++ (Chattopadhay et al. 2018, eqs. 10 and 19), loops over channels.

    With Y = exp(S): dY/dA = exp(S) g, d2Y/dA2 = exp(S) g^2, d3Y/dA3 = exp(S) g^3 for a
    piecewise-linear network, g = dS/dA.
    """
    a, g, s = activations_and_grads(model, layer_name, img, target)
    e = np.exp(s)
    h, w, k = a.shape
    cam = np.zeros((h, w))
    for c in range(k):
        d1, d2, d3 = e * g[..., c], e * g[..., c] ** 2, e * g[..., c] ** 3
        denom = 2 * d2 + a[..., c].sum() * d3
        alpha = np.where(denom != 0, d2 / np.where(denom != 0, denom, 1), 0.0)
        weight = (alpha * np.maximum(d1, 0)).sum()
        cam += weight * a[..., c]
    return np.maximum(cam, 0) / e  # exp(S) scales the whole map; we omit it


def test_gradcam_equals_keras_io_recipe(model, images):
    targets = [0, 1, 2, 1]
    e = explain.get("gradcam", layer="conv2").explain(model, images, target=targets)
    assert e.layer == "conv2"
    for i, t in enumerate(targets):
        ref = keras_io_gradcam(model, images[i : i + 1], "conv2", t)
        np.testing.assert_allclose(e.raw_maps[i], ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
        if ref.max() > 0:  # the recipe's normalised heatmap
            np.testing.assert_allclose(
                e.raw_maps[i] / e.raw_maps[i].max(), ref / ref.max(), atol=1e-5
            )


def test_gradcam_default_layer_is_last_conv(model, images):
    e = explain.get("gradcam").explain(model, images)
    assert e.layer == "conv2"
    assert e.raw_maps.shape == (4, 5, 5)


def test_gradcam_upsampling_is_bilinear_of_raw(model, images):
    import tensorflow as tf

    e = explain.get("gradcam").explain(model, images)
    up = tf.image.resize(e.raw_maps[..., None], (16, 16), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(e.maps, np.maximum(up, 0), rtol=1e-6, atol=1e-7)


def test_gradcam_equals_tf_explain(model, images):
    from tf_explain.core.grad_cam import GradCAM

    ours = explain.get("gradcam", layer="conv2").explain(model, images, target=1)
    outputs, grads = GradCAM.get_gradients_and_filters(model, images, "conv2", 1, False)
    theirs = np.stack([c.numpy() for c in GradCAM.generate_ponderated_output(outputs, grads)])
    ref = np.maximum(theirs, 0)
    np.testing.assert_allclose(ours.raw_maps, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_tfexplain_adapter_returns_tf_explain_raw_output(model, images):
    from tf_explain.core.grad_cam import GradCAM

    e = explain.get("tfexplain.gradcam").explain(model, images, target=2)
    outputs, grads = GradCAM.get_gradients_and_filters(model, images, "conv2", 2, True)
    theirs = np.stack([c.numpy() for c in GradCAM.generate_ponderated_output(outputs, grads)])
    np.testing.assert_allclose(e.raw_maps, theirs, rtol=1e-5, atol=1e-7)


def test_gradcam_plus_plus_equals_textbook(model, images):
    targets = [2, 1, 0, 0]
    e = explain.get("gradcam++", layer="conv2").explain(model, images, target=targets)
    for i, t in enumerate(targets):
        ref = textbook_gradcam_pp(model, "conv2", images[i : i + 1], t)
        np.testing.assert_allclose(e.raw_maps[i], ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def _one_conv_model(kernel: np.ndarray, dense: np.ndarray):
    """x (4x4x1) -> Conv2D 2 filters 1x1, linear -> Flatten -> Dense 2 (no biases)."""
    import keras
    from keras import layers

    inp = keras.Input(shape=(4, 4, 1))
    conv = layers.Conv2D(2, 1, use_bias=False, name="conv")
    x = conv(inp)
    x = layers.Flatten()(x)
    fc = layers.Dense(2, use_bias=False, name="fc")
    out = fc(x)
    model = keras.Model(inp, out)
    conv.set_weights([kernel.reshape(1, 1, 1, 2)])
    fc.set_weights([dense])
    return model


def test_gradcam_hand_computed():
    # Conv: A_k = w_k * x with w = (1, -2). Dense: logit_c = sum_{ij,k} V[(ij,k), c] A_k[ij].
    # d logit_c / d A_k[ij] = V[(ij,k), c]; Grad-CAM weight alpha_k = mean_ij V[(ij,k), c].
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1) / 16.0
    w = np.array([1.0, -2.0], np.float32)
    v = np.zeros((32, 2), np.float32)
    v[0::2, 0] = 0.5  # class 0 reads channel 0 (weight 0.5 at every pixel)
    v[1::2, 1] = 0.25  # class 1 reads channel 1
    v[1::2, 0] = -0.1  # and class 0 dislikes channel 1
    model = _one_conv_model(w, v)
    a0, a1 = w[0] * x[0, ..., 0], w[1] * x[0, ..., 0]
    # class 0: alpha = (0.5, -0.1) -> ReLU(0.5 x + 0.2 x) = 0.7 x
    # class 1: alpha = (0, 0.25) -> ReLU(0.25 * -2 x) = 0 everywhere (x >= 0)
    expected0 = np.maximum(0.5 * a0 - 0.1 * a1, 0)
    e = explain.get("gradcam", layer="conv").explain(model, x, target=[0])
    np.testing.assert_allclose(e.raw_maps[0], expected0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(e.raw_maps[0], 0.7 * x[0, ..., 0], rtol=1e-6, atol=1e-7)
    zero = explain.get("gradcam", layer="conv").explain(model, x, target=1)
    assert np.all(zero.maps == 0) and np.all(np.isfinite(zero.maps))
    assert np.all(zero.normalized().maps == 0)
    # Grad-CAM++ on the same case: class 0, channel 0 has g = 0.5 everywhere:
    # alpha = g^2 / (2 g^2 + sum(A_0) g^3), weight = sum_ij alpha * g.
    g = 0.5
    alpha = g**2 / (2 * g**2 + a0.sum() * g**3)
    weight0 = 16 * alpha * g
    # channel 1 has g = -0.1 < 0: ReLU(g) = 0, weight 0.
    pp = explain.get("gradcam++", layer="conv").explain(model, x, target=0)
    np.testing.assert_allclose(pp.raw_maps[0], weight0 * a0, rtol=1e-5, atol=1e-7)
    # class 1: channel 1 has g = 0.25 and sum(A_1) = -2 sum(x) < 0, so alpha < 0 here.
    g1 = 0.25
    alpha1 = g1**2 / (2 * g1**2 + a1.sum() * g1**3)
    pp1 = explain.get("gradcam++", layer="conv").explain(model, x, target=1)
    np.testing.assert_allclose(
        pp1.raw_maps[0], np.maximum(16 * alpha1 * g1 * a1, 0), rtol=1e-5, atol=1e-7
    )


def test_named_layer_errors_list_candidates(model, images):
    with pytest.raises(ValueError, match="no layer 'nope'.*conv1, pool, conv2"):
        explain.get("gradcam", layer="nope").explain(model, images)


def test_gradcam_nested_layer_by_path_and_sequential():
    import keras
    from keras import layers

    inner = _cnn(seed=5, input_shape=(16, 16, 3))
    backbone = keras.Model(inner.inputs, inner.get_layer("conv2").output, name="backbone")
    inp = keras.Input(shape=(16, 16, 3))
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D()(backbone(inp)))
    outer = keras.Model(inp, out)
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32)
    auto = explain.get("gradcam").explain(outer, x, target=0)
    assert auto.layer == "backbone"
    by_path = explain.get("gradcam", layer="backbone/conv1").explain(outer, x, target=0)
    by_name = explain.get("gradcam", layer="conv1").explain(outer, x, target=0)
    assert by_path.layer == by_name.layer == "backbone/conv1"
    np.testing.assert_array_equal(by_path.maps, by_name.maps)
    assert by_path.raw_maps.shape == (2, 14, 14)
    # The textbook recipe on the flattened equivalent: conv1 of the inner model, gradient
    # through the rest of the outer model, computed eagerly.
    import tensorflow as tf

    act_model = keras.Model(inner.inputs, inner.get_layer("conv1").output)
    rest_in = keras.Input(shape=(14, 14, 6))
    y = inner.get_layer("pool")(rest_in)
    y = inner.get_layer("conv2")(y)
    rest = keras.Model(rest_in, outer.get_layer("head")(layers.GlobalAveragePooling2D()(y)))
    for i in range(2):
        a = tf.constant(act_model(x[i : i + 1]))
        with tf.GradientTape() as tape:
            tape.watch(a)
            s = rest(a)[0, 0]
        g = tape.gradient(s, a)
        ref = np.maximum((a[0] * tf.reduce_mean(g[0], axis=(0, 1))).numpy().sum(-1), 0)
        np.testing.assert_allclose(by_path.raw_maps[i], ref, rtol=1e-5, atol=1e-6 * ref.max())

    seq = keras.Sequential([keras.Input(shape=(16, 16, 3)), *[inner.layers[i] for i in (1, 2, 3, 4, 5)]])
    e_seq = explain.get("gradcam").explain(seq, x, target=1)
    e_fun = explain.get("gradcam").explain(inner, x, target=1)
    assert e_seq.layer == "conv2"
    np.testing.assert_allclose(e_seq.maps, e_fun.maps, rtol=1e-6, atol=1e-8)


def test_compiled_once_per_model_and_layer(model, images):
    from xai_lab.explain import _graph, gradcam

    explain.get("gradcam", layer="conv2").explain(model, images)
    fn = gradcam.cam_function(model, "conv2", False)
    before = fn.experimental_get_tracing_count()
    for n in (1, 2, 3, 4):
        explain.get("gradcam", layer="conv2").explain(model, images[:n], target=0)
    assert fn.experimental_get_tracing_count() == before
    assert gradcam.cam_function(model, "conv2", False) is fn
    assert _graph.gradient_function(model) is _graph.gradient_function(model)
