"""Self-check exercises for the course notebooks.

Each exercise has an id (``"01.sigmoid_at_zero"``), a question, a checker and a hint.
``check(id, answer, **context)`` returns a :class:`CheckResult` that shows "right" or
"not yet" with the hint; it never raises on a wrong or unfinished answer (``...`` or ``None``
means "not answered yet").

>>> check("01.sigmoid_at_zero", 0.5)
right: sigmoid(0) = 1 / (1 + e^0) = 0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CheckResult:
    """The verdict on an answer: ``correct`` and a message (the explanation, or a hint)."""

    exercise: str
    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __repr__(self) -> str:
        return ("right: " if self.correct else "not yet: ") + self.message

    def _repr_html_(self) -> str:
        color, word = ("#1a7f37", "&#10004; right") if self.correct else ("#b35900", "&#10008; not yet")
        return f"<div style='color:{color}'><b>{word}</b> &mdash; {self.message}</div>"


@dataclass(frozen=True)
class Exercise:
    id: str
    question: str
    checker: Callable[..., tuple[bool, str]]
    hint: str


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, question: str, hint: str):
    """Register ``checker(answer, **context) -> (correct, explanation)`` as an exercise."""

    def decorator(checker: Callable[..., tuple[bool, str]]) -> Callable[..., tuple[bool, str]]:
        if id in EXERCISES:
            raise ValueError(f"exercise {id!r} is defined twice")
        EXERCISES[id] = Exercise(id, question, checker, hint)
        return checker

    return decorator


def check(id: str, answer: Any, **context: Any) -> CheckResult:
    """Check an answer to exercise ``id`` (see :data:`EXERCISES`)."""
    if id not in EXERCISES:
        raise KeyError(f"unknown exercise {id!r}; known: {', '.join(sorted(EXERCISES))}")
    ex = EXERCISES[id]
    if answer is None or answer is Ellipsis:
        return CheckResult(id, False, f"replace ... by your answer. Hint: {ex.hint}")
    try:
        correct, explanation = ex.checker(answer, **context)
    except (TypeError, ValueError, ArithmeticError, IndexError, KeyError) as exc:
        return CheckResult(id, False, f"that answer could not be checked ({exc}). Hint: {ex.hint}")
    return CheckResult(id, bool(correct), explanation if correct else f"{explanation} Hint: {ex.hint}")


def questions(prefix: str = "") -> list[str]:
    """The questions whose id starts with ``prefix`` (e.g. ``"02."``), as "id: question"."""
    return [f"{e.id}: {e.question}" for e in EXERCISES.values() if e.id.startswith(prefix)]


def _close(answer: Any, value: float, tol: float = 1e-2) -> bool:
    return math.isclose(float(answer), value, rel_tol=tol, abs_tol=tol * 1e-2)


def _word(answer: Any) -> str:
    return str(answer).strip().lower().replace("-", "").replace(" ", "").replace("_", "")


# ------------------------------------------------------------------ 00 welcome
@exercise("00.n_classes", "How many classes does PneumoniaMNIST have?",
          "look at INFO['pneumoniamnist']['label_names'].")  # fmt: skip
def _n_classes(answer: Any) -> tuple[bool, str]:
    from ..data import INFO

    n = len(INFO["pneumoniamnist"]["label_names"])
    return int(answer) == n, f"PneumoniaMNIST has {n} classes: {', '.join(INFO['pneumoniamnist']['label_names'])}."


@exercise("00.commercial", "May you use DermaMNIST images in a commercial product? (yes / no)",
          "read the 'license' field of INFO['dermamnist'].")  # fmt: skip
def _commercial(answer: Any) -> tuple[bool, str]:
    ok = _word(answer) in {"no", "false", "n"}
    return ok, "CC BY-NC 4.0: non-commercial use only." if ok else "Not quite."


# ------------------------------------------------------------------ 01 neurons
@exercise("01.sigmoid_at_zero", "What does the sigmoid output when its input is 0?",
          "sigmoid(z) = 1 / (1 + exp(-z)); exp(0) = 1.")  # fmt: skip
def _sigmoid0(answer: Any) -> tuple[bool, str]:
    return _close(answer, 0.5), "sigmoid(0) = 1 / (1 + e^0) = 0.5"


@exercise("01.negative_outputs", "Which activation (sigmoid, tanh or relu) can output negative values?",
          "draw the three curves with the playground's menu and look at their lowest values.")  # fmt: skip
def _negative(answer: Any) -> tuple[bool, str]:
    ok = _word(answer) == "tanh"
    return ok, "tanh ranges over (-1, 1); sigmoid over (0, 1) and ReLU over [0, inf)." if ok else "Not this one."


@exercise("01.separate", "Find w1, w2, b so that the neuron classifies at least 95% of the playground's points "
          "correctly. Answer with (w1, w2, b) or the playground itself.",
          "the boundary w1*x1 + w2*x2 + b = 0 must run between the clouds; class 1 is upper right, so "
          "both weights should be positive.")  # fmt: skip
def _separate(answer: Any) -> tuple[bool, str]:
    from ..widgets.neuron import NeuronPlayground

    if isinstance(answer, NeuronPlayground):
        w1, w2, b = answer.w1, answer.w2, answer.b
    else:
        w1, w2, b = (float(v) for v in answer)
    acc = NeuronPlayground(w1, w2, b).accuracy()
    return acc >= 0.95, f"accuracy {acc:.0%} with w1={w1:g}, w2={w2:g}, b={b:g}."


@exercise("01.and_gate", "Give (w1, w2, b) for a sigmoid neuron that outputs > 0.5 only for the input (1, 1) "
          "among (0,0), (0,1), (1,0), (1,1): logical AND.",
          "z must be positive for (1, 1) only: try w1 = w2 = 1 and a negative bias between -2 and -1.")  # fmt: skip
def _and_gate(answer: Any) -> tuple[bool, str]:
    w1, w2, b = (float(v) for v in answer)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    z = x @ np.array([w1, w2]) + b
    out = (1.0 / (1.0 + np.exp(-z)) > 0.5).astype(int)
    return bool(np.array_equal(out, [0, 0, 0, 1])), f"outputs for (0,0),(0,1),(1,0),(1,1): {out.tolist()}."


# ------------------------------------------------------------------ 02 backpropagation
@exercise("02.sigmoid_slope", "What is the derivative of the sigmoid at z = 0?",
          "sigmoid'(z) = sigmoid(z) * (1 - sigmoid(z)).")  # fmt: skip
def _slope(answer: Any) -> tuple[bool, str]:
    return _close(answer, 0.25), "sigmoid'(0) = 0.5 * 0.5 = 0.25: the largest slope the sigmoid has."


@exercise("02.chain_rule", "For L(w) = (w*x - y)^2 with x = 2, y = 1, what is dL/dw at w = 3?",
          "chain rule: dL/dw = 2 (w x - y) * x.")  # fmt: skip
def _chain(answer: Any) -> tuple[bool, str]:
    return _close(answer, 20.0), "dL/dw = 2 (3*2 - 1) * 2 = 20."


@exercise("02.divergence", "Gradient descent w <- w - lr * f'(w) on f(w) = w^2: above which learning rate does it "
          "diverge from any w != 0?",
          "one step gives w <- (1 - 2 lr) w; it shrinks only while |1 - 2 lr| < 1.")  # fmt: skip
def _divergence(answer: Any) -> tuple[bool, str]:
    return _close(answer, 1.0), "|1 - 2 lr| > 1 for lr > 1: each step overshoots further."


# ------------------------------------------------------------------ 03 CNN for pneumonia
@exercise("03.sensitivity", "From the confusion matrix cm (rows true, columns predicted; class 1 = pneumonia), "
          "what is the sensitivity (recall of pneumonia)?",
          "sensitivity = TP / (TP + FN) = cm[1, 1] / cm[1].sum().")  # fmt: skip
def _sensitivity(answer: Any, cm: Any = None) -> tuple[bool, str]:
    if cm is None:
        raise ValueError("pass the confusion matrix: check('03.sensitivity', answer, cm=cm)")
    cm = np.asarray(cm, dtype=np.float64)
    value = cm[1, 1] / cm[1].sum() if cm[1].sum() else float("nan")
    return _close(answer, value, 1e-3), f"sensitivity = {cm[1, 1]:.0f} / {cm[1].sum():.0f} = {value:.3f}."


@exercise("03.threshold_direction", "To miss fewer pneumonias, do you lower or raise the decision threshold?",
          "an image is called pneumonia when p(pneumonia) >= threshold.")  # fmt: skip
def _direction(answer: Any) -> tuple[bool, str]:
    ok = _word(answer) in {"lower", "lowerit", "decrease", "down"}
    return ok, ("a lower threshold calls more images pneumonia: sensitivity rises, specificity falls."
                if ok else "Not that way.")  # fmt: skip


@exercise("03.overconfident", "A model says p = 0.9 for 100 images and 60 of them have pneumonia. Is it "
          "over- or under-confident?",
          "compare the stated probability with the observed frequency.")  # fmt: skip
def _overconfident(answer: Any) -> tuple[bool, str]:
    ok = _word(answer).startswith("over")
    return ok, "it claims 90% but is right 60% of the time: overconfident." if ok else "Not that way."
