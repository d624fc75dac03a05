"""p4 group convolutions (Cohen & Welling 2016): exact equivariance, the paper's formulas,
saving, and the explainers on ``p4cnn`` (equivariant maps, or a clear refusal).

Rotations are counter-clockwise quarter turns of the image axes (``numpy.rot90(x, k,
axes=(1, 2))``); a p4 feature map (N, H, W, C * 4) transforms by :func:`rotate_p4` (rotate,
and shift the rotation axis). "Equivariant" here means a relative error (max |difference| /
max |reference|) of at most 1e-5 in float32. Gradient maps can exceed it in rare cases where
float rounding puts a ReLU input on the other side of zero (see the module docstring of
``xai_lab.models.equivariant``); the tiny models and smooth images here keep clear of that.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xai_lab import explain, models  # noqa: E402
from xai_lab.explain import UnsupportedModelError  # noqa: E402
from xai_lab.models import equivariant as eq  # noqa: E402

TOL = 1e-5
SHAPE = (16, 16, 3)


def _images(n=3, shape=SHAPE, seed=1):
    from scipy.ndimage import gaussian_filter

    x = np.random.default_rng(seed).uniform(0, 1, (n, *shape))
    x = gaussian_filter(x, sigma=(0, 1.0, 1.0, 0))
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


def _randomise_batchnorm(model, seed=0):
    """Non-trivial BatchNorm parameters and moving statistics (inference mode then matters)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, (eq.P4BatchNormalization, keras.layers.BatchNormalization)):
            c = layer.gamma.shape[0]
            layer.set_weights([
                rng.uniform(0.5, 1.5, c).astype("float32"),
                rng.normal(0, 0.2, c).astype("float32"),
                rng.normal(0, 0.2, c).astype("float32"),
                rng.uniform(0.5, 1.5, c).astype("float32"),
            ])


def _tiny(seed=0, **options):
    keras.utils.set_random_seed(seed)
    settings = {"filters": (4, 8), "dense": 16, **options}
    model = models.build("p4cnn", SHAPE, 3, **settings)
    _randomise_batchnorm(model, seed)
    return model


@pytest.fixture(scope="module")
def tiny():
    return _tiny()


# ------------------------------------------------------------------------------- the action
def test_rotate_quarter_turns_are_exact_and_other_angles_turn_the_same_way():
    x = np.arange(2 * 5 * 5 * 1, dtype=np.float32).reshape(2, 5, 5, 1)
    np.testing.assert_array_equal(eq.rotate(x, 90), np.rot90(x, 1, axes=(1, 2)))
    np.testing.assert_array_equal(eq.rotate(x, -90), np.rot90(x, 3, axes=(1, 2)))
    np.testing.assert_array_equal(eq.rotate(x, 360), x)
    # a bright spot above the centre goes to the left under a counter-clockwise turn, for
    # quarter turns (numpy) and interpolated angles (scipy) alike
    img = np.zeros((1, 21, 21), np.uint8)
    img[0, 2, 10] = 255
    for degrees in (90, 89.0, 45):
        out = eq.rotate(img, degrees)
        assert out.dtype == np.uint8 and out.shape == img.shape
        r, c = np.unravel_index(np.argmax(out[0]), out.shape[1:])
        assert c < 10 and r <= 10, (degrees, r, c)
    with pytest.raises(ValueError, match="images must be"):
        eq.rotate(np.zeros((4, 4)), 90)
    with pytest.raises(ValueError, match="finite"):
        eq.rotate(x, float("nan"))


def test_rotate_p4_is_a_group_action():
    f = np.random.default_rng(0).normal(size=(2, 6, 6, 3 * 4)).astype(np.float32)
    np.testing.assert_array_equal(eq.rotate_p4(eq.rotate_p4(f, 1), 1), eq.rotate_p4(f, 2))
    np.testing.assert_array_equal(eq.rotate_p4(f, 4), f)
    np.testing.assert_array_equal(eq.rotate_p4(eq.rotate_p4(f, 3), 1), f)
    # rotation r of the turned map holds rotation r - 1 of the original, rotated
    g = eq.rotate_p4(f, 1).reshape(2, 6, 6, 3, 4)
    np.testing.assert_array_equal(g[..., 1], np.rot90(f.reshape(2, 6, 6, 3, 4)[..., 0], 1, axes=(1, 2)))
    with pytest.raises(ValueError, match="C \\* 4"):
        eq.rotate_p4(np.zeros((1, 4, 4, 6)), 1)


