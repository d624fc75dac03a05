"""Deletion / insertion curves on a linear keras model with known weights."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab.evaluate import Deletion, Insertion
from xai_lab.evaluate.faithfulness import baseline_images, pixel_order
from xai_lab.explain import Explanation

H = W = 6


@pytest.fixture(scope="module")
def linear():
    """logit_1 = sum(w * x), logit_0 = 0, with positive weights: contributions w * x."""
    import keras

    rng = np.random.default_rng(1)
    w = rng.uniform(0.05, 1.0, size=(H, W)).astype(np.float32)
    inp = keras.Input((H, W, 1))
    flat = keras.layers.Flatten()(inp)
    out = keras.layers.Dense(2, use_bias=False)(flat)
    model = keras.Model(inp, out)
    kernel = np.zeros((H * W, 2), np.float32)
    kernel[:, 1] = w.ravel()
    model.layers[-1].set_weights([kernel])
    x = rng.uniform(0.1, 1.0, size=(3, H, W, 1)).astype(np.float32)
    return model, w, x


def make_explanation(model, x, maps) -> Explanation:
    logits = np.asarray(model(x)).astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return Explanation(
        maps=maps, inputs=x, targets=np.ones(len(x), np.int64),
        predictions=logits.argmax(1), probabilities=p, method="hand_made",
    )


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_contribution_order_gives_monotone_deletion_curve(linear, score):
    model, w, x = linear
    contributions = w[None] * x[..., 0]
    e = make_explanation(model, x, contributions)
    metric = Deletion(n_steps=12, score=score, baseline="zero")
    curves = metric.curves(model, e, x)
    assert curves.shape == (3, 13) and curves.dtype == np.float64
    assert np.all(np.diff(curves, axis=1) <= 1e-6), "deleting the largest contributions first must lower the score"
    # The curve is the true logit: at step 0 the full sum, at the end nothing is left.
    if score == "logit":
        np.testing.assert_allclose(curves[:, 0], contributions.reshape(3, -1).sum(1), rtol=1e-5)
        np.testing.assert_allclose(curves[:, -1], 0.0, atol=1e-6)
        # After deleting the top third of pixels, the logit equals the sum of the rest.
        k = round(4 / 12 * H * W)
        rest = np.sort(contributions.reshape(3, -1), axis=1)[:, ::-1][:, k:].sum(1)
        np.testing.assert_allclose(curves[:, 4], rest, rtol=1e-5)
    else:
        np.testing.assert_allclose(curves[:, -1], 0.5, atol=1e-6)
    # The contribution order is the best possible: it beats the reversed and a random order.
    auc = metric(model, e, x)
    auc_rev = metric(model, make_explanation(model, x, -contributions), x)
    shuffled = np.random.default_rng(0).permuted(contributions.reshape(3, -1), axis=1).reshape(3, H, W)
    auc_rnd = metric(model, make_explanation(model, x, shuffled), x)
    assert np.all(auc < auc_rnd) and np.all(auc_rnd < auc_rev)


def test_insertion_curve_rises_in_contribution_order(linear):
    model, w, x = linear
    contributions = w[None] * x[..., 0]
    e = make_explanation(model, x, contributions)
    metric = Insertion(n_steps=9, baseline="zero", score="logit")
    curves = metric.curves(model, e, x)
    assert np.all(np.diff(curves, axis=1) >= -1e-6)
    np.testing.assert_allclose(curves[:, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(curves[:, -1], contributions.reshape(3, -1).sum(1), rtol=1e-5)
    # Insertion AUC of the best order is higher than of the reversed one.
    reverse = metric(model, make_explanation(model, x, -contributions), x)
    assert np.all(metric(model, e, x) > reverse)
    assert Insertion.higher_is_better and not Deletion.higher_is_better


def test_batching_does_not_change_curves(linear):
    model, w, x = linear
    e = make_explanation(model, x, w[None] * x[..., 0])
    big = Deletion(n_steps=7, batch_size=256).curves(model, e, x)
    small = Deletion(n_steps=7, batch_size=5).curves(model, e, x)
    one = Deletion(n_steps=7).curves(model, e[1], x[1:2])
    np.testing.assert_allclose(big, small, rtol=1e-6)
    np.testing.assert_allclose(big[1:2], one, rtol=1e-6)


def test_flat_and_nan_maps_give_nan(linear):
    model, w, x = linear
    maps = w[None] * x[..., 0]
    maps[1] = 0.0  # no ranking
    e = make_explanation(model, x, maps)
    auc = Deletion(n_steps=5)(model, e, x)
    assert np.isfinite(auc[0]) and np.isnan(auc[1]) and np.isfinite(auc[2])


def test_baselines():
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    assert np.all(baseline_images(x, "zero") == 0)
    mean = baseline_images(x, "mean")
    np.testing.assert_allclose(mean[:, 0, 0], x.mean(axis=(1, 2)), rtol=1e-6)
    blur = baseline_images(x, "blur", blur_sigma=2.0)
    assert blur.shape == x.shape and blur.std() < x.std()
    assert np.all(baseline_images(x, 0.5) == 0.5)
    with pytest.raises(ValueError, match="baseline"):
        Deletion(baseline="noise")


def test_ties_are_broken_by_seed_not_raster_order():
    maps = np.zeros((1, 4, 4))
    maps[0, 3, 3] = 1.0
    order = pixel_order(maps, seed=0)[0]
    assert order[0] == 15
    assert not np.array_equal(order[1:], np.arange(15))
