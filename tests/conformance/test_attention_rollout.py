"""Attention rollout on the package's ``vit`` (the conformance zoo has no transformer).

Checks the conformance properties on a tiny ViT (CLS and mean pooling, an image size that is
not a multiple of the patch size), a slow textbook rollout computed image by image from
``xai_lab.models.vit.attention_model``, and hand-computed rollouts.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from xai_lab import explain, models
from xai_lab.explain.attention import rollout


@pytest.fixture(scope="module")
def vits():
    import keras

    keras.utils.set_random_seed(0)
    cls = models.build("vit", (18, 18, 1), 3, patch_size=4, dim=16, depth=2, num_heads=2)
    mean = models.build("vit", (16, 16, 3), 3, patch_size=4, dim=16, depth=2, num_heads=2, pool="mean")
    return {"cls": cls, "mean": mean}


def _images(shape, n=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, *shape)).astype(np.float32)


def textbook_rollout(model, img):
    """Abnar & Zuidema (2020), one image, loops over blocks, NumPy."""
    from xai_lab.models import vit

    scores = vit.attention_model(model)([img])
    scores = scores if isinstance(scores, (list, tuple)) else [scores]
    t = scores[0].shape[-1]
    joint = np.eye(t)
    for s in scores:
        a = np.asarray(s)[0].astype(np.float64).mean(axis=0)
        a = 0.5 * a + 0.5 * np.eye(t)
        a /= a.sum(axis=1, keepdims=True)
        joint = a @ joint
    return joint


@pytest.mark.parametrize("kind", ["cls", "mean"])
def test_rollout_conformance_and_textbook(vits, kind):
    model = vits[kind]
    shape = tuple(model.inputs[0].shape[1:])
    x = _images(shape)
    weights = [w.copy() for w in model.get_weights()]
    config = json.dumps(model.get_config(), sort_keys=True, default=repr)
    n_layers = len(model.layers)

    e = explain.get("attention_rollout").explain(model, x)
    assert e.maps.dtype == np.float32 and e.maps.shape == x.shape[:3]
    assert np.all(np.isfinite(e.maps)) and e.maps.max() > 0
    assert e.raw_maps.shape == (3, 4, 4) and e.layer == "patch_embed"
    np.testing.assert_array_equal(e.targets, e.predictions)
    again = explain.get("attention_rollout").explain(model, x, target=[2, 0, 1])
    np.testing.assert_allclose(again.maps, e.maps, rtol=1e-6, atol=1e-7)  # class-agnostic
    for i in range(3):
        single = explain.get("attention_rollout").explain(model, x[i : i + 1])
        np.testing.assert_allclose(single.maps[0], e.maps[i], rtol=1e-5, atol=1e-6)
        joint = textbook_rollout(model, x[i : i + 1])
        ref = joint[0, 1:] if kind == "cls" else joint.mean(axis=0)
        np.testing.assert_allclose(e.raw_maps[i].ravel(), ref, rtol=1e-5, atol=1e-7)
    if kind == "cls":  # 18x18 with 4x4 patches: the 2-pixel border is not seen
        assert np.all(e.maps[:, 16:, :] == 0) and np.all(e.maps[:, :, 16:] == 0)
    assert len(model.layers) == n_layers
    assert json.dumps(model.get_config(), sort_keys=True, default=repr) == config
    for w0, w1 in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)


def test_rollout_hand_computed():
    # One block, one head, CLS + 1 patch: A = [[0.5, 0.5], [0, 1]];
    # 0.5 A + 0.5 I = [[0.75, 0.25], [0, 1]] (rows already sum to 1) -> CLS row patch = 0.25.
    a = np.array([[[[0.5, 0.5], [0.0, 1.0]]]])
    np.testing.assert_allclose(rollout([a], "mean", 1), [[0.25]])
    # Two identical blocks: M = [[0.75, 0.25], [0, 1]], M @ M -> CLS row patch = 0.4375.
    np.testing.assert_allclose(rollout([a, a], "mean", 1), [[0.4375]])
    # Identity attention everywhere: nothing flows from the patches to the CLS token.
    eye = np.eye(5)[None, None].repeat(2, axis=1)
    np.testing.assert_allclose(rollout([eye, eye], "mean", 4), np.zeros((1, 4)))
    # Heads are averaged (mean) or maxed: head 0 looks at the patch, head 1 at itself.
    two = np.array([[[[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]])
    np.testing.assert_allclose(rollout([two], "mean", 1), [[0.25]])  # mean A = [[.5,.5],[0,1]]
    # max A = [[1, 1], [0, 1]] -> 0.5 A + 0.5 I = [[1, .5], [0, 1]] -> row 0 / 1.5 -> 1/3
    np.testing.assert_allclose(rollout([two], "max", 1), [[1 / 3]])


def test_rollout_refuses_other_models():
    import keras

    inp = keras.Input(shape=(8, 8, 1))
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(inp)))
    with pytest.raises(explain.UnsupportedModelError, match="attention_rollout needs a vit"):
        explain.get("attention_rollout").explain(model, np.zeros((1, 8, 8, 1), np.float32))