# --------------------------------------------------------------- the layers: the paper's formulas
def _correlate(x, w, padding):
    """Textbook cross-correlation of (N, H, W, Cin) with (k, k, Cin, Cout), stride 1."""
    k = w.shape[0]
    if padding == "same":
        p = k // 2
        x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    n, h, wd, _ = x.shape
    out = np.zeros((n, h - k + 1, wd - k + 1, w.shape[-1]))
    for i in range(k):
        for j in range(k):
            out += np.einsum("nhwc,cd->nhwd", x[:, i:i + h - k + 1, j:j + wd - k + 1], w[i, j])
    return out


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_lifting_convolution_applies_each_filter_in_its_four_rotations(padding):
    x = _images(2, (9, 9, 2))
    layer = eq.P4LiftingConv2D(3, 3, padding=padding, bias_initializer="random_normal")
    out = np.asarray(layer(x)).reshape(2, *(9, 9) if padding == "same" else (7, 7), 3, 4)
    w, b = (np.asarray(v, np.float64) for v in layer.get_weights())
    for r in range(4):
        ref = _correlate(x.astype(np.float64), np.rot90(w, r, axes=(0, 1)), padding) + b
        np.testing.assert_allclose(out[..., r], ref, rtol=1e-5, atol=1e-5)


def test_group_convolution_follows_cohen_and_welling():
    # out_r = sum_s in_s * rot^r(W[:, :, :, (s - r) mod 4, :]) + b  (their eq. 10 for p4)
    f = np.random.default_rng(3).normal(size=(2, 7, 7, 2 * 4)).astype(np.float32)
    layer = eq.P4GroupConv2D(3, 3, bias_initializer="random_normal")
    out = np.asarray(layer(f)).reshape(2, 7, 7, 3, 4)
    w, b = (np.asarray(v, np.float64) for v in layer.get_weights())
    assert w.shape == (3, 3, 2, 4, 3)
    planes = f.astype(np.float64).reshape(2, 7, 7, 2, 4)
    for r in range(4):
        ref = b + sum(
            _correlate(planes[..., s], np.rot90(w[:, :, :, (s - r) % 4, :], r, axes=(0, 1)), "same")
            for s in range(4)
        )
        np.testing.assert_allclose(out[..., r], ref, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ the layers: equivariance
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("kernel_size,padding", [(1, "same"), (3, "same"), (5, "same"), (3, "valid")])
def test_p4_convolutions_are_equivariant(k, kernel_size, padding):
    x = _images(2, (10, 10, 3))
    lift = eq.P4LiftingConv2D(4, kernel_size, padding=padding, bias_initializer="random_normal")
    group = eq.P4GroupConv2D(5, kernel_size, padding=padding, bias_initializer="random_normal")
    f = np.asarray(lift(x))
    assert eq.relative_error(np.asarray(lift(eq.rotate(x, 90 * k))), eq.rotate_p4(f, k)) <= TOL
    g = np.asarray(group(f))
    assert g.shape[-1] == 20
    assert eq.relative_error(np.asarray(group(eq.rotate_p4(f, k))), eq.rotate_p4(g, k)) <= TOL


@pytest.mark.parametrize("training", [False, True])
def test_p4_batchnorm_is_equivariant_and_shares_its_statistics_over_rotations(training):
    f = np.random.default_rng(4).normal(1.0, 2.0, size=(4, 6, 6, 3 * 4)).astype(np.float32)
    bn = eq.P4BatchNormalization(momentum=0.0)
    bn.build(f.shape)
    _randomise = np.random.default_rng(5)
    bn.set_weights([_randomise.uniform(0.5, 1.5, 3).astype("float32"),
                    _randomise.normal(0, 0.2, 3).astype("float32"),
                    np.zeros(3, "float32"), np.ones(3, "float32")])
    turned = np.asarray(bn(eq.rotate_p4(f, 1), training=training))
    out = np.asarray(bn(f, training=training))
    assert eq.relative_error(turned, eq.rotate_p4(out, 1)) <= TOL
    if training:  # momentum 0: the moving statistics are the batch's, per filter over rotations
        planes = f.reshape(4, 6, 6, 3, 4)
        np.testing.assert_allclose(np.asarray(bn.moving_mean), planes.mean(axis=(0, 1, 2, 4)), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(bn.moving_variance), planes.var(axis=(0, 1, 2, 4)), rtol=1e-4)
        gamma, beta = bn.get_weights()[:2]
        normalised = (out.reshape(4, 6, 6, 3, 4) - beta[:, None]) / gamma[:, None]
        np.testing.assert_allclose(normalised.mean(axis=(0, 1, 2, 4)), 0, atol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "max"])
