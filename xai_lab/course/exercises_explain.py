"""Self-check exercises of the explanation notebooks (04 Grad-CAM to 07 evaluating explanations).

Importing this module registers the exercises with :func:`xai_lab.course.exercises.check`;
a notebook calls ``check("04.gradcam_for_class", answer, model=model, x=x, target=0, layer=...)``.
Reference answers are computed with the library from the context the notebook passes, never
stored.

>>> from xai_lab.course import check, exercises_explain  # doctest: +SKIP
>>> check("06.conservation_rule", "epsilon")  # doctest: +SKIP
right: ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .exercises import _word, check, exercise

__all__ = ["check"]


def _compare_arrays(answer: Any, expected: np.ndarray, what: str, rtol: float = 1e-3,
                    atol_scale: float = 1e-4) -> tuple[bool, str]:
    got = np.asarray(answer, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return False, f"your {what} has shape {got.shape}; expected {expected.shape}."
    atol = atol_scale * (float(np.nanmax(np.abs(expected))) if expected.size else 0.0) + 1e-12
    if np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True):
        return True, f"your {what} match the library's."
    err = float(np.nanmax(np.abs(got - expected)))
    return False, f"your {what} differ from the library's by up to {err:.3g}."


def _choice(answer: Any, right: str, explanation: str, wrong: dict[str, str]) -> tuple[bool, str]:
    word = _word(answer)
    if word == _word(right):
        return True, explanation
    for key, message in wrong.items():
        if word == _word(key):
            return False, message
    options = ", ".join(repr(k) for k in [right, *wrong])
    return False, f"{answer!r} is not one of the options ({options})."


# ------------------------------------------------------------------------------ 04 Grad-CAM
@exercise("04.gradcam_for_class",
          "Compute the raw Grad-CAM maps (before upsampling) of the images x for a fixed class.",
          "reuse the from-scratch cell with c fixed to the class (tf.fill or tf.constant) instead of "
          "tf.argmax, and do not upsample.")  # fmt: skip
def _gradcam_for_class(answer: Any, model: Any = None, x: Any = None, target: int = 0,
                       layer: str | None = None) -> tuple[bool, str]:
    from .. import explain

    expected = explain.get("gradcam", layer=layer).explain(model, x, target=target).raw_maps
    return _compare_arrays(answer, expected, "raw Grad-CAM maps")


@exercise("04.coarsest_layer",
          "Which convolutional layer of the model gives the coarsest raw Grad-CAM map?",
          "the raw map has the resolution of the layer's output; pooling halves it.")  # fmt: skip
def _coarsest_layer(answer: Any, model: Any = None) -> tuple[bool, str]:
    import keras

    sizes = {layer.name: int(layer.output.shape[1]) * int(layer.output.shape[2])
             for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
    name = str(answer)
    if name not in sizes:
        return False, f"{name!r} is not a convolutional layer of the model ({', '.join(sizes)})."
    best = min(sizes.values())
    if sizes[name] == best:
        return True, f"{name} has {best} positions, the fewest: its map is the coarsest."
    return False, f"{name} has {sizes[name]} positions; another layer has {best}."


@exercise("04.gradcam_relu",
          "What does the ReLU in L = ReLU(sum_k alpha_k A^k) remove? (a, b, c or d)",
          "negative values of the weighted sum are where the features lower the class score.")  # fmt: skip
def _gradcam_relu(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "a", "the ReLU keeps only regions whose features raise the class score.", {
        "b": "the ReLU acts on the weighted feature map, not on pixel intensities.",
        "c": "Grad-CAM differentiates the logit; the ReLU comes after the weighted sum.",
        "d": "the ReLU acts per position of the summed map, not per channel.",
    })


@exercise("04.why_logits",
          "Why does Grad-CAM differentiate the logit and not the softmax probability? "
          "('saturation' or 'sign')",
          "think of the slope of the softmax when a probability is close to 1.")  # fmt: skip
def _why_logits(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "saturation",
                   "near p = 1 the softmax is flat, so gradients of the probability vanish "
                   "and say little.",
                   {"sign": "softmax is increasing in the class's own logit: it does not flip signs."})


# ------------------------------------------------------------------------------ 05 SHAP
@exercise("05.efficiency",
          "What do the deep SHAP attributions of each image sum to, for a target class?",
          "f_target(x) minus the mean of f_target over the background images (use "
          "models.predict_logits on both).")  # fmt: skip
def _shap_efficiency(answer: Any, model: Any = None, x: Any = None, background: Any = None,
                     target: int = 0) -> tuple[bool, str]:
    from ..explain.base import as_model_input, predict_logits

    fx = predict_logits(model, as_model_input(x))[:, target]
    fb = predict_logits(model, as_model_input(background))[:, target].mean()
    return _compare_arrays(answer, fx - fb, "sums", rtol=1e-3, atol_scale=1e-3)


@exercise("05.background",
          "A SHAP value measures a pixel's contribution relative to what? (a, b or c)",
          "look at what the sum of the attributions equals.")  # fmt: skip
def _background(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "b", "the attributions add up to f(x) - E[f(background)].", {
        "a": "an all-black background is one choice among many, not SHAP's definition.",
        "c": "the prediction for x is what is explained, not the reference.",
    })


@exercise("05.partition_cost",
          "What does the partition explainer's max_evals count? "
          "('model calls', 'pixels' or 'background images')",
          "it is a budget: what costs time?")  # fmt: skip
def _partition_cost(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "model calls",
                   "each evaluation is a call of the model on a partly blurred image.", {
                       "pixels": "the partition explainer masks groups of pixels; the budget counts "
                                 "what costs time.",
                       "background images": "the partition explainer blurs masked regions; it uses "
                                            "no background set.",
                   })


# ------------------------------------------------------------------------------ 06 deep Taylor
@exercise("06.relevance_sum",
          "Compute the total relevance of each map of an explanation.",
          "sum each map over its two spatial axes: e.maps.sum(axis=(1, 2)).")  # fmt: skip
def _relevance_sum(answer: Any, explanation: Any = None) -> tuple[bool, str]:
    expected = explanation.maps.reshape(len(explanation), -1).sum(axis=1)
    return _compare_arrays(answer, expected, "totals", rtol=1e-4, atol_scale=1e-5)


@exercise("06.zplus_step",
          "One z+ step through a dense layer: R_j = a_j sum_k w+_jk R_k / z_k with z_k = sum_j a_j w+_jk.",
          "keep only positive weights (np.maximum(w, 0)), compute z = a @ w+, then "
          "R = a * ((r / z) @ w+.T).")  # fmt: skip
def _zplus_step(answer: Any, a: Any = None, w: Any = None, r: Any = None) -> tuple[bool, str]:
    wp = np.maximum(np.asarray(w, np.float64), 0.0)
    a = np.asarray(a, np.float64)
    z = a @ wp
    s = np.divide(np.asarray(r, np.float64), z, out=np.zeros_like(z), where=z != 0)
    ok, message = _compare_arrays(answer, a * (s @ wp.T), "input relevances", rtol=1e-6, atol_scale=1e-9)
    if ok:
        message += f" They sum to {float(np.sum(a * (s @ wp.T))):g}, the sum of r: conservation."
    return ok, message


@exercise("06.conservation_rule",
          "Which rule does not conserve relevance? ('z+', 'epsilon', 'w2' or 'zb')",
          "which rule has a term in its denominator that the numerators do not share?")  # fmt: skip
def _conservation_rule(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "epsilon",
                   "the epsilon in the denominator (and any bias in z) absorbs part of the relevance.", {
                       "z+": "z+ passes each unit's whole relevance to its inputs (biases ignored).",
                       "w2": "w^2 shares by squared weights, which add up to the whole.",
                       "zb": "z^B passes all relevance to the pixels within the bounds.",
                   })


@exercise("06.zb_bounds",
          "Which bounds (low, high) should z^B use for the model's input pixels?",
          "the model sees pixels divided by 255.")  # fmt: skip
def _zb_bounds(answer: Any) -> tuple[bool, str]:
    low, high = (float(v) for v in answer)
    ok = low == 0.0 and high == 1.0
    return ok, ("pixels scaled to [0, 1]: low = 0, high = 1." if ok
                else f"({low:g}, {high:g}) are not the smallest and largest input values.")


# ------------------------------------------------------------------------------ 07 evaluating
@exercise("07.deletion_direction",
          "For the deletion curve, is a lower or a higher AUC better?",
          "deletion removes the most relevant pixels first; what should the score do?")  # fmt: skip
def _deletion_direction(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "lower",
                   "a faithful map makes the score fall fast: a small area under the curve.",
                   {"higher": "a high deletion AUC means the score survived the removal of the "
                              "'relevant' pixels."})


@exercise("07.randomisation_verdict",
          "A method passes the cascading randomisation test when ... (a, b or c)",
          "compare the maps of the trained model with those of the randomised one.")  # fmt: skip
def _randomisation_verdict(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "b", "maps that change when the weights are destroyed depend on what was learnt.", {
        "a": "unchanged maps for a destroyed model cannot be explaining what the model learnt.",
        "c": "the test compares a method with itself; the lesion plays no part.",
    })


@exercise("07.mass_on_mask",
          "Compute, per image, the share of positive relevance inside the mask.",
          "m = np.maximum(e.maps, 0); (m * masks).sum((1, 2)) / m.sum((1, 2)).")  # fmt: skip
def _mass_on_mask(answer: Any, explanation: Any = None, masks: Any = None) -> tuple[bool, str]:
    maps = np.maximum(explanation.maps.astype(np.float64), 0.0)
    m = np.asarray(masks, bool)
    total = maps.reshape(len(maps), -1).sum(axis=1)
    inside = (maps * m).reshape(len(maps), -1).sum(axis=1)
    expected = np.divide(inside, total, out=np.full_like(total, np.nan), where=total > 0)
    return _compare_arrays(answer, expected, "shares", rtol=1e-4, atol_scale=1e-6)
