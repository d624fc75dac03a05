"""Notebook 15's exercises (a right and a wrong answer each) and the agreement figure."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab.course import EXERCISES, check
from xai_lab.edge import exercises  # noqa: F401  (registers 15.*)

RIGHT_AND_WRONG = {
    "15.size_ratio": ((3.6, {"sizes": {"float32": 441584, "int8": 123344}}),
                      (2.0, {"sizes": {"float32": 441584, "int8": 123344}})),
    "15.white_pixel_code": ((127, {}), (255, {})),
    "15.representative_split": (("train", {}), ("val", {})),
    "15.explains_tflite": (("occlusion", {}), ("gradcam", {})),
}


def test_every_exercise_of_notebook_15_is_covered_here():
    assert {k for k in EXERCISES if k.startswith("15.")} == set(RIGHT_AND_WRONG)


@pytest.mark.parametrize("ex", sorted(RIGHT_AND_WRONG))
def test_right_answers_pass_and_wrong_ones_get_the_hint(ex):
    (right, ctx_right), (wrong, ctx_wrong) = RIGHT_AND_WRONG[ex]
    assert check(ex, right, **ctx_right).correct
    bad = check(ex, wrong, **ctx_wrong)
    assert not bad.correct and "Hint:" in bad.message
    assert not check(ex, ...).correct


def test_size_ratio_without_sizes_says_what_to_pass():
    result = check("15.size_ratio", 3.6)
    assert not result.correct and "sizes" in result.message


def test_agreement_figure():
    from xai_lab.edge import agreement_figure
    from xai_lab.explain import Explanation

    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 8, 8)).astype(np.float32)

    def expl(m):
        return Explanation(maps=m, inputs=rng.random((3, 8, 8, 1)).astype(np.float32) * 0 + 0.5,
                           targets=np.array([1, 0, 1]), predictions=np.array([1, 0, 1]),
                           probabilities=np.full((3, 2), 0.5, np.float32), method="occlusion",
                           parameters={"patch_size": 2})

    fig = agreement_figure(expl(maps), expl(maps + 0.1), n_images=2, label_names=["normal", "pneumonia"],
                           colorbar_title="logit drop")
    images = [t for t in fig.data if t.type == "image"]
    assert len(images) == 2 * 4
    bars = [t for t in fig.data if t.type == "scatter"]
    assert len(bars) == 1 and bars[0].marker.cmin == -bars[0].marker.cmax  # centred at zero
    assert bars[0].marker.colorbar.title.text == "logit drop"
    text = fig.layout.title.text
    assert "Occlusion" in text and "8x8" in text
    annotations = [a.text for a in fig.layout.annotations]
    assert "#0 for pneumonia" in annotations and any("ρ=" in a for a in annotations)