def test_rotation_pooling_is_invariant_to_the_shift(reduction):
    f = np.random.default_rng(6).normal(size=(2, 5, 5, 3 * 4)).astype(np.float32)
    pool = eq.RotationPooling(reduction)
    out = np.asarray(pool(f))
    assert out.shape == (2, 5, 5, 3)
    ref = getattr(f.reshape(2, 5, 5, 3, 4), reduction)(axis=-1)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert eq.relative_error(np.asarray(pool(eq.rotate_p4(f, 1))), eq.rotate(out, 90)) <= TOL


def test_layers_refuse_bad_settings_with_the_reason():
    with pytest.raises(ValueError, match="odd"):
        eq.P4LiftingConv2D(4, 2)
    with pytest.raises(ValueError, match="padding"):
        eq.P4GroupConv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="C \\* 4"):
        eq.P4GroupConv2D(4, 3)(np.zeros((1, 5, 5, 6), np.float32))
    with pytest.raises(ValueError, match="reduction"):
        eq.RotationPooling("sum")
    with pytest.raises(ValueError, match="square"):
        models.build("p4cnn", (16, 12, 1), 2)
    with pytest.raises(ValueError, match="pool"):
        models.build("p4cnn", SHAPE, 2, pool="min")


# ----------------------------------------------------------------------------- the model
def test_p4cnn_is_registered_and_named_like_the_other_families(tiny):
    assert "p4cnn" in models.available()
    names = [layer.name for layer in tiny.layers]
    assert {"last_conv", "last_relu", "rotation_pool"} <= set(names)
    assert isinstance(tiny.get_layer("conv1_1"), eq.P4LiftingConv2D)
    assert isinstance(tiny.get_layer("last_conv"), eq.P4GroupConv2D)
    assert tiny.outputs[0].shape[-1] == 3


@pytest.mark.parametrize("options", [{}, {"pool": "max", "rotation_pool": "max"},
                                     {"convs_per_block": 1, "head": "coral"}])
def test_every_layer_of_p4cnn_is_equivariant_and_the_logits_invariant(options):
    model = _tiny(seed=2, **options)
    x = _images(3)
    kinds = eq.feature_kinds(model)
    assert kinds["conv1_1"] == kinds["last_relu"] == "p4"
    assert kinds["rotation_pool"] == "plane" and kinds["logits"] == "invariant"
    for k in (1, 2, 3):
        errors = eq.equivariance_errors(model, x, k)
        assert set(errors) == {layer.name for layer in model.layers[1:]}
        assert max(errors.values()) <= TOL, {n: e for n, e in errors.items() if e > TOL}
    logits = np.asarray(model(x, training=False))
    for degrees in (90, 180, 270):
        turned = np.asarray(model(eq.rotate(x, degrees), training=False))
        assert eq.relative_error(turned, logits) <= TOL


def test_a_plain_cnn_is_not_equivariant():
    keras.utils.set_random_seed(0)
    cnn = models.build("cnn", SHAPE, 3, filters=(4, 8), dense=16)
    x = _images(3)
    errors = eq.equivariance_errors(cnn, x)
    assert errors["logits"] > 1e-2


def test_training_keeps_equivariance_and_save_load_is_exact(tiny, tmp_path):
    model = _tiny(seed=3)
    x = _images(8, seed=4)
    y = np.arange(8) % 3
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    assert np.isfinite(model.train_on_batch(x, y))
    after = model.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)
               if a.size > 1)  # kernels, BatchNorm scales and moving statistics all moved
    assert max(eq.equivariance_errors(model, x).values()) <= TOL
    path = models.save(model, tmp_path / "p4.keras")
    loaded = models.load(path)  # safe_mode=True
    np.testing.assert_array_equal(np.asarray(loaded.predict_on_batch(x)),
                                  np.asarray(model.predict_on_batch(x)))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert loaded.get_layer("bn1_1").get_config()["momentum"] == model.get_layer("bn1_1").momentum
    assert max(eq.equivariance_errors(loaded, x).values()) <= TOL


