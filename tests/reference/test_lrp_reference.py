"""Deep Taylor / LRP equal iNNvestigate 2.1.2 on the same weights and inputs.

The reference files in ``tests/reference/data/innvestigate_*.npz`` are made by
``tests/reference/make_innvestigate_references.py`` in a side virtual environment with
iNNvestigate 2.1.2 on TensorFlow 2.14 (see its docstring). The same architectures are built
here with Keras 3 (the builder functions of that script take the ``keras`` module), the
stored weights loaded by layer name, and our presets compared with
``rtol=1e-5, atol=1e-5 * max|ref|``. A missing file fails the test.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SCRIPT = HERE / "make_innvestigate_references.py"
NAMES = ("cnn", "bn", "mlp")

# iNNvestigate 2.1.2's deep Taylor passes relevance through BatchNorm along its gradient
# (R_in = R * gamma / sqrt(var + eps)) instead of folding it; our presets fold. These settings
# reproduce its behaviour on the architecture with BatchNorm ("bn").
INNVESTIGATE_BN = {"fold_batchnorm": False, "bn_rule": "gradient"}

# Our explainer (registry name, settings) for each iNNvestigate analyzer.
OURS = {
    "deep_taylor": ("deep_taylor", {}),
    "deep_taylor.bounded": ("deep_taylor.bounded", {}),  # low/high from the file
    "lrp.epsilon": ("lrp", {"rule": "epsilon", "epsilon": 1e-7}),
    "lrp.z": ("lrp", {"rule": "z"}),
}


def _script():
    spec = importlib.util.spec_from_file_location("make_innvestigate_references", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference(name: str) -> dict[str, np.ndarray]:
    path = DATA / f"innvestigate_{name}.npz"
    if not path.is_file():
        pytest.fail(
            f"reference file {path} is missing; regenerate it with "
            f"`/tmp/innv-venv/bin/python {SCRIPT.relative_to(HERE.parent.parent)} --write` "
            "(iNNvestigate 2.1.2 in a side venv, see the script's docstring)"
        )
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module", params=NAMES)
def case(request):
    import keras

    name = request.param
    ref = _reference(name)
    model = _script().BUILDERS[name](keras)
    for layer in model.layers:
        n = len(layer.get_weights())
        if n:
            layer.set_weights([ref[f"w/{layer.name}/{i}"] for i in range(n)])
    return name, model, ref


def test_rebuilt_model_matches_reference_logits(case):
    _, model, ref = case
    logits = np.asarray(model(ref["x"], training=False))
    np.testing.assert_allclose(logits, ref["logits"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("analyzer", list(OURS))
def test_matches_innvestigate(case, analyzer):
    from xai_lab import explain

    name, model, ref = case
    if analyzer not in ref:
        pytest.skip(f"iNNvestigate's {analyzer} refuses the {name!r} architecture")
    method, settings = OURS[analyzer]
    if analyzer == "deep_taylor.bounded":
        settings = {"low": ref["low"], "high": ref["high"]}
    if name == "bn":
        settings = {**settings, **INNVESTIGATE_BN}
    e = explain.get(method, **settings).explain(model, ref["x"], target=ref["targets"])
    expected = ref[analyzer]
    assert np.abs(expected).max() > 0, "a reference of zeros tests nothing"
    np.testing.assert_allclose(
        e.attributions, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
    )
    np.testing.assert_allclose(e.maps, expected.sum(-1), rtol=1e-5,
                               atol=1e-5 * np.abs(expected).max())


def test_folded_deep_taylor_conserves_where_innvestigate_does_not(case):
    """With BatchNorm folded (our default), z+ ignoring biases conserves the positive logit
    exactly; iNNvestigate's gradient through BatchNorm does not (the "bn" reference)."""
    from xai_lab import explain

    name, model, ref = case
    e = explain.get("deep_taylor").explain(model, ref["x"], target=ref["targets"])
    logit = ref["logits"][np.arange(len(ref["x"])), ref["targets"]]
    np.testing.assert_allclose(e.attributions.reshape(len(logit), -1).sum(1),
                               np.maximum(logit, 0), rtol=1e-5, atol=1e-6)
    if name == "bn":
        sums = ref["deep_taylor"].reshape(len(logit), -1).sum(1)
        assert np.abs(sums - np.maximum(logit, 0)).max() > 1e-3
