"""Self-check exercises of notebook 15 (deploying to the edge).

Importing this module registers them with :func:`xai_lab.course.check`; reference answers
are computed from the context the notebook passes, never stored.

>>> from xai_lab.course import check
>>> from xai_lab.edge import exercises  # noqa: F401  (registers 15.*)
>>> check("15.white_pixel_code", 127)
right: round(1.0 / (1/255)) + (-128) = 127: the int8 input keeps all 256 grey levels exactly.
"""

from __future__ import annotations

from typing import Any

from ..course.exercises import _word, check, exercise

__all__ = ["check"]


@exercise("15.size_ratio",
          "How many times smaller is the int8 file than the float32 file? (one decimal)",
          "divide the float32 file's size by the int8 file's: sizes['float32'] / sizes['int8'].")  # fmt: skip
def _size_ratio(answer: Any, sizes: dict[str, int] | None = None) -> tuple[bool, str]:
    if not sizes or "float32" not in sizes or "int8" not in sizes:
        raise ValueError("pass the sizes: check('15.size_ratio', answer, sizes=sizes)")
    ratio = sizes["float32"] / sizes["int8"]
    ok = abs(float(answer) - ratio) <= 0.051
    return ok, (f"{ratio:.2f}x: int8 weights take 1 byte instead of 4, plus per-channel scales and the "
                "graph itself." if ok else f"{answer} is not float32 / int8 = {ratio:.2f}.")


@exercise("15.white_pixel_code",
          "The int8 input has scale 1/255 and zero point -128. Which int8 code does a white pixel "
          "(value 1.0) get?",
          "q = round(x / scale) + zero_point.")  # fmt: skip
def _white_pixel_code(answer: Any) -> tuple[bool, str]:
    ok = int(answer) == 127
    return ok, ("round(1.0 / (1/255)) + (-128) = 127: the int8 input keeps all 256 grey levels exactly."
                if ok else f"{answer} is not round(1.0 * 255) - 128.")


@exercise("15.representative_split",
          "From which split must int8's representative (calibration) images come: train, val or test?",
          "the images that set the int8 ranges become part of the model.")  # fmt: skip
def _representative_split(answer: Any) -> tuple[bool, str]:
    ok = _word(answer) in {"train", "training", "trainingsplit"}
    return ok, ("train: the ranges they set are part of the model, so val or test images there would "
                "leak into what you then measure on them." if ok else "Not that split.")


@exercise("15.explains_tflite",
          "Which of these can explain the int8 TFLite model: gradcam, saliency, occlusion, "
          "integrated_gradients?",
          "TFLite has no gradients (tensorflow issue 58468): which method needs only forward passes?")  # fmt: skip
def _explains_tflite(answer: Any) -> tuple[bool, str]:
    ok = _word(answer) == "occlusion"
    return ok, ("occlusion: it only runs the model on occluded copies; the three others need gradients "
                "through the model." if ok else f"{answer} needs gradients, which TFLite does not give.")