def test_equal_parameter_count_needs_half_the_filters():
    cnn = models.build("cnn", (28, 28, 3), 7)
    p4 = models.build("p4cnn", (28, 28, 3), 7)
    assert abs(p4.count_params() / cnn.count_params() - 1) < 0.05


# ---------------------------------------------------------------------------- explained
def _turned_maps(name, model, x, k=1, **settings):
    e = explain.get(name, **settings).explain(model, x)
    t = explain.get(name, **settings).explain(model, eq.rotate(x, 90 * k))
    np.testing.assert_array_equal(t.targets, e.targets)
    assert np.abs(e.maps).max() > 0, f"{name}: all-zero maps test nothing"
    return t.maps, eq.rotate(e.maps, 90 * k)


@pytest.mark.parametrize("name,settings", [
    ("gradcam", {}),
    ("gradcam++", {}),
    ("gradcam", {"layer": "last_relu"}),
    ("saliency", {}),
    ("integrated_gradients", {"steps": 8}),
    ("integrated_gradients", {"steps": 8, "baseline": "blur"}),
    ("lrp", {}),
    ("lrp.epsilon", {}),
    ("lrp.z_plus", {}),
    ("deep_taylor", {}),
    ("deep_taylor.bounded", {}),
])
def test_maps_of_rotated_images_are_rotated_maps(tiny, name, settings):
    x = _images(3)
    for k in (1, 2):
        turned, expected = _turned_maps(name, tiny, x, k, **settings)
        assert eq.relative_error(turned, expected) <= TOL, name


def test_gradcam_explains_the_rotation_pooled_map_which_equals_last_relu_summed_over_rotations(tiny):
    x = _images(3)
    pooled = explain.get("gradcam").explain(tiny, x)
    assert pooled.layer == "rotation_pool"
    assert pooled.raw_maps.shape == (3, 8, 8)
    group = explain.get("gradcam", layer="last_relu").explain(tiny, x)
    assert eq.relative_error(group.maps, pooled.maps) <= TOL


def test_smoothgrad_is_equivariant_only_when_its_noise_turns_with_the_image(tiny):
    # SmoothGrad draws one noise sample for all images, so a rotated image meets unrotated
    # noise: equal maps in expectation, not per draw. With the noise turned too they are equal.
    from xai_lab.explain.gradients import path_gradients

    x = _images(2)
    eps = np.random.default_rng(0).normal(0, 0.1, (4, *SHAPE)).astype(np.float32)
    weights = np.full(4, 0.25, np.float32)
    targets = np.array([0, 1])

    def noisy(images, noise):
        return lambda s: images[s, None] + noise[None]

    xr = eq.rotate(x, 90)
    g = path_gradients(tiny, noisy(x, eps), weights, x, targets, 64)
    g_turned = path_gradients(tiny, noisy(xr, eq.rotate(eps, 90)), weights, xr, targets, 64)
    assert eq.relative_error(g_turned, eq.rotate(g, 90)) <= TOL
    g_fixed = path_gradients(tiny, noisy(xr, eps), weights, xr, targets, 64)
    assert eq.relative_error(g_fixed, eq.rotate(g, 90)) > 1e-3


def _plain_twin(model):
    """The same network with Keras' own Conv2D / BatchNormalization, kernels assembled."""
    layers = keras.layers
    inp = keras.Input(model.inputs[0].shape[1:])
    x = inp
    for layer in model.layers[1:]:
        if isinstance(layer, eq._P4Conv):
            k = np.asarray(layer.assembled_kernel())
            twin = layers.Conv2D(k.shape[-1], k.shape[0], padding=layer.padding, use_bias=layer.use_bias)
            x = twin(x)
            twin.set_weights([k] + ([np.asarray(layer.assembled_bias())] if layer.use_bias else []))
        elif isinstance(layer, eq.P4BatchNormalization):
            twin = layers.BatchNormalization(epsilon=layer.epsilon)
            x = twin(x)
            twin.set_weights([np.repeat(w, 4) for w in layer.get_weights()])
        elif isinstance(layer, eq.RotationPooling):
            twin = layers.Conv2D(layer.channels, 1, use_bias=False)
            x = twin(x)
            twin.set_weights([np.repeat(np.eye(layer.channels, dtype="float32"), 4, axis=0)[None, None] / 4])
        else:
            x = layer.__class__.from_config(layer.get_config())(x)
            x._keras_history[0].set_weights(layer.get_weights())
    return keras.Model(inp, x)


