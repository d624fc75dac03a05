"""Max-sensitivity (Yeh et al. 2019) on explainers whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab.evaluate import MaxSensitivity
from xai_lab.explain import Explainer, MapResult, get


class InputEcho(Explainer):
    """The 'map' is the image: e(x + d) - e(x) = d, so the sensitivity is known exactly."""

    name = "input_echo"

    def _explain(self, model, x, targets):
        return MapResult(maps=x[..., 0])


@pytest.fixture(scope="module")
def linear():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 1))
    out = keras.layers.Dense(2)(keras.layers.Flatten()(inp))
    return keras.Model(inp, out)


def test_exact_value_for_a_known_map(linear):
    x = np.random.default_rng(3).uniform(0.2, 0.8, (3, 6, 6, 1)).astype(np.float32)
    echo = InputEcho()
    e = echo.explain(linear, x)
    metric = MaxSensitivity(radius=0.05, n_samples=4, clip=False, explainer=echo, seed=7)
    scores = metric(linear, e, x)
    rng = np.random.default_rng(7)
    worst = max(
        np.linalg.norm(rng.uniform(-0.05, 0.05, size=(6, 6, 1)).astype(np.float32))
        for _ in range(4)
    )
    expected = worst / np.linalg.norm(x.reshape(3, -1), axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    assert scores.dtype == np.float64
    assert not MaxSensitivity.higher_is_better


def test_gradients_of_a_linear_model_do_not_move(linear):
    x = np.random.default_rng(0).random((2, 6, 6, 1)).astype(np.float32)
    e = get("saliency").explain(linear, x)
    scores = MaxSensitivity(n_samples=3)(linear, e, x)  # explainer rebuilt from e
    np.testing.assert_allclose(scores, 0.0, atol=1e-6)


def test_zero_map_gives_nan_and_batch_equals_single(linear):
    x = np.random.default_rng(1).random((3, 6, 6, 1)).astype(np.float32)
    x[1] = 0.0  # echo map of a black image is zero everywhere: no relative change defined
    echo = InputEcho()
    e = echo.explain(linear, x)
    metric = MaxSensitivity(radius=0.02, n_samples=3, explainer=echo)
    scores = metric(linear, e, x)
    assert np.isnan(scores[1]) and np.isfinite(scores[[0, 2]]).all()
    single = metric(linear, e[2], x[2:3])
    np.testing.assert_allclose(single, scores[2:3])
    with pytest.raises(ValueError, match="radius"):
        MaxSensitivity(radius=0)
