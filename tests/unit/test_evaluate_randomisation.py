"""Randomisation sanity checks (Adebayo et al. 2018), SSIM and rank correlation."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab.evaluate import (
    LabelRandomisation,
    ModelParameterRandomisation,
    map_similarity,
    spearman,
    ssim,
)
from xai_lab.explain import Explainer, MapResult, get


def small_cnn(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(8, activation="relu", name="dense")(h)
    out = keras.layers.Dense(2, name="logits")(h)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def setup():
    model = small_cnn()
    rng = np.random.default_rng(0)
    x = rng.random((4, 12, 12, 1)).astype(np.float32)
    return model, x


class InputEcho(Explainer):
    """A 'map' that is the image itself: it ignores the model, so it must fail the check."""

    name = "input_echo"

    def _explain(self, model, x, targets):
        return MapResult(maps=x[..., 0])


# ---------------------------------------------------------------------- similarity
def test_ssim_identical_maps_is_one_and_drops_with_noise():
    rng = np.random.default_rng(0)
    a = rng.random((28, 28))
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, rng.random((28, 28))) < 0.2
    assert ssim(np.zeros((8, 8)), np.zeros((8, 8))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        ssim(a, a[:5])


def slow_ssim(a, b, data_range=1.0, sigma=1.5, radius=5):
    """Textbook SSIM (Wang et al. 2004): an explicit 11 x 11 Gaussian window at each position."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    w = np.exp(-(yy**2 + xx**2) / (2 * sigma**2))
    w /= w.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for i in range(radius, a.shape[0] - radius):
        for j in range(radius, a.shape[1] - radius):
            pa = a[i - radius : i + radius + 1, j - radius : j + radius + 1]
            pb = b[i - radius : i + radius + 1, j - radius : j + radius + 1]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_equals_the_textbook_window_computation():
    rng = np.random.default_rng(2)
    a = rng.random((20, 20))
    b = 0.5 * a + 0.5 * rng.random((20, 20))
    assert ssim(a, b) == pytest.approx(slow_ssim(a, b), abs=1e-9)
    assert ssim(a, 0.2 * b, data_range=2.0) == pytest.approx(slow_ssim(a, 0.2 * b, data_range=2.0), abs=1e-9)


def test_ssim_matches_scikit_image_when_installed():
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image not installed")
    rng = np.random.default_rng(1)
    a = rng.random((28, 28))
    b = a + 0.3 * rng.random((28, 28))
    expected = metrics.structural_similarity(
        a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(a, b) == pytest.approx(expected, abs=1e-6)


def test_spearman_and_map_similarity():
    a = np.arange(16.0).reshape(4, 4)
    assert spearman(a, a**3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(spearman(a, np.zeros_like(a)))
    sims = map_similarity(np.stack([a, a]), np.stack([a**2, -a]), "spearman", absolute=False)
    np.testing.assert_allclose(sims, [1.0, -1.0])
    # With absolute values, a sign flip does not matter.
    assert map_similarity(a[None], -a[None], "spearman", absolute=True)[0] == pytest.approx(1.0)
    assert map_similarity(a[None], -a[None], "ssim", absolute=True)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="similarity"):
        map_similarity(a[None], a[None], "pearson")


# ---------------------------------------------------------------------- model randomisation
def test_randomising_all_weights_decorrelates_gradients(setup):
    model, x = setup
    saliency = get("saliency")
    e = saliency.explain(model, x)
    metric = ModelParameterRandomisation(mode="cascading", measure="spearman")
    layers, maps = metric.randomised_maps(model, e, x)
    assert layers == ["logits", "dense", "conv2", "conv1"]
    assert maps.shape == (4, 4, 12, 12)
    table = metric.compare(e, layers, maps)
    assert table.similarity.shape == (4, 4)
    scores = metric.score(table)
    assert scores.dtype == np.float64 and scores.shape == (4,)
    np.testing.assert_allclose(scores, table.similarity[-1])
    assert np.all(np.abs(scores) < 0.5), scores
    ssim_scores = metric.score(metric.compare(e, layers, maps, measure="ssim"))
    assert np.all(ssim_scores < 0.5), ssim_scores


def test_a_map_that_ignores_the_model_fails_the_check(setup):
    model, x = setup
    echo = InputEcho()
    e = echo.explain(model, x)
    scores = ModelParameterRandomisation(explainer=echo)(model, e, x)
    np.testing.assert_allclose(scores, 1.0)


def test_independent_mode_and_users_model_unchanged(setup):
    model, x = setup
    before = [w.copy() for w in model.get_weights()]
    config = model.get_config()
    e = get("saliency").explain(model, x[:2])
    metric = ModelParameterRandomisation(mode="independent", layers=["logits", "conv1"])
    table = metric.layer_table(model, e, x[:2])
    assert table.layers == ["conv1", "logits"]
    assert np.isfinite(table.similarity).all()
    np.testing.assert_allclose(metric.score(table), table.similarity.mean(axis=0))
    frame = table.to_frame()
    assert list(frame.columns) == ["mode", "measure", "step", "layer", "image", "similarity"]
    assert len(frame) == 4
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert model.get_config() == config
    # Same seed, same weights: deterministic.
    again = ModelParameterRandomisation(mode="independent", layers=["logits", "conv1"]).layer_table(model, e, x[:2])
    np.testing.assert_array_equal(table.similarity, again.similarity)


def test_explainer_is_rebuilt_from_the_explanation(setup):
    model, x = setup
    e = get("saliency").explain(model, x[:2])
    # No explainer given: it is rebuilt from e.method and e.parameters.
    scores = ModelParameterRandomisation(layers=["logits"])(model, e, x[:2])
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_label_randomisation_trains_a_copy(setup):
    model, x = setup
    before = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(0)
    train_x = rng.random((32, 12, 12, 1)).astype(np.float32)
    train_y = rng.integers(0, 2, 32)
    e = get("saliency").explain(model, x)
    metric = LabelRandomisation(train_x, train_y, epochs=1, batch_size=16)
    scores = metric(model, e, x)
    assert scores.shape == (4,) and np.isfinite(scores).all() and np.all(np.abs(scores) <= 1)
    assert metric.random_model is not model
    assert not all(np.array_equal(a, b) for a, b in zip(before, metric.random_model.get_weights(), strict=True))
    assert 0.0 <= metric.train_accuracy <= 1.0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    # A custom training function is used when given.
    calls = []

    def train_fn(m, xx, yy):
        calls.append((len(xx), sorted(yy.tolist()) == sorted(train_y.tolist())))
        return m

    LabelRandomisation(train_x, train_y, train_fn=train_fn)(model, e, x)
    assert calls == [(32, True)]


class StaleGradients(Explainer):
    """Caches its first answer per model object, as an explainer that froze weights would."""

    name = "stale"

    def __init__(self):
        super().__init__()
        self.inner = get("saliency")
        self.memory = {}

    def _explain(self, model, x, targets):
        if id(model) not in self.memory:
            self.memory[id(model)] = self.inner.explain(model, x, target=targets).maps
        return MapResult(maps=self.memory[id(model)])


def test_an_explainer_reading_stale_weights_is_caught(setup):
    model, x = setup
    stale = StaleGradients()
    e = get("saliency").explain(model, x[:2])
    with pytest.raises(RuntimeError, match="caches weights"):
        ModelParameterRandomisation(explainer=stale, layers=["logits", "conv1"]).layer_table(model, e, x[:2])
