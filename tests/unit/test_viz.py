"""Tests of xai_lab.viz: colour maps, overlays, PNG encoding and the plotly figure builders."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import numpy as np
import pytest

from xai_lab import viz
from xai_lab.explain import Explanation


def _explanation(n: int = 3, size: int = 12, channels: int = 1, k: int = 2, seed: int = 0) -> Explanation:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Explanation(
        maps=rng.normal(size=(n, size, size)),
        inputs=rng.uniform(size=(n, size, size, channels)),
        targets=p.argmax(1),
        predictions=p.argmax(1),
        probabilities=p,
        method="test",
    )


# ------------------------------------------------------------------ colour maps
def test_colormap_tables_have_known_end_points():
    jet = viz.colormap_table("jet")
    assert jet.shape == (256, 3) and jet.dtype == np.uint8
    np.testing.assert_array_equal(jet[0], [0, 0, 128])  # dark blue
    np.testing.assert_array_equal(jet[-1], [128, 0, 0])  # dark red
    np.testing.assert_array_equal(viz.colormap_table("viridis")[0], [0x44, 0x01, 0x54])
    np.testing.assert_array_equal(viz.colormap_table("viridis")[-1], [0xFD, 0xE7, 0x25])
    np.testing.assert_array_equal(viz.colormap_table("inferno")[0], [0, 0, 4])
    rdbu = viz.colormap_table("RdBu_r")
    np.testing.assert_array_equal(rdbu[0], [0x05, 0x30, 0x61])  # negative: blue
    np.testing.assert_array_equal(rdbu[-1], [0x67, 0x00, 0x1F])  # positive: red
    with pytest.raises(ValueError, match="unknown colour map 'hot'"):
        viz.colormap_table("hot")


def test_colormap_tables_are_read_only():
    with pytest.raises(ValueError):
        viz.colormap_table("jet")[0, 0] = 1


def test_colorize_minmax_and_symmetric():
    m = np.array([[0.0, 1.0], [2.0, 4.0]])
    rgb = viz.colorize(m, "gray")
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], [[0, 64], [128, 255]])
    # symmetric: zero lands in the middle of a diverging map (near-white for RdBu_r)
    signed = np.array([[-2.0, 0.0], [1.0, 2.0]])
    mid = viz.colorize(signed, "RdBu_r")[0, 1]
    np.testing.assert_array_equal(mid, viz.colormap_table("RdBu_r")[128])
    assert mid.min() > 230
    np.testing.assert_array_equal(viz.colorize(signed, "RdBu_r")[0, 0], viz.colormap_table("RdBu_r")[0])
    # forcing symmetric on a sequential map centres zero too
    np.testing.assert_array_equal(viz.colorize(signed, "gray", symmetric=True)[0, 1], [128, 128, 128])


def test_colorize_constant_and_nan_maps_do_not_fail():
    assert np.all(viz.colorize(np.zeros((3, 3)), "jet") == viz.colormap_table("jet")[0])
    m = np.array([[np.nan, 1.0], [0.0, 2.0]])
    rgb = viz.colorize(m, "gray")
    np.testing.assert_array_equal(rgb[0, 0], [0, 0, 0])
    assert viz.normalize_map(np.full((2, 2), np.nan)).max() == 0.0
    with pytest.raises(ValueError, match="2-D"):
        viz.colorize(np.zeros((2, 2, 2)))


def test_overlay_blends_and_accepts_grey_float_and_uint8():
    img = np.zeros((4, 4, 1), np.float32)
    heat = np.ones((4, 4))
    out = viz.overlay(img, heat, alpha=1.0, cmap="gray")
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    # constant map -> lowest colour; alpha 0 -> the image itself
    np.testing.assert_array_equal(viz.overlay((np.arange(16).reshape(4, 4) * 10).astype(np.uint8), heat, alpha=0.0),
                                  np.repeat((np.arange(16).reshape(4, 4, 1) * 10).astype(np.uint8), 3, -1))
    white = np.full((4, 4, 3), 255, np.uint8)
    ramp = np.linspace(0, 1, 16).reshape(4, 4)
    half = viz.overlay(white, ramp, alpha=0.5, cmap="gray")
    np.testing.assert_array_equal(half[0, 0], [128, 128, 128])  # (255 + 0) / 2 rounded
    np.testing.assert_array_equal(half[-1, -1], [255, 255, 255])
    with pytest.raises(ValueError, match="alpha"):
        viz.overlay(white, ramp, alpha=1.5)
    with pytest.raises(ValueError, match="differs"):
        viz.overlay(white, np.zeros((3, 3)))


def test_png_round_trip_and_data_uri():
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    png = viz.to_png_bytes(rgb)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), rgb)
    uri = viz.to_data_uri(rgb)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == png
    assert viz.to_data_uri(np.zeros((3, 3, 1), np.float32)).startswith("data:image/png")
    with pytest.raises(TypeError, match="uint8"):
        viz.to_png_bytes(rgb.astype(np.float32))


def test_plotly_colorscale_is_valid():
    import plotly.graph_objects as go

    scale = viz.plotly_colorscale("viridis")
    assert scale[0][0] == 0.0 and scale[-1][0] == 1.0
    go.Heatmap(z=[[0, 1]], colorscale=scale)  # plotly validates the scale


def test_import_viz_does_not_import_plotly_or_tensorflow():
    code = "import sys, xai_lab.viz; print('plotly' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------ figures
def test_explanation_figure_has_image_overlay_and_colorbar():
    e = _explanation()
    fig = viz.explanation_figure(e, index=1, alpha=0.3, cmap="RdBu_r", label_names=["normal", "pneumonia"])
    kinds = [t.type for t in fig.data]
    assert kinds == ["image", "image", "scatter"]
    assert fig.data[0].source.startswith("data:image/png;base64,")
    bar = fig.data[2].marker
    assert bar.showscale and bar.cmin == -bar.cmax  # diverging map centred on zero
    assert "test for" in fig.layout.title.text and "predicted" in fig.layout.title.text
    overlay_png = base64.b64decode(fig.data[1].source.split(",", 1)[1])
    assert overlay_png == viz.to_png_bytes(viz.overlay(e.inputs[1], e.maps[1], alpha=0.3, cmap="RdBu_r"))


def test_compare_figure_grid_shape_and_mismatch():
    a, b = _explanation(), _explanation(seed=1)
    fig = viz.compare_figure({"a": a, "b": b}, n_images=2)
    assert len(fig.data) == 2 * 3  # rows x (image + two methods)
    with pytest.raises(ValueError, match="same images"):
        viz.compare_figure({"a": a, "c": _explanation(size=8)})
    with pytest.raises(ValueError):
        viz.compare_figure({})


def test_training_curves_splits_loss_and_metrics():
    fig = viz.training_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8],
                               "val_accuracy": [0.4, 0.7], "learning_rate": [1e-3, 1e-3]})
    names = [t.name for t in fig.data]
    assert names == ["loss", "val_loss", "accuracy", "val_accuracy"]
    assert fig.data[1].line.dash == "dash"
    np.testing.assert_array_equal(fig.data[0].x, [1, 2])


def test_roc_points_and_auc_match_scikit_learn():
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.uniform(size=200) + 0.4 * y, 2)  # ties on purpose
    fpr, tpr, _ = viz.roc_curve_points(y, s)
    f2, t2, _ = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    fig = viz.roc_figure(y, s, threshold=0.5)
    assert f"AUC {roc_auc_score(y, s):.3f}" in fig.data[1].name
    with pytest.raises(ValueError, match="both classes"):
        viz.roc_curve_points([1, 1], [0.2, 0.3])


def test_confusion_figure_counts_and_normalisation():
    cm = np.array([[5, 1], [0, 0]])
    fig = viz.confusion_figure(cm, ["normal", "pneumonia"], normalize=True)
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z, [[5 / 6, 1 / 6], [0, 0]])
    assert fig.data[0].text[0][0].startswith("5")
    with pytest.raises(ValueError, match="square"):
        viz.confusion_figure(np.zeros((2, 3)))


def test_probability_bar_highlights_the_best_class():
    fig = viz.probability_bar([0.1, 0.7, 0.2], ["a", "b", "c"])
    colors = list(fig.data[0].marker.color)
    assert colors.count(colors[1]) == 1 and list(fig.data[0].y) == ["a", "b", "c"]


def test_image_grid_and_mimebundle():
    fig = viz.image_grid(np.zeros((5, 6, 6, 1), np.uint8), titles=list("abcde"), cols=3)
    assert len(fig.data) == 5
    bundle = viz.figure_mimebundle(fig)
    assert "application/vnd.plotly.v1+json" in bundle and "text/plain" in bundle
    assert len(str(bundle)) < 50_000


def test_reliability_points_and_calibration_figure():
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.95, 0.05], [0.1, 0.9], [0.85, 0.15], [0.55, 0.45]])
    conf, acc, counts = viz.reliability_points(y, p, n_bins=10)
    # bins are (0, 0.1], ..., (0.9, 1]: 0.9 falls in the ninth
    assert counts.sum() == 4 and counts[9] == 1 and counts[8] == 2 and counts[5] == 1
    np.testing.assert_allclose(conf[8], 0.875)
    np.testing.assert_allclose(acc[8], 0.5)
    np.testing.assert_allclose(acc[9], 1.0)
    assert np.isnan(conf[0])
    fig = viz.calibration_figure(y, {"model": p})
    assert len(fig.data) == 2 and len(fig.data[1].x) == 3


def test_widgets_without_keras_do_not_import_tensorflow():
    code = ("import sys; from xai_lab.widgets import NeuronPlayground, LearningRatePlayground; "
            "NeuronPlayground().figure; print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