@pytest.mark.parametrize("name", ["lrp", "lrp.z_plus", "deep_taylor", "deep_taylor.bounded"])
def test_lrp_on_p4cnn_equals_lrp_on_the_same_network_of_plain_keras_layers(tiny, name):
    twin = _plain_twin(tiny)
    x = _images(3)
    np.testing.assert_allclose(np.asarray(twin(x)), np.asarray(tiny(x)), rtol=1e-5, atol=1e-6)
    ours = explain.get(name).explain(tiny, x, target=1)
    ref = explain.get(name).explain(twin, x, target=1)
    assert eq.relative_error(ours.maps, ref.maps) <= TOL


def test_lrp_z_plus_on_a_tiny_p4_network_by_hand():
    # 3x3 image -> lifting conv 3x3 valid (1 filter, 4 rotations) -> ReLU -> mean over rotations
    # -> GAP -> Dense [1, -1]. Relevance of logit 0 = p = mean_r a_r; through the mean (z+ on
    # weights 1/4) R_r = a_r / 4; through the lifting conv (z+, x >= 0):
    # R_i = sum_r x_i w+_ri / (sum_j x_j w+_rj) * R_r with w_r = rot90(W, r).
    inp = keras.Input((3, 3, 1))
    h = eq.P4LiftingConv2D(1, 3, padding="valid", use_bias=False, name="lift")(inp)
    h = keras.layers.ReLU()(h)
    h = eq.RotationPooling("mean", name="rotation_pool")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    dense = keras.layers.Dense(2, use_bias=False)
    model = keras.Model(inp, dense(h))
    w = np.array([[0.5, -1.0, 0.2], [0.8, 0.3, -0.4], [-0.6, 1.1, 0.0]], np.float32)
    model.get_layer("lift").set_weights([w[:, :, None, None]])
    dense.set_weights([np.array([[1.0, -1.0]], np.float32)])
    x = np.array([[0.1, 0.9, 0.4], [0.7, 0.2, 0.5], [0.3, 0.8, 0.6]], np.float32)
    e = explain.get("lrp.z_plus").explain(model, x[None, :, :, None], target=0)

    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    a = np.array([max(0.0, float((x64 * np.rot90(w64, r)).sum())) for r in range(4)])
    expected = np.zeros((3, 3))
    for r in range(4):
        wp = np.maximum(np.rot90(w64, r), 0)
        if a[r] > 0:
            expected += x64 * wp / (x64 * wp).sum() * a[r] / 4
    np.testing.assert_allclose(float(np.asarray(model(x[None, :, :, None]))[0, 0]), a.mean(), rtol=1e-6)
    np.testing.assert_allclose(e.maps[0], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(e.maps[0].sum(), a.mean(), rtol=1e-5)  # z+ conserves here


def test_lrp_refuses_max_rotation_pooling_naming_the_layer_and_the_fix():
    model = _tiny(rotation_pool="max")
    with pytest.raises(UnsupportedModelError) as info:
        explain.get("lrp").explain(model, _images(1))
    text = str(info.value)
    assert "'rotation_pool'" in text and "RotationPooling" in text
    assert "not linear" in text and "rotation_pool='mean'" in text
    # the gradient methods still work on it
    turned, expected = _turned_maps("saliency", model, _images(2))
    assert eq.relative_error(turned, expected) <= TOL


def test_every_registered_explainer_works_on_p4cnn_or_refuses_with_a_reason(tiny):
    fast = {"smoothgrad": {"n_samples": 2}, "integrated_gradients": {"steps": 4},
            "occlusion": {"patch_size": 8, "stride": 8},
            "shap": {"algorithm": "gradient", "nsamples": 4},
            "tfexplain.smoothgrad": {"num_samples": 2},
            "tfexplain.integrated_gradients": {"n_steps": 2},
            "tfexplain.occlusion": {"patch_size": 8}}
    x = _images(1)
    refused = {}
    for name in explain.available():
        try:
            e = explain.get(name, **fast.get(name, {})).explain(tiny, x)
        except UnsupportedModelError as exc:
            refused[name] = str(exc)
            continue
        assert e.maps.shape == (1, *SHAPE[:2]) and np.all(np.isfinite(e.maps)), name
    assert set(refused) == {"attention_rollout"}, refused
    assert "vit" in refused["attention_rollout"]
