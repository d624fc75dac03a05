"""Self-check exercises of the application notebooks (08 skin lesions to 12 limits).

Importing this module registers the exercises with :func:`xai_lab.course.exercises.check`;
a notebook calls ``check("09.grade_mae", answer, labels=..., predictions=...)``. Reference
answers are computed from the context the notebook passes, never stored.

>>> from xai_lab.course import check, exercises_applications  # doctest: +SKIP
>>> check("10.vit_tokens", 50, image_size=28, patch_size=4)  # doctest: +SKIP
right: ...
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .exercises import _word, check, exercise
from .exercises_explain import _choice, _compare_arrays

__all__ = ["check"]


def _number(answer: Any, expected: float, tol: float = 1e-3) -> bool:
    return math.isclose(float(answer), float(expected), rel_tol=tol, abs_tol=tol)


# ------------------------------------------------------------------------------ 08 skin lesions
@exercise("08.majority_balanced_accuracy",
          "What balanced accuracy does a model get that always predicts the majority class?",
          "balanced accuracy is the mean of the recalls of the classes; what is the recall of a "
          "class the model never predicts?")  # fmt: skip
def _majority_balanced_accuracy(answer: Any, n_classes: int = 7) -> tuple[bool, str]:
    value = 1.0 / int(n_classes)
    ok = _number(answer, value)
    return ok, (f"recall 1 for the majority class, 0 for the {n_classes - 1} others: 1/{n_classes} = {value:.3f}."
                if ok else f"{answer} is not the mean of the per-class recalls.")


@exercise("08.grouped_leaks",
          "Split the HAM10000 images by lesion (data.grouped_split, val_fraction=0.3, seed=1): how many "
          "lesions have images on both sides?",
          "tr, va = data.grouped_split(ham_labels, lesions, val_fraction=0.3, seed=1); then "
          "len(set(lesions[tr]) & set(lesions[va])).")  # fmt: skip
def _grouped_leaks(answer: Any, labels: Any = None, groups: Any = None) -> tuple[bool, str]:
    from ..data import grouped_split

    if labels is None or groups is None:
        raise ValueError("HAM10000 was not loaded in this notebook, so there is nothing to check")
    groups = np.asarray(groups)
    tr, va = grouped_split(labels, groups, val_fraction=0.3, seed=1)
    expected = len(set(groups[tr].tolist()) & set(groups[va].tolist()))
    ok = int(answer) == expected
    return ok, (f"{expected}: a grouped split keeps every lesion on one side." if ok
                else f"{answer} lesions: count the lesion ids present in both index sets.")


@exercise("08.gradcam_target",
          "Compute the Grad-CAM maps of x for a given class, whatever the prediction.",
          'explain.get("gradcam").explain(model, x, target=...).maps')  # fmt: skip
def _gradcam_target(answer: Any, model: Any = None, x: Any = None, target: int = 0) -> tuple[bool, str]:
    from .. import explain

    expected = explain.get("gradcam").explain(model, x, target=target).maps
    return _compare_arrays(answer, expected, "Grad-CAM maps")


# ------------------------------------------------------------------------------ 09 retinopathy
@exercise("09.constant_qwk",
          "What is the quadratic weighted kappa of a model that always predicts grade 0?",
          "when one rater always gives the same answer, the observed confusion matrix equals the "
          "one expected by chance.")  # fmt: skip
def _constant_qwk(answer: Any, labels: Any = None) -> tuple[bool, str]:
    from ..training.metrics import qwk

    labels = np.asarray(labels, dtype=np.int64)
    value = qwk(labels, np.zeros_like(labels))
    ok = _number(answer, value)
    return ok, (f"kappa = {value:.3f}: a constant answer agrees with the grades no more than chance."
                if ok else f"{answer} is not the kappa of constant predictions.")


@exercise("09.qwk_weights",
          "Which error costs more under QWK: predicting 1 for a true 3, or 3 for a true 4? "
          "('1 for 3' or '3 for 4')",
          "the weight is (i - j)^2 / (K - 1)^2.")  # fmt: skip
def _qwk_weights(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "1 for 3", "two grades off weighs (2/4)^2 = 0.25, one grade off 0.0625.",
                   {"3 for 4": "that error is one grade off: (1/4)^2 = 0.0625, against 0.25."})


@exercise("09.grade_mae",
          "Compute the mean absolute grade error of the predictions.",
          "np.mean(np.abs(predictions - labels)).")  # fmt: skip
def _grade_mae(answer: Any, labels: Any = None, predictions: Any = None) -> tuple[bool, str]:
    value = float(np.mean(np.abs(np.asarray(predictions) - np.asarray(labels))))
    ok = _number(answer, value)
    return ok, f"mean absolute error {value:.3f} grades." if ok else f"{answer} differs from the mean absolute error."


# ------------------------------------------------------------------------------ 10 RNN / ViT
@exercise("10.vit_tokens",
          "How many tokens, CLS included, does the ViT process?",
          "(image_size // patch_size)^2 patches, plus one CLS token.")  # fmt: skip
def _vit_tokens(answer: Any, image_size: int = 28, patch_size: int = 4) -> tuple[bool, str]:
    value = (int(image_size) // int(patch_size)) ** 2 + 1
    ok = int(answer) == value
    return ok, (f"{value - 1} patches + 1 CLS token = {value}." if ok
                else f"{answer}: count the patches per side, square, and add the CLS token.")


@exercise("10.gradcam_rnn",
          "Why can't Grad-CAM explain the GRU model? ('no spatial feature map' or 'not differentiable')",
          "what does Grad-CAM weight with the gradients?")  # fmt: skip
def _gradcam_rnn(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "no spatial feature map",
                   "Grad-CAM weights the channels of a (h, w, channels) feature map; the GRU has none.",
                   {"not differentiable": "the GRU is differentiable: saliency and integrated gradients "
                                          "explain it."})


@exercise("10.rollout_two_blocks",
          "Compute attention rollout through two blocks: ((A2 + I) / 2) @ ((A1 + I) / 2).",
          "use np.eye for I and put the later block on the left.")  # fmt: skip
def _rollout_two_blocks(answer: Any, A1: Any = None, A2: Any = None) -> tuple[bool, str]:
    a1, a2 = np.asarray(A1, np.float64), np.asarray(A2, np.float64)
    eye = np.eye(len(a1))
    ok, message = _compare_arrays(answer, ((a2 + eye) / 2) @ ((a1 + eye) / 2), "rollout",
                                  rtol=1e-6, atol_scale=1e-9)
    if not ok and np.asarray(answer).shape == a1.shape and np.allclose(
            np.asarray(answer, np.float64), ((a1 + eye) / 2) @ ((a2 + eye) / 2)):
        message = "the order is reversed: the later block goes on the left."
    return ok, message


# ------------------------------------------------------------------------------ 11 shortcuts
@exercise("11.marker_model",
          "Which model puts more Grad-CAM relevance on the marker? ('biased' or 'clean')",
          "shares[(model, 'gradcam')][0] is the share on the marker.")  # fmt: skip
def _marker_model(answer: Any, shares: Any = None) -> tuple[bool, str]:
    on_marker = {name: shares[(name, "gradcam")][0] for name in ("biased", "clean")}
    best = max(on_marker, key=lambda k: -math.inf if np.isnan(on_marker[k]) else on_marker[k])
    ok = _word(answer) == best
    detail = ", ".join(f"{k} {v:.2f}" for k, v in on_marker.items())
    return ok, (f"{best} ({detail})." if ok else f"compare the numbers: {detail}.")


@exercise("11.shortcut_drop",
          "How much accuracy does the biased model lose when the marker disappears?",
          "accuracy(model, with_marker) - accuracy(model, without_marker).")  # fmt: skip
def _shortcut_drop(answer: Any, model: Any = None, with_marker: Any = None,
                   without_marker: Any = None) -> tuple[bool, str]:
    from ..models import predict_proba

    def acc(ds: Any) -> float:
        return float((predict_proba(model, ds.x()).argmax(1) == ds.labels).mean())

    value = acc(with_marker) - acc(without_marker)
    ok = _number(answer, value, 1e-3)
    return ok, f"drop {value:.3f}." if ok else f"{answer} is not accuracy with the marker minus accuracy without."


@exercise("11.other_collection",
          "The chest_xray folder used as 'another collection' is ... (a, b or c)",
          "read section 4 again: where did PneumoniaMNIST come from?")  # fmt: skip
def _other_collection(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "b", "MedMNIST built PneumoniaMNIST from Kermany et al.'s collection: "
                   "same hospital, different preprocessing.", {
                       "a": "both come from the same Guangzhou collection (Kermany et al. 2018).",
                       "c": "they are real radiographs.",
                   })


# ------------------------------------------------------------------------------ 12 limits
@exercise("12.map_justifies",
          "Which statement does a Grad-CAM map on the opacity justify? (a, b, c or d)",
          "a map describes this model, this image, this class and this method; nothing more.")  # fmt: skip
def _map_justifies(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "b", "a map says where evidence for a class lies for this model and image.", {
        "a": "a map explains a prediction, right or wrong; it does not check it against the truth.",
        "c": "generalisation needs external validation, not maps.",
        "d": "relevance is not causation; removing a region can change the image in other ways.",
    })


@exercise("12.accuracy_interval",
          "Half-width of the 95% normal-approximation interval of an accuracy p on n images.",
          "1.96 * np.sqrt(p * (1 - p) / n).")  # fmt: skip
def _accuracy_interval(answer: Any, p: float = 0.85, n: int = 100) -> tuple[bool, str]:
    value = 1.96 * math.sqrt(p * (1 - p) / n)
    ok = _number(answer, value, 1e-2)
    return ok, (f"{value:.3f}: the accuracy is known to about +-{value:.2f}." if ok
                else f"{answer} is not 1.96 * sqrt(p (1 - p) / n).")


@exercise("12.generalisation_evidence",
          "Strongest evidence that a model generalises? ('saliency', 'val' or 'external')",
          "which one tests the model on data it could not have been tuned to?")  # fmt: skip
def _generalisation_evidence(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "external", "new hospitals, collected after training: a real test.", {
        "saliency": "plausible maps say nothing about performance elsewhere.",
        "val": "a validation split from the same collection measures 'more of the same'.",
    })
