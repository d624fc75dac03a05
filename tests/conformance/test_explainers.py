"""One conformance suite over the registry of explainers x a small model zoo.

Every registered method is run on every zoo model (``zoo.py``: a functional CNN, a ResNet
with BatchNorm and a residual Add, a Sequential CNN, a MobileNetV2 backbone nested as a
layer, the package's 128 px ``stem_resnet`` at a small width), with the fast settings of ``FAST`` (a method missing from it runs with its defaults,
so a new method is tested by registering it). For each combination the explainer either raises
:class:`UnsupportedModelError` with a message -- acceptable only where ``UNSUPPORTED`` lists
the combination -- or satisfies:

- maps are float32 (N, H, W) at input resolution and finite; predictions are the argmax;
  the explanation carries the method's display record, and flags exactly the maps that are
  all zero or constant, each with a reason;
- explaining the batch equals explaining each image alone (tolerance ``TOL``, relative to the
  largest absolute value of the batch's maps);
- the default target is the argmax (equal to explaining with the argmax as explicit target);
- explicit targets are honoured: an int applies to all images, per-image targets pick each
  image's class (map ``i`` with targets [2, 0, 1] equals map ``i`` with the int target), and
  the maps of different classes differ (except for class-agnostic methods);
- two calls give the same maps (determinism, seeded methods included);
- the model's weights (every array), ``get_config()`` and number of layers are unchanged.

Tolerances: 1e-4 of the map scale by default (batched convolutions and matrix products
accumulate in a different order than single-image ones); listed per method in ``TOL``.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import zoo

from xai_lab import explain
from xai_lab.explain import UnsupportedModelError
from xai_lab.explain.base import method_info
from xai_lab.explain.explanation import degenerate_code

MODELS = ("cnn", "resnet", "sequential", "nested", "stem_resnet")

#: Fast settings per registry name for the test; a list gives several variants.
FAST: dict[str, dict | list[dict]] = {
    "smoothgrad": {"n_samples": 4},
    "integrated_gradients": {"steps": 8},
    "occlusion": {"patch_size": 7, "stride": 7},
    "shap": [
        {"algorithm": "gradient", "nsamples": 8},
        {"algorithm": "deep"},
        {"algorithm": "partition", "max_evals": 64},
    ],
    "tfexplain.smoothgrad": {"num_samples": 3},
    "tfexplain.integrated_gradients": {"n_steps": 4},
    "tfexplain.occlusion": {"patch_size": 8},
}

#: (case pattern, model) pairs where UnsupportedModelError is an acceptable answer.
UNSUPPORTED = {
    ("attention_rollout", "*"): "needs a vit model",
    ("shap[deep]", "nested"): "shap's DeepExplainer has no rule for DepthwiseConv2D/ReLU6",
    ("tfexplain.*", "sequential"): "tf-explain reads model.output",
    ("tfexplain.gradcam", "nested"): "tf-explain cannot reach a nested layer",
    ("deep_taylor*", "nested"): "LRP rules do not cover DepthwiseConv2D/ReLU6",
    ("lrp*", "nested"): "LRP rules do not cover DepthwiseConv2D/ReLU6",
}

#: Relative tolerance (of the batch's largest absolute map value) for batch vs single image.
TOL = {"default": 1e-4, "shap[partition]": 1e-3, "occlusion": 1e-3, "tfexplain.occlusion": 1e-3}

#: Methods whose maps do not depend on the target class.
CLASS_AGNOSTIC = {"attention_rollout"}


def _cases() -> list[tuple[str, str, dict]]:
    cases = []
    for name in explain.available():
        settings = FAST.get(name, {})
        variants = settings if isinstance(settings, list) else [settings]
        for s in variants:
            case = f"{name}[{s['algorithm']}]" if "algorithm" in s else name
            cases.append((case, name, dict(s)))
    return cases


CASES = _cases()


def _match(text: str, pattern: str) -> bool:
    """``*`` is the only wildcard (brackets in case names are literal)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text) is not None


def _unsupported_ok(case: str, model: str) -> bool:
    return any(_match(case, pc) and _match(model, pm) for pc, pm in UNSUPPORTED)


def _tol(case: str) -> float:
    return TOL.get(case, TOL.get(case.split("[")[0], TOL["default"]))


def _snapshot(model) -> dict:
    def count(m) -> int:
        return sum(1 + (count(layer) if hasattr(layer, "layers") else 0) for layer in m.layers)

    return {
        "weights": [np.array(w, copy=True) for w in model.get_weights()],
        "config": json.dumps(model.get_config(), sort_keys=True, default=repr),
        "n_layers": len(model.layers),
        "n_all_layers": count(model),
    }


@pytest.fixture(scope="module")
def zoo_models():
    """Every zoo model with its images and a snapshot taken before any explainer ran."""
    out = {}
    for name in MODELS:
        model = zoo.build(name)
        out[name] = (model, zoo.images(name), _snapshot(model))
    return out


_RESULTS: dict[tuple[str, str], dict] = {}


def _run(case: str, name: str, settings: dict, model_name: str, zoo_models) -> dict:
    """All explanations one combination needs, computed once (module cache)."""
    key = (case, model_name)
    if key not in _RESULTS:
        model, x, _ = zoo_models[model_name]
        explainer = explain.get(name, **settings)
        try:
            first = explainer.explain(model, x)
        except UnsupportedModelError as exc:
            _RESULTS[key] = {"unsupported": exc}
            return _RESULTS[key]
        n_classes = first.n_classes
        _RESULTS[key] = {
            "default": first,
            "again": explain.get(name, **settings).explain(model, x),
            "single": [explainer.explain(model, x[i : i + 1]) for i in range(len(x))],
            "by_class": [explainer.explain(model, x, target=k) for k in range(n_classes)],
            "per_image": explainer.explain(model, x, target=[2, 0, 1]),
        }
    return _RESULTS[key]


