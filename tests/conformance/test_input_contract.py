"""The input side of the contract, over the registry of explainers x the zoo.

For every registered method (and every variant of ``test_explainers.FAST``) on every zoo model
it supports:

- explaining 0 images returns an empty Explanation (maps (0, H, W), no targets, (0, K)
  probabilities), with the method's display record -- never an exception;
- a fractional target (1.5) is refused with a ``ValueError`` before any work;
- float images outside [0, 1] (0-255 values, standardised values in -5..5) are refused with a
  ``ValueError`` that says what was found, never taken as [0, 1];
- the method declares a display name and a meaning that names the explained class, and its
  explanations carry them.

Refusals of whole models (``UnsupportedModelError``) follow ``test_explainers.UNSUPPORTED``.
"""

from __future__ import annotations

import numpy as np
import pytest
import zoo
from test_explainers import CASES, MODELS, _unsupported_ok

from xai_lab import explain
from xai_lab.explain import UnsupportedModelError
from xai_lab.explain.base import method_info

PARAMS = [
    pytest.param(case, name, settings, m, id=f"{case}-{m}")
    for case, name, settings in CASES
    for m in MODELS
]


@pytest.fixture(scope="module")
def models():
    return {name: (zoo.build(name), zoo.images(name)) for name in MODELS}


def _explain(case, name, settings, model_name, models, images=None, **kwargs):
    model, x = models[model_name]
    try:
        return explain.get(name, **settings).explain(model, x if images is None else images, **kwargs)
    except UnsupportedModelError as exc:
        if _unsupported_ok(case, model_name):
            pytest.skip(f"unsupported (listed): {exc}")
        raise


@pytest.mark.parametrize("case,name,settings,model_name", PARAMS)
def test_zero_images_give_an_empty_explanation(case, name, settings, model_name, models):
    model, x = models[model_name]
    e = _explain(case, name, settings, model_name, models, images=x[:0])
    assert len(e) == 0 and e.maps.shape == (0, *x.shape[1:3]) and e.maps.dtype == np.float32
    assert e.inputs.shape == (0, *x.shape[1:])
    assert e.targets.shape == (0,) and e.predictions.shape == (0,)
    assert e.probabilities.shape == (0, zoo.N_CLASSES)
    assert e.method == name and e.title == method_info(name).title
    assert len(e.degenerate) == 0
    # an explicit target works on no images too
    assert len(_explain(case, name, settings, model_name, models, images=x[:0], target=1)) == 0


@pytest.mark.parametrize("case,name,settings,model_name", PARAMS)
def test_fractional_target_is_refused(case, name, settings, model_name, models):
    with pytest.raises(ValueError, match="not a whole class index"):
        _explain(case, name, settings, model_name, models, target=1.5)
    with pytest.raises(ValueError, match="not a whole class index"):
        _explain(case, name, settings, model_name, models, target=[0, 1.5, 2])


@pytest.mark.parametrize("scale,found", [(255.0, "0-255"), (10.0, "rescale")])
@pytest.mark.parametrize("case,name,settings,model_name", [p for p in PARAMS if p.values[3] == "cnn"])
def test_float_images_outside_unit_range_are_refused(case, name, settings, model_name, models, scale, found):
    _, x = models[model_name]
    bad = x * scale if scale == 255.0 else x * scale - 5.0
    with pytest.raises(ValueError, match=f"float images must hold values in \\[0, 1\\].*{found}"):
        _explain(case, name, settings, model_name, models, images=bad)


@pytest.mark.parametrize("name", explain.available())
def test_every_method_declares_a_display_name_and_meaning(name):
    info = method_info(name)
    assert info.title, info
    assert "{target}" in info.meaning, f"{name}'s meaning does not name the class: {info.meaning!r}"
    assert info.high and info.low
    assert isinstance(info.signed, bool)


def test_display_names_are_unique():
    titles = [method_info(name).title for name in explain.available()]
    assert len(titles) == len(set(titles)), titles
