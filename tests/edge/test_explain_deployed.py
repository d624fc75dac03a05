"""Explaining a deployed (TFLite) model: every registered explainer either explains it through
forward passes or refuses it with UnsupportedModelError citing tensorflow issue 58468; and the
agreement measures between the float and the deployed model's maps."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab import explain
from xai_lab.explain import Explanation, UnsupportedModelError

FAST = {  # small settings so that the model-agnostic methods run in a second
    "occlusion": {"patch_size": 7, "stride": 7},
    "shap": {"algorithm": "partition", "max_evals": 64},
}


@pytest.fixture(scope="module")
def models_and_images(model_dir, exported):
    from xai_lab import edge, models

    root, npz = model_dir
    keras_model = models.load(root / "model.keras")
    images = np.load(npz)["val_images"][:3, ..., None]
    return keras_model, {q: edge.load_tflite(p) for q, p in exported.items()}, images


def _explainers():
    """Every registry entry, and shap once per algorithm."""
    out = [(name, {}) for name in explain.available() if name != "shap"]
    out += [("shap", {"algorithm": a}) for a in ("gradient", "deep", "partition")]
    return out


@pytest.mark.parametrize(("name", "settings"), _explainers(), ids=lambda v: v if isinstance(v, str) else
                         "-".join(f"{k}={x}" for k, x in v.items()) or "default")
def test_every_explainer_explains_or_refuses_the_interpreter(models_and_images, name, settings):
    keras_model, deployed, images = models_and_images
    explainer = explain.get(name, **settings)
    model = deployed["int8"]
    if explainer.model_agnostic:
        fast = {**FAST.get(name, {}), **settings}
        result = explain.get(name, **fast).explain(model, images)
        assert isinstance(result, Explanation) and result.maps.shape == (3, 28, 28)
        assert np.isfinite(result.maps).all()
        np.testing.assert_array_equal(result.predictions, model.predict_on_batch(images).argmax(1))
    else:
        with pytest.raises(UnsupportedModelError, match="58468") as info:
            explainer.explain(model, images)
        assert name in str(info.value) and "occlusion" in str(info.value)


def test_the_model_agnostic_methods_are_occlusion_and_shap_partition():
    agnostic = {name for name, settings in _explainers()
                if explain.get(name, **settings).model_agnostic}
    assert agnostic == {"occlusion", "shap"}
    assert explain.get("shap", algorithm="partition").model_agnostic
    assert not explain.get("shap", algorithm="gradient").model_agnostic


@pytest.mark.parametrize("name", ["occlusion", "shap"])
def test_float32_export_gives_the_keras_maps(models_and_images, name):
    from xai_lab import edge

    keras_model, deployed, images = models_and_images
    explainer = explain.get(name, **FAST[name])
    reference, other, agreement = edge.explain_both(explainer, keras_model, deployed["float32"], images)
    np.testing.assert_array_equal(other.targets, reference.targets)
    scale = np.abs(reference.maps).max()
    np.testing.assert_allclose(other.maps, reference.maps, atol=1e-4 * max(scale, 1e-6))
    assert agreement.same_prediction.all()
    finite = np.isfinite(agreement.rank_correlation)
    assert finite.any() and np.allclose(agreement.rank_correlation[finite], 1.0, atol=1e-3)


def test_explaining_the_deployed_model_leaves_it_working(models_and_images):
    _, deployed, images = models_and_images
    before = deployed["int8"].predict_on_batch(images)
    explain.get("occlusion", **FAST["occlusion"]).explain(deployed["int8"], images, target=0)
    np.testing.assert_array_equal(deployed["int8"].predict_on_batch(images), before)


# ------------------------------------------------------------------ agreement measures
def _explanation(maps, targets=None, method="occlusion"):
    maps = np.asarray(maps, np.float32)
    n = len(maps)
    targets = np.zeros(n, np.int64) if targets is None else np.asarray(targets)
    return Explanation(
        maps=maps, inputs=np.zeros((*maps.shape, 1), np.float32), targets=targets,
        predictions=np.zeros(n, np.int64), probabilities=np.full((n, 2), 0.5, np.float32),
        method=method, parameters={},
    )


def test_agreement_of_identical_reordered_and_reversed_maps():
    from xai_lab.edge import compare_explanations

    rng = np.random.default_rng(0)
    a = rng.random((3, 10, 10))
    reversed_maps = -a
    same = compare_explanations(_explanation(a), _explanation(a), fraction=0.1)
    np.testing.assert_allclose(same.rank_correlation, 1.0)
    np.testing.assert_allclose(same.top_k_iou, 1.0)
    opposite = compare_explanations(_explanation(a), _explanation(reversed_maps), fraction=0.1)
    np.testing.assert_allclose(opposite.rank_correlation, -1.0)
    np.testing.assert_allclose(opposite.top_k_iou, 0.0)
    # absolute comparison ignores the sign flip
    flipped = compare_explanations(_explanation(a), _explanation(reversed_maps), absolute=True)
    np.testing.assert_allclose(flipped.rank_correlation, 1.0)
    summary = same.summary()
    assert summary["n"] == 3 and summary["rank_correlation_median"] == pytest.approx(1.0)
    assert "rank correlation median 1.000" in repr(same)


def test_top_k_iou_by_hand():
    from xai_lab.edge import compare_explanations
    from xai_lab.edge.compare import top_region

    a = np.arange(16, dtype=float).reshape(1, 4, 4)  # top 25 %: the last row (12..15)
    b = a.copy()
    b[0, 3, 0], b[0, 2, 3] = b[0, 2, 3], b[0, 3, 0]  # one pixel of the top 4 swapped out
    assert top_region(a, 0.25).sum() == 4
    agreement = compare_explanations(_explanation(a), _explanation(b), fraction=0.25)
    assert agreement.top_k_iou[0] == pytest.approx(3 / 5)  # 3 shared of 5 in the union


def test_undefined_agreement_is_nan():
    from xai_lab.edge import compare_explanations

    flat = np.zeros((1, 6, 6))
    varied = np.arange(36, dtype=float).reshape(1, 6, 6)
    agreement = compare_explanations(_explanation(flat), _explanation(varied))
    assert np.isnan(agreement.rank_correlation[0]) and np.isnan(agreement.top_k_iou[0])
    assert np.isnan(agreement.summary()["rank_correlation_median"])


def test_comparing_different_things_is_refused():
    from xai_lab.edge import compare_explanations

    a = np.random.default_rng(1).random((2, 5, 5))
    with pytest.raises(ValueError, match="different classes"):
        compare_explanations(_explanation(a), _explanation(a, targets=[1, 0]))
    with pytest.raises(ValueError, match="different methods"):
        compare_explanations(_explanation(a), _explanation(a, method="shap"))
    with pytest.raises(ValueError, match="cannot be compared"):
        compare_explanations(_explanation(a), _explanation(a[:, :4]))
    with pytest.raises(TypeError):
        compare_explanations(a, a)