def _close(a: np.ndarray, b: np.ndarray, rel: float, what: str) -> None:
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-12)
    err = float(np.abs(a - b).max())
    assert err <= rel * scale, f"{what}: max difference {err:.3g} > {rel:g} x scale {scale:.3g}"


PARAMS = [
    pytest.param(case, name, settings, m, id=f"{case}-{m}")
    for case, name, settings in CASES
    for m in MODELS
]


def _supported(case, name, settings, model_name, zoo_models) -> dict:
    r = _run(case, name, settings, model_name, zoo_models)
    if "unsupported" in r:
        exc = r["unsupported"]
        assert str(exc), "UnsupportedModelError without a message"
        if _unsupported_ok(case, model_name):
            pytest.skip(f"unsupported (listed): {exc}")
        pytest.fail(f"{case} refused {model_name}, which is not listed as unsupported: {exc}")
    return r


@pytest.mark.parametrize("case,name,settings,model_name", PARAMS)
def test_output_contract(case, name, settings, model_name, zoo_models):
    r = _supported(case, name, settings, model_name, zoo_models)
    model, x, _ = zoo_models[model_name]
    e = r["default"]
    assert e.maps.dtype == np.float32
    assert e.maps.shape == x.shape[:3]
    assert np.all(np.isfinite(e.maps)), "maps contain NaN or inf"
    assert e.method == name
    logits = np.asarray(model(x, training=False))
    np.testing.assert_array_equal(e.predictions, logits.argmax(axis=1))
    assert np.abs(e.maps).max() > 0, "all maps are zero on random models: nothing is explained"
    assert e.info == method_info(name) and e.title == method_info(name).title
    codes = [degenerate_code(m) for m in e.maps]
    assert e.degenerate.shape == (len(x),)
    assert [bool(c) for c in codes] == list(e.flagged), (codes, list(e.degenerate))


@pytest.mark.parametrize("case,name,settings,model_name", PARAMS)
def test_batch_equals_single_images(case, name, settings, model_name, zoo_models):
    r = _supported(case, name, settings, model_name, zoo_models)
    batch = r["default"].maps
    for i, single in enumerate(r["single"]):
        assert single.maps.shape == (1, *batch.shape[1:])
        _close(batch[i], single.maps[0], _tol(case), f"image {i} batch vs alone")


@pytest.mark.parametrize("case,name,settings,model_name", PARAMS)
def test_default_target_is_argmax(case, name, settings, model_name, zoo_models):
    r = _supported(case, name, settings, model_name, zoo_models)
    e = r["default"]
    np.testing.assert_array_equal(e.targets, e.predictions)
    for i, t in enumerate(e.targets):
        _close(e.maps[i], r["by_class"][t].maps[i], _tol(case), f"image {i}: default vs target={t}")


@pytest.mark.parametrize("case,name,settings,model_name", PARAMS)
def test_explicit_targets_honoured(case, name, settings, model_name, zoo_models):
    r = _supported(case, name, settings, model_name, zoo_models)
    for k, e in enumerate(r["by_class"]):
        np.testing.assert_array_equal(e.targets, np.full(len(e), k))
    per_image = r["per_image"]
    np.testing.assert_array_equal(per_image.targets, [2, 0, 1])
    for i, t in enumerate(per_image.targets):
        _close(per_image.maps[i], r["by_class"][t].maps[i], _tol(case), f"image {i} target {t}")
    if name not in CLASS_AGNOSTIC:
        a, b = r["by_class"][0].maps, r["by_class"][1].maps
        assert not np.allclose(a, b, rtol=1e-3, atol=1e-3 * np.abs(a).max()), (
            "maps for class 0 and class 1 are the same: the target is ignored"
        )


@pytest.mark.parametrize("case,name,settings,model_name", PARAMS)
def test_deterministic(case, name, settings, model_name, zoo_models):
    r = _supported(case, name, settings, model_name, zoo_models)
    _close(r["default"].maps, r["again"].maps, 1e-6, "two calls")


@pytest.mark.parametrize("case,name,settings,model_name", PARAMS)
def test_model_unchanged(case, name, settings, model_name, zoo_models):
    _run(case, name, settings, model_name, zoo_models)  # runs (or refuses) first
    model, _, before = zoo_models[model_name]
    after = _snapshot(model)
    assert after["n_layers"] == before["n_layers"]
    assert after["n_all_layers"] == before["n_all_layers"]
    assert after["config"] == before["config"]
    assert len(after["weights"]) == len(before["weights"])
    for w0, w1 in zip(before["weights"], after["weights"], strict=True):
        np.testing.assert_array_equal(w0, w1)


def test_unsupported_table_is_used():
    """Every UNSUPPORTED entry names a registered method (catches stale entries)."""
    cases = [c for c, _, _ in CASES]
    for pattern, _ in UNSUPPORTED:
        if pattern.startswith(("deep_taylor", "lrp")):
            continue  # the LRP family may register under either prefix
        assert any(_match(c, pattern) for c in cases), f"stale entry {pattern!r}"
