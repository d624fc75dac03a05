"""LRP / deep Taylor rules: hand-computed cases, a numpy textbook implementation,
conservation, BatchNorm folding, unsupported layers, and the user's model left untouched.

The numpy reference (``_textbook``) writes every linear layer as an explicit matrix ``M``
(a convolution unrolled by loops) and applies the rule formulas of
:mod:`xai_lab.explain.lrp.rules` literally, one output neuron at a time.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xai_lab import explain  # noqa: E402
from xai_lab.explain import UnsupportedModelError  # noqa: E402
from xai_lab.explain.lrp import canonize, forward  # noqa: E402
from xai_lab.explain.lrp.propagate import graph_for  # noqa: E402

L = keras.layers


# ------------------------------------------------------------------ a 2-2-2 Dense network
def _tiny_dense() -> keras.Model:
    """x (0.5, 1) -> Dense W1 = [[1, -1], [2, 1]] + ReLU -> Dense W2 = [[1, 0], [-1, 1]].

    Hidden a = relu(0.5*[1, -1] + 1*[2, 1]) = [2.5, 0.5]; logits = [2.5 - 0.5, 0.5] = [2, 0.5].
    """
    inp = keras.Input((1, 2, 1))
    h = L.Flatten()(inp)
    h = L.Dense(2, activation="relu", use_bias=False, name="d1")(h)
    out = L.Dense(2, use_bias=False, name="d2")(h)
    model = keras.Model(inp, out)
    model.get_layer("d1").set_weights([np.array([[1.0, -1.0], [2.0, 1.0]], np.float32)])
    model.get_layer("d2").set_weights([np.array([[1.0, 0.0], [-1.0, 1.0]], np.float32)])
    return model


X_TINY = np.array([0.5, 1.0], np.float32).reshape(1, 1, 2, 1)

# Relevance of x for target 0 (logit 2), computed by hand:
# z+ (d2): contributions a*w+ = [2.5, 0] -> R_a = [2, 0]; (d1) out0 [0.5, 2]/2.5 * 2 = [.4, 1.6]
# z  (d2): [2.5, -0.5]/2 * 2 -> R_a = [2.5, -0.5]; (d1) out0 [0.5, 2]/2.5*2.5 = [0.5, 2],
#          out1 contributions [-0.5, 1], z = 0.5: [-0.5, 1]/0.5 * -0.5 = [0.5, -1] -> [1, 1]
# eps=0.5 (d2): [2.5, -0.5] * 2/2.5 = [2, -0.4]; (d1) out0 [0.5, 2] * 2/3 = [1/3, 4/3],
#          out1 [-0.5, 1] * -0.4/1 = [0.2, -0.4] -> [0.5333.., 0.9333..]
# alpha=2, beta=1 (d2): 2*[1, 0]*2 - 1*[0, 1]*2 = [4, -2]; (d1) out0 (no negative part,
#          safe_div -> 0): 2*[0.2, 0.8]*4 = [1.6, 6.4]; out1 pos [0, 1], neg [1, 0]:
#          -2*(2*[0, 1] - [1, 0]) = [2, -4] -> [3.6, 2.4]
# z+ then zb on d1 with low=-1, high=1: out0 terms x w - l w+ - h w- = [0.5+1, 2+2] = [1.5, 4]
#          -> 2*[1.5, 4]/5.5 = [0.5454.., 1.4545..]
# z+ then w_square on d1: w^2 of column 0 = [1, 4] -> 2*[0.2, 0.8] = [0.4, 1.6]
# z+ then flat on d1: [1, 1]/2 * 2 = [1, 1]
HAND = {
    "z_plus": ({"rule": "z_plus"}, [0.4, 1.6]),
    "z": ({"rule": "z"}, [1.0, 1.0]),
    "epsilon": ({"rule": "epsilon", "epsilon": 0.5}, [0.5 + 1 / 30, 14 / 15]),
    "alpha_beta": ({"rule": "alpha_beta", "alpha": 2.0, "beta": 1.0}, [3.6, 2.4]),
    "zb": ({"rule": "z_plus", "first_rule": "zb", "low": -1.0, "high": 1.0}, [3 / 5.5, 8 / 5.5]),
    "w_square": ({"rule": "z_plus", "first_rule": "w_square"}, [0.4, 1.6]),
    "flat": ({"rule": "z_plus", "first_rule": "flat"}, [1.0, 1.0]),
}


@pytest.mark.parametrize("case", list(HAND))
def test_tiny_dense_network_by_hand(case):
    settings, expected = HAND[case]
    e = explain.get("lrp", **settings).explain(_tiny_dense(), X_TINY, target=0)
    np.testing.assert_allclose(e.attributions.reshape(-1), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(e.maps.reshape(-1), expected, rtol=1e-6, atol=1e-6)


def test_tiny_dense_network_second_target_deep_taylor():
    # target 1 (logit 0.5): only hidden unit 1 feeds it (w+ = [0, 1]) and it is fed by x_2
    # alone (w+ of column 1 = [0, 1]): all 0.5 goes to x_2
    e = explain.get("deep_taylor").explain(_tiny_dense(), X_TINY, target=1)
    np.testing.assert_allclose(e.attributions.reshape(-1), [0.0, 0.5], atol=1e-7)


# -------------------------------------------------------------- a numpy textbook reference
def _conv_matrix(kernel: np.ndarray, in_shape, strides, padding) -> tuple[np.ndarray, tuple]:
    """The convolution as an explicit (in_dim, out_dim) matrix, by loops."""
    h, w, c = in_shape
    kh, kw, _, f = kernel.shape
    sh, sw = strides
    if padding == "valid":
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        top = left = 0
    else:
        oh, ow = -(-h // sh), -(-w // sw)
        ph = max((oh - 1) * sh + kh - h, 0)
        pw = max((ow - 1) * sw + kw - w, 0)
        top, left = ph // 2, pw // 2
    m = np.zeros((h * w * c, oh * ow * f))
    for oy in range(oh):
        for ox in range(ow):
            for dy in range(kh):
                for dx in range(kw):
                    y, x = oy * sh + dy - top, ox * sw + dx - left
                    if 0 <= y < h and 0 <= x < w:
                        for ci in range(c):
                            for fo in range(f):
                                m[(y * w + x) * c + ci, (oy * ow + ox) * f + fo] = kernel[dy, dx, ci, fo]
    return m, (oh, ow, f)


def _sd(a, b):
    return a / (b + 1e-7 * (b == 0))


def _rule(name, x, m, b, r, **kw):
    """R_i for one linear layer x (in,), matrix m (in, out), bias b (out,), relevance r (out,)."""
    out = np.zeros_like(x)
    for j in range(m.shape[1]):
        if r[j] == 0:
            continue
        col = m[:, j]
        if name in ("z", "epsilon"):
            c = x * col
            z = c.sum() + b[j]
            if name == "epsilon":
                z = z + kw["epsilon"] * (1 if z >= 0 else -1)
                out += c / z * r[j]
            else:
                out += _sd(c, z) * r[j]
        elif name in ("z_plus", "alpha_beta"):
            alpha, beta = kw.get("alpha", 1.0), kw.get("beta", 0.0)
            p = np.maximum(x, 0) * np.maximum(col, 0) + np.minimum(x, 0) * np.minimum(col, 0)
            n = np.maximum(x, 0) * np.minimum(col, 0) + np.minimum(x, 0) * np.maximum(col, 0)
            out += (alpha * _sd(p, p.sum()) - beta * _sd(n, n.sum())) * r[j]
        elif name == "zb":
            lo, hi = kw["low"], kw["high"]
            c = x * col - lo * np.maximum(col, 0) - hi * np.minimum(col, 0)
            out += _sd(c, c.sum()) * r[j]
        elif name in ("w_square", "flat"):
            c = col**2 if name == "w_square" else (col != 0).astype(float)
            out += _sd(c, c.sum()) * r[j]
    return out


def _textbook(layers_spec, x, target, first_rule, rule, **kw):
    """layers_spec: list of ("conv", kernel, bias, strides, padding, relu) / ("maxpool", k) /
    ("flatten",) / ("dense", kernel, bias, relu) on one image x (H, W, C)."""
    acts, mats, shape, a = [], [], x.shape, x.astype(np.float64)
    for spec in layers_spec:
        if spec[0] == "conv":
            _, k, b, strides, padding, relu = spec
            m, oshape = _conv_matrix(k, shape, strides, padding)
            bias = np.tile(b, oshape[0] * oshape[1])
        elif spec[0] == "dense":
            _, m, b, relu = spec
            bias, oshape = b, (m.shape[1],)
        elif spec[0] == "maxpool":
            k = spec[1]
            acts.append(("maxpool", a, shape, k))
            h, w, c = shape
            a = a.reshape(h // k, k, w // k, k, c).max(axis=(1, 3))
            shape = a.shape
            continue
        else:  # flatten
            acts.append(("flatten", a, shape))
            a = a.reshape(-1)
            shape = a.shape
            continue
        flat = a.reshape(-1)
        z = flat @ m + bias
        acts.append(("linear", flat, shape, m, bias, relu, z))
        a = (np.maximum(z, 0) if relu else z).reshape(oshape)
        shape = oshape
        mats.append(m)
    logits = a.reshape(-1)
    r = np.zeros_like(logits)
    r[target] = logits[target]
    first_linear = next(i for i, item in enumerate(acts) if item[0] == "linear")
    for idx in range(len(acts) - 1, -1, -1):
        item = acts[idx]
        if item[0] == "linear":
            _, flat, in_shape, m, bias, relu, z = item
            r = r.reshape(-1) * ((z > 0) if relu else 1.0)
            name = first_rule if (idx == first_linear and first_rule) else rule
            r = _rule(name, flat, m, bias, r, **kw).reshape(in_shape)
        elif item[0] == "maxpool":
            _, a_in, in_shape, k = item
            h, w, c = in_shape
            r_in = np.zeros(in_shape)
            r = r.reshape(h // k, w // k, c)
            for y in range(h // k):
                for xx in range(w // k):
                    for ch in range(c):
                        win = a_in[y * k:(y + 1) * k, xx * k:(xx + 1) * k, ch]
                        dy, dx = np.unravel_index(np.argmax(win), win.shape)
                        r_in[y * k + dy, xx * k + dx, ch] = r[y, xx, ch]
            r = r_in
        else:
            r = r.reshape(item[2])
    return r, logits


@pytest.fixture(scope="module")
def small_convnet():
    rng = np.random.default_rng(3)
    inp = keras.Input((6, 6, 2))
    h = L.Conv2D(3, 3, padding="same", activation="relu", name="c1")(inp)
    h = L.Conv2D(4, 3, strides=2, padding="valid", activation="relu", name="c2")(h)
    h = L.MaxPooling2D(2, name="p")(h)
    h = L.Flatten(name="f")(h)
    out = L.Dense(3, name="d")(h)
    model = keras.Model(inp, out)
    spec = []
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        k = rng.normal(0, 0.6, ws[0].shape).astype(np.float32)
        b = rng.normal(0, 0.1, ws[1].shape).astype(np.float32)
        layer.set_weights([k, b])
    c1, c2, d = (model.get_layer(n).get_weights() for n in ("c1", "c2", "d"))
    spec = [
        ("conv", c1[0], c1[1], (1, 1), "same", True),
        ("conv", c2[0], c2[1], (2, 2), "valid", True),
        ("maxpool", 2),
        ("flatten",),
        ("dense", d[0].astype(np.float64), d[1], False),
    ]
    x = rng.random((2, 6, 6, 2)).astype(np.float32)
    return model, spec, x


CONV_CASES = {
    "z": ({"rule": "z"}, {}),
    "epsilon": ({"rule": "epsilon", "epsilon": 0.05}, {"epsilon": 0.05}),
    "z_plus": ({"rule": "z_plus"}, {}),
    "alpha_beta": ({"rule": "alpha_beta", "alpha": 2.0, "beta": 1.0}, {"alpha": 2.0, "beta": 1.0}),
    "zb+z_plus": ({"rule": "z_plus", "first_rule": "zb", "low": [0.0, -0.2], "high": [1.0, 1.5]},
                  {"low": np.tile([0.0, -0.2], 36), "high": np.tile([1.0, 1.5], 36)}),
    "w_square+epsilon": ({"rule": "epsilon", "epsilon": 0.05, "first_rule": "w_square"},
                         {"epsilon": 0.05}),
    "flat+z": ({"rule": "z", "first_rule": "flat"}, {}),
}


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_small_convnet_equals_numpy_textbook(small_convnet, case):
    model, spec, x = small_convnet
    settings, kw = CONV_CASES[case]
    rule = settings["rule"]
    first = settings.get("first_rule")
    targets = np.array([0, 2])
    e = explain.get("lrp", **settings).explain(model, x, target=targets)
    for n in range(len(x)):
        expected, logits = _textbook(spec, x[n], targets[n], first, rule, **kw)
        np.testing.assert_allclose(logits, np.asarray(model(x[n : n + 1]))[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(e.attributions[n], expected, rtol=1e-4,
                                   atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("case", ["z_plus", "alpha_beta", "z"])
def test_signed_inputs_equal_numpy_textbook(small_convnet, case):
    """Inputs with negative values (a standardised image) take the rules' x^- branch."""
    model, spec, x = small_convnet
    xs = (x - 0.5).astype(np.float32)
    settings, kw = CONV_CASES[case]
    targets = np.array([1, 0])
    relevance, logits = explain.get("lrp", **settings).analyzer(model)(xs, targets)
    for n in range(len(xs)):
        expected, expected_logits = _textbook(spec, xs[n], targets[n], None, settings["rule"], **kw)
        np.testing.assert_allclose(logits[n], expected_logits, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(relevance[n], expected, rtol=1e-4,
                                   atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize(
    "strides,padding,kernel,dilation",
    [(1, "same", 3, 1), (1, "same", 5, 1), (2, "same", 3, 1), (1, "valid", 3, 1),
     (2, "valid", 2, 1), (1, "same", 3, 2), (1, "valid", 3, 2), (1, "same", 2, 1),
     (1, "same", (3, 2), 1), (2, "same", 4, 1)],
)
def test_conv_transpose_equals_the_input_gradient(strides, padding, kernel, dilation):
    """linear_vjp (a flipped-kernel convolution or conv2d_transpose) is the layer's VJP."""
    import tensorflow as tf

    from xai_lab.explain.lrp.rules import apply_linear, linear_vjp

    inp = keras.Input((9, 8, 3))
    model = keras.Model(inp, L.Conv2D(4, kernel, strides=strides, padding=padding,
                                      dilation_rate=dilation, name="c")(inp))
    (op,) = [o for o in canonize(model).ops if o.kind == "linear"]
    rng = np.random.default_rng(7)
    x = tf.constant(rng.normal(size=(2, 9, 8, 3)).astype(np.float32))
    w = rng.normal(size=model.get_layer("c").kernel.shape).astype(np.float32)
    s = rng.normal(size=apply_linear(op, x, tf.constant(w)).shape).astype(np.float32)
    # the transpose by loops: output (oy, ox) reads input (oy*st + ky*d - top, ox*st + kx*d - left)
    kh, kw = w.shape[:2]
    pad = []
    for size, out, k in ((9, s.shape[1], kh), (8, s.shape[2], kw)):
        total = max((out - 1) * strides + dilation * (k - 1) + 1 - size, 0) if padding == "same" else 0
        pad.append(total // 2)
    expected = np.zeros(x.shape, np.float64)
    for oy in range(s.shape[1]):
        for ox in range(s.shape[2]):
            for ky in range(kh):
                for kx in range(kw):
                    iy, ix = oy * strides + ky * dilation - pad[0], ox * strides + kx * dilation - pad[1]
                    if 0 <= iy < 9 and 0 <= ix < 8:
                        expected[:, iy, ix, :] += s[:, oy, ox, :] @ w[ky, kx].T
    got = linear_vjp(op, x, tf.constant(w), tf.constant(s)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_package_cnn_folds_every_batchnorm_and_feeds_rules_non_negative_inputs():
    """The zoo's cnn (Conv -> BN -> ReLU) canonizes to convolutions whose inputs are ReLU
    outputs (all but the first), the domain of the deep Taylor z+ rule."""
    from xai_lab import models
    from xai_lab.explain.lrp.propagate import _nonneg_tensors

    model = models.build("cnn", (16, 16, 1), 3, filters=(4, 8))
    graph = canonize(model)
    linear = [op for op in graph.ops if op.kind == "linear"]
    assert all(op.linear in ("conv", "dense") for op in linear), "a BatchNorm was not folded"
    nonneg = _nonneg_tensors(graph)
    assert [op.inputs[0] in nonneg for op in linear] == [False] + [True] * (len(linear) - 1)


def test_lrp_predictions_come_from_its_own_forward_pass(small_convnet):
    """LRP returns the model's prediction without a second forward pass (``predicts``)."""
    from xai_lab import models

    model, _, x = small_convnet
    e = explain.get("deep_taylor").explain(model, x)
    assert type(explain.get("deep_taylor")).predicts
    np.testing.assert_allclose(e.probabilities, models.predict_proba(model, x), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(e.targets, np.asarray(model(x)).argmax(1))
    with pytest.raises(ValueError, match="outside"):
        explain.get("deep_taylor").explain(model, x, target=3)


# ------------------------------------------------------------------------- conservation
@pytest.fixture(scope="module")
def bias_free_nets():
    """Bias-free ReLU nets (one plain CNN, one residual) with weights that keep logits > 0."""
    rng = np.random.default_rng(7)
    inp = keras.Input((8, 8, 2))
    h = L.Conv2D(4, 3, padding="same", activation="relu", use_bias=False)(inp)
    h = L.MaxPooling2D(2)(h)
    h = L.Conv2D(6, 3, padding="same", use_bias=False)(h)
    h = L.ReLU()(h)
    h = L.AveragePooling2D(2)(h)
    h = L.Flatten()(h)
    h = L.Dense(8, activation="relu", use_bias=False)(h)
    out = L.Dense(3, use_bias=False)(h)
    plain = keras.Model(inp, out)

    inp2 = keras.Input((8, 8, 1))
    s = L.Conv2D(4, 3, padding="same", activation="relu", use_bias=False)(inp2)
    y = L.Conv2D(4, 3, padding="same", activation="relu", use_bias=False)(s)
    y = L.Conv2D(4, 3, padding="same", use_bias=False)(y)
    y = L.ReLU()(L.Add()([y, s]))
    y = L.GlobalMaxPooling2D()(L.Conv2D(5, 1, activation="relu", use_bias=False)(y))
    out2 = L.Dense(2, use_bias=False)(y)
    residual = keras.Model(inp2, out2)
    for m in (plain, residual):
        for layer in m.layers:
            ws = layer.get_weights()
            if ws:
                layer.set_weights([np.abs(rng.normal(0, 0.5, ws[0].shape)).astype(np.float32)
                                   * rng.choice([1.0, 1.0, -1.0], ws[0].shape)])
    x1 = rng.random((3, 8, 8, 2)).astype(np.float32)
    x2 = rng.random((3, 8, 8, 1)).astype(np.float32)
    return [(plain, x1), (residual, x2)]


# Property tested: for each image, sum_i R_i equals the explained logit within 1e-5 relative.
# It holds exactly for these rules on a bias-free ReLU network whenever no denominator of a
# neuron carrying relevance is zero (z: z_j = a_j != 0 where R_j != 0; z+/zb:
# a positive activation needs a positive contribution, x >= 0 here). Epsilon with a tiny
# eps is within 1e-5 too. deep_taylor starts from max(logit, 0): checked on positive logits.
# Average pooling must use the z rule (avgpool="z", the LRP default); the deep_taylor presets
# default to iNNvestigate's gradient rule there, see the two tests after this one.
CONSERVING = {
    "lrp z": ("lrp", {"rule": "z"}),
    "lrp epsilon 1e-9": ("lrp", {"rule": "epsilon", "epsilon": 1e-9}),
    "lrp.z_plus": ("lrp.z_plus", {}),
    "deep_taylor": ("deep_taylor", {"avgpool": "z"}),
    "deep_taylor.bounded": ("deep_taylor.bounded", {"avgpool": "z"}),
    "w_square first": ("lrp", {"rule": "z_plus", "first_rule": "w_square"}),
}


@pytest.mark.parametrize("method", list(CONSERVING))
def test_conservation_on_bias_free_relu_nets(bias_free_nets, method):
    name, settings = CONSERVING[method]
    for model, x in bias_free_nets:
        logits = np.asarray(model(x))
        target = logits.argmax(1)
        assert np.all(logits[np.arange(len(x)), target] > 0)
        e = explain.get(name, **settings).explain(model, x, target=target)
        sums = e.attributions.reshape(len(x), -1).astype(np.float64).sum(1)
        np.testing.assert_allclose(sums, logits[np.arange(len(x)), target], rtol=1e-5)
        np.testing.assert_allclose(e.maps.reshape(len(x), -1).sum(1), sums, rtol=1e-5)


@pytest.mark.parametrize("name", ["deep_taylor", "deep_taylor.bounded"])
def test_deep_taylor_presets_conserve_without_average_pooling(bias_free_nets, name):
    model, x = bias_free_nets[1]  # residual net: max pooling only
    logits = np.asarray(model(x))
    target = logits.argmax(1)
    e = explain.get(name).explain(model, x, target=target)
    np.testing.assert_allclose(e.attributions.reshape(len(x), -1).sum(1),
                               logits[np.arange(len(x)), target], rtol=1e-5)


def test_gradient_average_pooling_drops_relevance_on_dead_units(bias_free_nets):
    """iNNvestigate's deep Taylor spreads R evenly over an average-pooling window; the share
    landing on a zero ReLU output is dropped, so the sum falls short of the logit."""
    model, x = bias_free_nets[0]
    logits = np.asarray(model(x))
    target = logits.argmax(1)
    e = explain.get("deep_taylor").explain(model, x, target=target)
    sums = e.attributions.reshape(len(x), -1).sum(1)
    assert np.all(sums < logits[np.arange(len(x)), target] * (1 - 1e-3))
    assert np.all(sums > 0)


def test_negative_logit_by_hand():
    """d2 = [[1, -1], [-1, 0]]: logits [2, -2.5]; target 1 has a negative logit."""
    model = _tiny_dense()
    model.get_layer("d2").set_weights([np.array([[1.0, -1.0], [-1.0, 0.0]], np.float32)])
    # deep Taylor explains max(logit, 0) = 0
    dt = explain.get("deep_taylor").explain(model, X_TINY, target=1)
    np.testing.assert_array_equal(dt.attributions, 0.0)
    # z rule: d2 out1 contributions [-2.5, 0], z = -2.5 -> R_a = [-2.5, 0];
    # d1 out0 [0.5, 2] / 2.5 * -2.5 = [-0.5, -2] (sums to the logit -2.5)
    z = explain.get("lrp", rule="z").explain(model, X_TINY, target=1)
    np.testing.assert_allclose(z.attributions.reshape(-1), [-0.5, -2.0], rtol=1e-6)
    # z+ : no positive weight into logit 1, so nothing is propagated (safe division -> 0)
    zp = explain.get("lrp.z_plus").explain(model, X_TINY, target=1)
    np.testing.assert_array_equal(zp.attributions, 0.0)


# ------------------------------------------------------------------------ BatchNorm folding
def _bn_model(seed=0):
    rng = np.random.default_rng(seed)
    inp = keras.Input((6, 6, 3))
    h = L.BatchNormalization(name="bn0")(inp)  # at the start: standalone affine
    h = L.Conv2D(4, 3, padding="same", name="c1")(h)
    h = L.BatchNormalization(name="bn1")(h)  # folded into c1
    h = L.ReLU()(h)
    h = L.Conv2D(4, 3, padding="same", activation="relu", name="c2")(h)
    h = L.BatchNormalization(name="bn2")(h)  # after a ReLU: standalone
    h = L.Add()([h, L.Conv2D(4, 1, name="c3")(h)])
    h = L.BatchNormalization(name="bn3")(h)  # after Add: standalone
    h = L.ReLU()(h)
    h = L.Flatten()(h)
    h = L.Dense(5, name="d1")(h)
    h = L.BatchNormalization(name="bn4")(h)  # folded into d1
    h = L.ReLU()(h)
    out = L.Dense(2, name="logits")(h)
    model = keras.Model(inp, out)
    for layer in model.layers:
        ws = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":
            c = ws[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                               rng.normal(0, 0.2, c), rng.uniform(0.5, 2, c)])
        elif ws:
            layer.set_weights([rng.normal(0, 0.4, w.shape) for w in ws])
    return model


def test_batchnorm_folding_keeps_logits():
    model = _bn_model()
    graph = canonize(model)
    folded = {op.name: op.folded for op in graph.ops if op.folded}
    assert folded == {"c1": ("bn1",), "d1": ("bn4",)}
    standalone = {op.name for op in graph.ops if op.linear == "scale"}
    assert standalone == {"bn0", "bn2", "bn3"}
    x = np.random.default_rng(1).random((4, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(forward(graph, x)), np.asarray(model(x)),
                               rtol=1e-5, atol=1e-5)


def test_folded_batchnorm_explains_like_hand_folded_weights():
    """deep Taylor of Conv->BN equals deep Taylor of one Conv with W*s, b*s+t (numpy)."""
    rng = np.random.default_rng(2)
    inp = keras.Input((5, 5, 2))
    h = L.Conv2D(3, 3, name="c")(inp)
    h = L.BatchNormalization(name="bn")(h)
    h = L.ReLU()(h)
    h = L.Flatten()(h)
    out = L.Dense(2, name="d")(h)
    model = keras.Model(inp, out)
    k, b = rng.normal(0, 0.5, (3, 3, 2, 3)), rng.normal(0, 0.1, 3)
    gamma, beta = np.array([0.7, -0.4, 1.3]), rng.normal(0, 0.2, 3)
    mean, var = rng.normal(0, 0.2, 3), rng.uniform(0.5, 2, 3)
    dw = [rng.normal(0, 0.5, (27, 2)), np.full(2, 0.5)]
    model.get_layer("c").set_weights([k, b])
    model.get_layer("bn").set_weights([gamma, beta, mean, var])
    model.get_layer("d").set_weights(dw)
    s = gamma / np.sqrt(var + model.get_layer("bn").epsilon)
    t = beta - mean * s
    inp2 = keras.Input((5, 5, 2))
    h2 = L.Conv2D(3, 3, activation="relu", name="c")(inp2)
    out2 = L.Dense(2, name="d")(L.Flatten()(h2))
    ref = keras.Model(inp2, out2)
    ref.get_layer("c").set_weights([k * s, b * s + t])
    ref.get_layer("d").set_weights(dw)
    x = rng.random((3, 5, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(ref(x)), rtol=1e-5, atol=1e-5)
    for method in ("deep_taylor", "lrp.epsilon"):
        a = explain.get(method).explain(model, x, target=0).attributions
        b_ = explain.get(method).explain(ref, x, target=0).attributions
        np.testing.assert_allclose(a, b_, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------- model support, errors
@pytest.mark.parametrize(
    "make_layer, cls",
    [
        (lambda: L.DepthwiseConv2D(3, padding="same", name="odd"), "DepthwiseConv2D"),
        (lambda: L.ReLU(6.0, name="odd"), "ReLU"),
        (lambda: L.LeakyReLU(name="odd"), "LeakyReLU"),
        (lambda: L.Conv2D(2, 3, padding="same", activation="tanh", name="odd"), "Conv2D"),
        (lambda: L.UpSampling2D(name="odd"), "UpSampling2D"),
    ],
)
def test_unsupported_layers_are_named(make_layer, cls):
    inp = keras.Input((8, 8, 2))
    h = make_layer()(inp)
    out = L.Dense(2)(L.Flatten()(h))
    model = keras.Model(inp, out)
    for name in ("deep_taylor", "lrp"):
        with pytest.raises(UnsupportedModelError, match=rf"'odd' of class {cls}.*Supported layers"):
            explain.get(name).explain(model, np.zeros((1, 8, 8, 2), np.float32))


def test_mobilenet_backbone_is_refused_with_its_layer():
    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    inp = keras.Input((32, 32, 3))
    out = L.Dense(2)(L.GlobalAveragePooling2D()(backbone(inp)))
    model = keras.Model(inp, out)
    with pytest.raises(UnsupportedModelError, match=r"of class (ReLU|DepthwiseConv2D)"):
        explain.get("deep_taylor").explain(model, np.zeros((1, 32, 32, 3), np.float32))


def test_softmax_is_stripped_sequential_and_nested_models_work():
    rng = np.random.default_rng(4)
    seq = keras.Sequential([
        keras.Input((6, 6, 1)),
        L.Conv2D(3, 3, activation="relu"),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ])
    for layer in seq.layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    inp = keras.Input((6, 6, 1))
    h = seq.layers[0](inp)
    linear = keras.Model(inp, L.Dense(3, name="lin")(seq.layers[1](h)))
    linear.get_layer("lin").set_weights(seq.layers[2].get_weights())
    inp2 = keras.Input((6, 6, 1))
    nested = keras.Model(inp2, L.Softmax()(linear(inp2)))
    x = rng.random((2, 6, 6, 1)).astype(np.float32)
    ref = explain.get("lrp.z_plus").explain(linear, x, target=1).attributions
    for model in (seq, nested):
        assert graph_for(model).stripped_softmax
        got = explain.get("lrp.z_plus").explain(model, x, target=1).attributions
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


def test_never_modifies_the_model_and_compiles_once(small_convnet):
    model, _, x = small_convnet
    before_w = [w.copy() for w in model.get_weights()]
    before_cfg = model.get_config()
    before_layers = [(type(la).__name__, getattr(la, "activation", None)) for la in model.layers]
    explainer = explain.get("deep_taylor.bounded")
    for n in (1, 2, 1):
        explainer.explain(model, x[:n])
    for a, b in zip(before_w, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.get_config() == before_cfg
    assert [(type(la).__name__, getattr(la, "activation", None)) for la in model.layers] == before_layers
    assert explainer.analyzer(model).traces == 1


def test_batch_equals_single_images(small_convnet):
    model, _, x = small_convnet
    explainer = explain.get("deep_taylor")
    both = explainer.explain(model, x, target=[1, 2]).attributions
    for n, t in enumerate([1, 2]):
        one = explainer.explain(model, x[n : n + 1], target=t).attributions[0]
        np.testing.assert_allclose(both[n], one, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("shape", "largest", "chunk"), [
    ((64, 64, 3), 64 * 64 * 32, 32),  # 16 MiB / (4 B * 131072) = 32 images
    ((28, 28, 1), 28 * 28 * 32, 64),  # 167 would fit: batch_size caps it
])
def test_chunk_size_keeps_the_largest_tensor_within_the_working_set(shape, largest, chunk):
    from xai_lab import models
    from xai_lab.models import working_set

    assert working_set.WORKING_SET_BYTES == 16 * 2**20
    model = models.build("cnn", shape, 2)
    analyzer = explain.get("deep_taylor").analyzer(model)
    assert analyzer.graph.largest_tensor(shape) == largest  # conv1_1's output
    assert analyzer.chunk_size(shape, batch_size=64) == chunk
    assert analyzer.chunk_size(shape, batch_size=5) == 5


def test_open_image_sizes_count_as_the_larger_side():
    inp = keras.Input((None, None, 1))
    h = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    h = L.GlobalAveragePooling2D()(h)
    model = keras.Model(inp, L.Dense(2)(h))
    analyzer = explain.get("deep_taylor").analyzer(model)
    assert analyzer.graph.largest_tensor((50, 40, 1)) == 50 * 50 * 8  # an upper bound of 50*40*8
    assert analyzer.chunk_size((4096, 4096, 1), batch_size=64) == 1  # never fewer than one


def test_a_batch_split_by_the_working_set_equals_one_call(small_convnet, monkeypatch):
    from xai_lab.models import working_set

    model, _, x = small_convnet
    x = np.concatenate([x, x[::-1], x])  # 6 images
    explainer = explain.get("deep_taylor")
    whole = explainer.explain(model, x)
    analyzer = explainer.analyzer(model)
    calls = []
    fn = analyzer._fn
    monkeypatch.setattr(analyzer, "_fn", lambda *a: calls.append(len(a[0])) or fn(*a))
    per_image = 4 * analyzer.graph.largest_tensor(x.shape[1:])  # 6*6*3 floats
    monkeypatch.setattr(working_set, "WORKING_SET_BYTES", 4 * per_image)
    split = explainer.explain(model, x)
    assert calls == [4, 2]
    np.testing.assert_allclose(split.attributions, whole.attributions, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(split.targets, whole.targets)


def test_invalid_settings():
    with pytest.raises(ValueError, match="not an LRP rule"):
        explain.get("lrp", rule="gamma")
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        explain.get("lrp", rule="alpha_beta", alpha=2.0, beta=0.5)
    with pytest.raises(ValueError, match="low <= high"):
        explain.get("lrp", first_rule="zb", low=1.0, high=0.0)


@pytest.mark.parametrize("name", ["cnn", "resnet"])
def test_package_models(name):
    from xai_lab import models

    model = models.build(name, (16, 16, 1), 3, filters=(4, 8))
    x = np.random.default_rng(5).random((2, 16, 16, 1)).astype(np.float32)
    graph = canonize(model)
    np.testing.assert_allclose(np.asarray(forward(graph, x)), np.asarray(model(x)),
                               rtol=1e-5, atol=1e-5)
    e = explain.get("deep_taylor").explain(model, x)
    assert e.attributions.shape == x.shape and e.maps.shape == (2, 16, 16)
    assert np.all(np.isfinite(e.attributions))


@pytest.mark.parametrize("name", ["cnn", "resnet"])
@pytest.mark.parametrize("preset,settings", [
    ("deep_taylor", {}), ("deep_taylor.bounded", {}), ("lrp.epsilon", {}), ("lrp.z_plus", {}),
    ("lrp", {"rule": "z_plus", "avgpool": "z", "add": "gradient"}),
    ("lrp", {"rule": "z_plus", "first_rule": "w_square", "avgpool": "z"}),
    ("lrp", {"rule": "w_square"}), ("lrp", {"rule": "epsilon", "avgpool": "gradient"}),
])
def test_skipped_relu_masks_change_nothing(name, preset, settings):
    """A ReLU's mask is left out only where the relevance reaching it is already 0 wherever the
    ReLU's output is 0; propagating with every mask applied gives the same relevance."""
    import tensorflow as tf

    from xai_lab import models
    from xai_lab.explain.lrp.propagate import _zero_where_zero, relevance

    keras.utils.set_random_seed(3)
    model = models.build(name, (16, 16, 1), 3, filters=(4, 8))
    x = tf.constant(np.random.default_rng(5).random((3, 16, 16, 1)).astype(np.float32))
    analyzer = explain.get(preset, **settings).analyzer(model)
    graph, rules = analyzer.graph, analyzer.rules
    targets = tf.constant([0, 1, -1], tf.int32)
    fast, _ = relevance(graph, rules, x, targets)
    full, _ = relevance(graph, rules, x, targets, skip_redundant_masks=False)
    np.testing.assert_allclose(fast.numpy(), full.numpy(), rtol=1e-6, atol=0)
    skipped = {op.name for op in graph.ops
               if op.kind == "relu" and op.output in _zero_where_zero(graph, rules)}
    relus = {op.name for op in graph.ops if op.kind == "relu"}
    if name == "cnn" and preset.startswith("deep_taylor"):
        # global average pooling with the gradient rule spreads relevance over dead units too
        assert relus - skipped == {"last_relu"}
    if name == "cnn" and preset == "lrp.z_plus":
        assert skipped == relus


def _op_counts(graph_def: Any, function: str | None = None) -> Counter:
    nodes = graph_def.node if function is None else next(
        f.node_def for f in graph_def.library.function if f.signature.name == function)
    return Counter(node.op for node in nodes)


def test_deep_taylor_runs_three_convolutions_per_layer():
    """The z+ rule needs, per Conv2D / Dense layer, the forward product, the product with the
    positive weights and one transposed product; deep Taylor's compiled pass (on a non-negative
    input, the branch images take) runs exactly those and no more."""
    from xai_lab import models

    model = models.build("cnn", (16, 16, 1), 3, filters=(4, 8))
    analyzer = explain.get("deep_taylor").analyzer(model)
    graph_def = analyzer._fn.get_concrete_function().graph.as_graph_def()
    counts = _op_counts(graph_def)
    (branch,) = [n for n in graph_def.node if n.op in ("If", "StatelessIf")]  # the sign check
    counts += _op_counts(graph_def, branch.attr["then_branch"].func.name)
    n_conv = sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)
    n_dense = sum(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    assert counts["Conv2D"] + counts["Conv2DBackpropInput"] == 3 * n_conv
    assert counts["MatMul"] == 3 * n_dense


def test_deep_taylor_reads_each_weight_once():
    """The forward and the backward pass share one read of every variable (and one BatchNorm
    folding): the compiled pass holds one ReadVariableOp per weight of the model."""
    from xai_lab import models

    model = models.build("cnn", (16, 16, 1), 3, filters=(4, 8))
    analyzer = explain.get("deep_taylor").analyzer(model)
    graph_def = analyzer._fn.get_concrete_function().graph.as_graph_def()
    assert _op_counts(graph_def)["ReadVariableOp"] == len(model.weights)


@pytest.mark.parametrize("layer, shape", [
    (L.MaxPooling2D(2), (2, 8, 8, 3)),
    (L.MaxPooling2D(3, strides=2, padding="same"), (2, 7, 9, 3)),
    (L.MaxPooling2D((2, 3), strides=1), (2, 6, 7, 2)),
    (L.AveragePooling2D(2), (2, 8, 8, 3)),
    (L.AveragePooling2D(3, strides=2, padding="same"), (2, 7, 9, 3)),
    (L.GlobalAveragePooling2D(), (2, 5, 6, 4)),
    (L.GlobalAveragePooling2D(keepdims=True), (2, 5, 6, 4)),
    (L.GlobalMaxPooling2D(), (2, 5, 6, 4)),
    (L.Flatten(), (2, 3, 4, 2)),
], ids=lambda v: v.name if hasattr(v, "name") else str(v))
def test_pooling_and_reshapes_pass_relevance_along_their_gradient(layer, shape):
    """Relevance through pooling and reshapes is the layer's gradient (a VJP), computed with
    TensorFlow's gradient kernels called directly (no tape): it must equal the tape's gradient,
    ties in a max-pooling window included."""
    import tensorflow as tf

    from xai_lab.explain.lrp.propagate import _op_forward, _vjp

    rng = np.random.default_rng(3)
    inp = keras.Input(shape[1:])
    (op,) = canonize(keras.Model(inp, layer(inp))).ops
    x = tf.constant(rng.normal(size=shape).astype(np.float32))
    x = tf.round(x * 2) / 2  # ties inside pooling windows
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = _op_forward(op, [x], {})
    r = tf.constant(rng.normal(size=y.shape).astype(np.float32))
    expected = tape.gradient(y, x, output_gradients=r).numpy()
    np.testing.assert_array_equal(_vjp(op, x, y, r).numpy(), expected)

    def loose(t: Any) -> Any:  # batch and image sizes unknown (keras.Input((None, None, C)))
        return tf.TensorSpec([None] * (len(t.shape) - 1) + [t.shape[-1]])

    unknown = tf.function(lambda *t: _vjp(op, *t), input_signature=[loose(x), loose(y), loose(r)])
    np.testing.assert_array_equal(unknown(x, y, r).numpy(), expected)
