"""Notebook 16's helpers: rotation scores, the shared-scale map grid, and its exercises."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab.course import EXERCISES, check
from xai_lab.course import symmetry as sym


def test_exercises_of_notebook_16_are_registered():
    assert {k for k in EXERCISES if k.startswith("16.")} == {
        "16.shift", "16.group_conv_weights", "16.rotated_accuracy"}


def test_shift_and_weight_count_answers():
    assert check("16.shift", 1).correct
    bad = check("16.shift", 3)
    assert not bad.correct and "Hint:" in bad.message
    assert check("16.group_conv_weights", 4608, in_filters=8, filters=16, kernel_size=3).correct
    assert not check("16.group_conv_weights", 4 * 4608, in_filters=8, filters=16, kernel_size=3).correct


def test_group_conv_weight_count_is_what_the_layer_learns():
    pytest.importorskip("keras")
    from xai_lab.models import equivariant as eq

    layer = eq.P4GroupConv2D(16, 3, use_bias=False)
    layer.build((None, 8, 8, 32))
    assert check("16.group_conv_weights", layer.count_params(), in_filters=8, filters=16,
                 kernel_size=3).correct


def test_rotation_scores_and_the_rotated_accuracy_exercise():
    keras = pytest.importorskip("keras")
    from xai_lab import models
    from xai_lab.data.dataset import Dataset

    keras.utils.set_random_seed(0)
    model = models.build("p4cnn", (12, 12, 1), 3, filters=(4,), dense=8)
    rng = np.random.default_rng(0)
    ds = Dataset(images=rng.integers(0, 256, (30, 12, 12, 1), dtype=np.uint8),
                 labels=rng.integers(0, 3, 30), info={"task": "multiclass"}, name="t", split="val", source="test")
    scores = sym.rotation_scores(model, ds, angles=(0, 90, 180, 270, 45))
    assert set(scores) == {0, 90, 180, 270, 45}
    assert len({scores[a]["acc"] for a in (0, 90, 180, 270)}) == 1
    assert all(scores[a]["agree"] == 1.0 for a in (0, 90, 180, 270))
    acc = float((models.predict_proba(model, ds.images).argmax(1) == ds.labels).mean())
    assert scores[0]["acc"] == pytest.approx(acc)
    assert check("16.rotated_accuracy", acc, model=model, dataset=ds).correct
    assert not check("16.rotated_accuracy", acc + 0.1, model=model, dataset=ds).correct
    assert not check("16.rotated_accuracy", acc).correct  # no context: explained, not raised


def test_map_grid_puts_every_panel_on_one_scale_with_a_colour_bar():
    a = np.array([[0.0, 1.0], [2.0, 3.0]])
    fig = sym.map_grid({"a": a, "b": -2 * a}, cmap="RdBu_r", colorbar="relevance", title="t")
    axis = fig.layout.coloraxis
    assert (axis.cmin, axis.cmax) == (-6.0, 6.0) and axis.colorbar.title.text == "relevance"
    assert [t.coloraxis for t in fig.data] == ["coloraxis", "coloraxis"]
    seq = sym.map_grid({"a": a + 1}, cmap="viridis")
    assert (seq.layout.coloraxis.cmin, seq.layout.coloraxis.cmax) == (0.0, 4.0)
    with pytest.raises(ValueError, match="2-D"):
        sym.map_grid({"a": np.zeros((2, 2, 2))})
    with pytest.raises(ValueError, match="colour map"):
        sym.map_grid({"a": a}, cmap="rainbow")
    with pytest.raises(ValueError, match="at least one"):
        sym.map_grid({})
