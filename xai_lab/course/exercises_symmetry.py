"""Self-check exercises of notebook 16 (symmetry: rotation-equivariant networks).

Importing this module registers the exercises with :func:`xai_lab.course.exercises.check`;
reference answers are computed from the context the notebook passes, never stored.

>>> from xai_lab.course import check, exercises_symmetry  # doctest: +SKIP
>>> check("16.shift", 1)  # doctest: +SKIP
right: ...
"""

from __future__ import annotations

import math
from typing import Any

from .exercises import check, exercise

__all__ = ["check"]


@exercise("16.shift",
          "Rotate an image by 90 degrees counter-clockwise. Which rotation channel r of the lifted "
          "feature map of the turned image holds (rotated) what rotation channel 0 of the "
          "original held?",
          "out_r(rotated x) = rotate(out_{r-1}(x)): the turned image meets the filter rotated one "
          "step less.")  # fmt: skip
def _shift(answer: Any) -> tuple[bool, str]:
    ok = int(answer) == 1
    return ok, ("r = 1: rotating the image shifts the rotation axis by one step, "
                "out_1(rotated x) = rotate(out_0(x))." if ok
                else f"channel {answer} holds rotate(out_{(int(answer) - 1) % 4}(x)), not rotate(out_0(x)).")


@exercise("16.group_conv_weights",
          "How many weights (no bias) does a P4GroupConv2D with `filters` outputs and a "
          "`kernel_size` x `kernel_size` kernel learn on a p4 map of `in_filters` filters "
          "(in_filters * 4 channels)?",
          "one kernel per input filter AND input rotation per output filter; the output "
          "rotations reuse it, rotated.")  # fmt: skip
def _group_conv_weights(answer: Any, in_filters: int = 8, filters: int = 16,
                        kernel_size: int = 3) -> tuple[bool, str]:
    value = int(kernel_size) ** 2 * int(in_filters) * 4 * int(filters)
    ok = int(answer) == value
    plain = int(kernel_size) ** 2 * int(in_filters) * 4 * int(filters) * 4
    return ok, (f"{kernel_size}x{kernel_size} x {in_filters} x 4 x {filters} = {value}; a plain "
                f"Conv2D between the same {4 * int(in_filters)} and {4 * int(filters)} channels "
                f"would learn {plain}, four times as many." if ok
                else f"{answer} is not {kernel_size}^2 x in_filters x 4 x filters.")


@exercise("16.rotated_accuracy",
          "Compute the p4 CNN's validation accuracy on the images rotated by 270 degrees.",
          "models.predict_proba(p4, equivariant.rotate(val.images, 270)).argmax(1), compared "
          "with val.labels.")  # fmt: skip
def _rotated_accuracy(answer: Any, model: Any = None, dataset: Any = None) -> tuple[bool, str]:
    from .symmetry import rotation_scores

    if model is None or dataset is None:
        raise ValueError("pass model= and dataset= so that the answer can be checked")
    scores = rotation_scores(model, dataset, angles=(0, 270))
    value = scores[270]["acc"]
    ok = math.isclose(float(answer), value, abs_tol=1e-6)
    return ok, (f"{value:.4f}, the same as on the upright images ({scores[0]['acc']:.4f}): the "
                "logits are invariant to quarter turns." if ok
                else f"{answer} is not the accuracy on the images turned by 270 degrees.")
