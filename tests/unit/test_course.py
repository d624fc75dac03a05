"""The course helpers: self-check exercises and the numpy network of notebook 02."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab.course import EXERCISES, check, questions
from xai_lab.course import backprop as bp

RIGHT = {
    "00.n_classes": (2, {}),
    "00.commercial": ("no", {}),
    "01.sigmoid_at_zero": (0.5, {}),
    "01.negative_outputs": ("tanh", {}),
    "01.separate": ((1.0, 1.0, 0.0), {}),
    "01.and_gate": ((1.0, 1.0, -1.5), {}),
    "02.sigmoid_slope": (0.25, {}),
    "02.chain_rule": (20, {}),
    "02.divergence": (1.0, {}),
    "03.sensitivity": (0.8, {"cm": np.array([[50, 10], [5, 20]])}),
    "03.threshold_direction": ("lower", {}),
    "03.overconfident": ("overconfident", {}),
}
WRONG = {
    "00.n_classes": 3,
    "00.commercial": "yes",
    "01.sigmoid_at_zero": 0,
    "01.negative_outputs": "relu",
    "01.separate": (-1.0, -1.0, 0.0),
    "01.and_gate": (1.0, 1.0, -0.5),
    "02.sigmoid_slope": 0.5,
    "02.chain_rule": 10,
    "02.divergence": 0.5,
    "03.sensitivity": 20 / 30,
    "03.threshold_direction": "raise",
    "03.overconfident": "under",
}


def test_every_exercise_of_notebooks_00_to_03_has_a_right_and_a_wrong_answer_here():
    # other modules (exercises_explain, ...) register the exercises of later notebooks
    ours = {k for k in EXERCISES if k.split(".", 1)[0] in {"00", "01", "02", "03"}}
    assert set(RIGHT) == ours == set(WRONG)


@pytest.mark.parametrize("ex", sorted(RIGHT))
def test_right_answers_pass_and_wrong_ones_get_the_hint(ex):
    answer, context = RIGHT[ex]
    good = check(ex, answer, **context)
    assert good.correct and repr(good).startswith("right: ")
    bad = check(ex, WRONG[ex], **context)
    assert not bad.correct and "Hint:" in bad.message and EXERCISES[ex].hint in bad.message
    assert "not yet" in bad._repr_html_()


def test_unanswered_and_uncheckable_answers_say_not_yet():
    assert "replace ..." in check("01.sigmoid_at_zero", ...).message
    assert not check("01.and_gate", "three numbers")
    assert not check("03.sensitivity", 0.5)  # no cm given: explained, not raised
    with pytest.raises(KeyError, match="unknown exercise"):
        check("99.none", 1)
    assert all(q.startswith("02.") for q in questions("02."))


def test_numpy_backprop_matches_finite_differences():
    x, y = bp.two_moons(20, seed=1)
    params = bp.init_mlp(2, 4, 2, seed=1)
    for act in bp.ACTIVATIONS:
        _, grads = bp.loss_and_grads(params, x, y, act)
        assert bp.max_difference(grads, bp.numerical_grads(params, x, y, act)) < 1e-7


def test_numpy_backprop_matches_keras_autodiff():
    pytest.importorskip("tensorflow")
    x, y = bp.two_moons(30)
    params = bp.init_mlp(2, 5, 2)
    for act in bp.ACTIVATIONS:
        loss, grads = bp.loss_and_grads(params, x, y, act)
        model = bp.keras_twin(params, act)
        k_loss, k_grads = bp.keras_loss_and_grads(model, x, y)
        assert abs(loss - k_loss) < 1e-12
        assert bp.max_difference(grads, k_grads) < 1e-12


def test_gradient_descent_learns_and_leaves_params_alone():
    x, y = bp.two_moons(50)
    params = bp.init_mlp(2, 8, 2)
    before = {k: v.copy() for k, v in params.items()}
    new, losses = bp.gradient_descent(params, x, y, lr=0.5, steps=300)
    assert losses[-1] < losses[0] * 0.7 and bp.accuracy(new, x, y) > 0.85
    assert all(np.array_equal(before[k], params[k]) for k in params)
