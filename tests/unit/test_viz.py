"""Tests of xai_lab.viz: colour maps, overlays, PNG encoding, map views (resolution, meaning,
blank maps), HTML colour bars and the plotly figure builders."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import numpy as np
import pytest

from xai_lab import viz
from xai_lab.explain import Explanation
from xai_lab.explain.info import MethodInfo

CAM_INFO = MethodInfo("Grad-CAM", signed=False, meaning="where layer {layer} raises the score of {target}",
                      high="raises the score of {target}", low="no positive evidence")
SIGNED_INFO = MethodInfo("SHAP", signed=True, meaning="share of the score of {target}",
                         high="raised the score of {target}", low="lowered the score of {target}")


def _explanation(n: int = 3, size: int = 12, channels: int = 1, k: int = 2, seed: int = 0, **extra) -> Explanation:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    kwargs = dict(
        maps=rng.normal(size=(n, size, size)),
        inputs=rng.uniform(size=(n, size, size, channels)),
        targets=p.argmax(1),
        predictions=p.argmax(1),
        probabilities=p,
        method="test",
    )
    kwargs.update(extra)
    return Explanation(**kwargs)


def _cam(n: int = 2, size: int = 12, grid: int = 3, seed: int = 0, blank: int | None = None) -> Explanation:
    """A Grad-CAM-like explanation: a non-negative coarse map ``raw_maps`` (grid x grid)."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0.1, 1.0, size=(n, grid, grid))
    if blank is not None:
        raw[blank] = 0.0
    up = viz.resize_nearest(raw[0], (size, size))
    maps = np.stack([viz.resize_nearest(r, (size, size)) for r in raw]) if n else up[None][:0]
    return _explanation(n=n, size=size, seed=seed, maps=maps, raw_maps=raw, info=CAM_INFO,
                        method="gradcam", layer="last_relu")


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


def test_coolwarm_is_morelands_table_and_is_the_default_for_signed_maps():
    cw = viz.colormap_table("coolwarm")
    # CoolWarmFloat33 (Moreland 2009): first, middle and last control points
    np.testing.assert_array_equal(cw[0], np.round(np.array([0.2298057, 0.298717966, 0.753683153]) * 255))
    np.testing.assert_array_equal(cw[-1], np.round(np.array([0.705673158, 0.01555616, 0.150232812]) * 255))
    middle = np.round(np.array([0.865395197, 0.86541021, 0.865395561]) * 255)
    assert np.abs(cw[127].astype(int) - middle).max() <= 2 and np.abs(cw[128].astype(int) - middle).max() <= 2
    signed = np.array([[-1.0, 0.0], [0.5, 1.0]])
    np.testing.assert_array_equal(viz.colorize(signed), viz.colorize(signed, "coolwarm"))
    positive = np.array([[0.0, 0.2], [0.5, 1.0]])
    np.testing.assert_array_equal(viz.colorize(positive), viz.colorize(positive, "viridis"))
    assert viz.DIVERGING == "coolwarm" and viz.SEQUENTIAL == "viridis"


def test_no_rainbow_by_default_anywhere():
    import inspect

    from xai_lab.viz import figures, maps, overlay

    for module in (figures, maps, overlay):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            for p in inspect.signature(fn).parameters.values():
                assert p.default != "jet", f"{module.__name__}.{name}({p.name}='jet')"


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


def test_value_opacity_leaves_zero_untouched():
    img = np.full((2, 2, 1), 0.5, np.float32)
    heat = np.array([[0.0, 1.0], [0.5, 0.0]])
    out = viz.overlay(img, heat, alpha=0.8, cmap="viridis", opacity="value", vmin=0.0, vmax=1.0)
    np.testing.assert_array_equal(out[0, 0], [128, 128, 128])  # zero: the image unchanged
    top = np.round(0.2 * 128 + 0.8 * viz.colormap_table("viridis")[-1].astype(float))
    np.testing.assert_array_equal(out[0, 1], top)
    signed = viz.overlay(img, np.array([[0.0, -1.0], [1.0, 0.0]]), alpha=1.0, opacity="value")
    np.testing.assert_array_equal(signed[0, 0], [128, 128, 128])
    np.testing.assert_array_equal(signed[0, 1], viz.colormap_table("coolwarm")[0])
    with pytest.raises(ValueError, match="opacity"):
        viz.overlay(img, heat, opacity="fancy")


def test_resize_nearest_and_enlarge_make_blocks():
    grid = np.arange(6.0).reshape(2, 3)
    big = viz.resize_nearest(grid, (4, 6))
    np.testing.assert_array_equal(big, np.repeat(np.repeat(grid, 2, 0), 2, 1))
    odd = viz.resize_nearest(grid, (5, 7))  # not a multiple: blocks differ by one pixel at most
    assert odd.shape == (5, 7) and set(np.unique(odd)) == set(grid.ravel())
    img = np.arange(4, dtype=np.uint8).reshape(2, 2)
    np.testing.assert_array_equal(viz.enlarge(img, 3)[:3, :3], 0)
    assert viz.scale_for((28, 28), 168) == 6 and viz.scale_for((128, 128), 168) == 1
    assert viz.scale_for((64, 64), 168) == 3 and viz.scale_for((300, 300), 168) == 1
    with pytest.raises(ValueError):
        viz.enlarge(img, 0)


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


# ------------------------------------------------------------------ map views
def test_map_view_of_a_coarse_map_is_its_grid_drawn_as_blocks():
    e = _cam(size=12, grid=3)
    v = viz.map_view(e, 1, ["normal", "pneumonia"])
    assert v.heat.shape == (3, 3) and v.native and not v.blank
    assert v.cmap == "viridis" and not v.signed and v.lo == 0.0 and v.hi == pytest.approx(e.raw_maps[1].max())
    assert v.title == "Grad-CAM" and "3 x 3 grid of layer last_relu" in v.resolution
    assert v.target in ("'normal'", "'pneumonia'") and v.target in v.meaning and v.target in v.high_label
    assert v.legend.startswith("yellow: raises the score of")
    rgb = viz.render_overlay(e, 1, size=48)
    assert rgb.shape == (48, 48, 3)  # 12 px enlarged 4 times
    # every 16 x 16 block (one grid cell over 4 x 4 image pixels of 4 x 4 screen pixels) holds
    # one map value: where the image is uniform the colour is too
    flat = _cam(size=12, grid=3)
    flat = Explanation(**{**{k: getattr(flat, k) for k in ("maps", "targets", "predictions", "probabilities",
                                                           "raw_maps", "info", "method", "layer")},
                          "inputs": np.full((2, 12, 12, 1), 0.5)})
    cells = viz.render_overlay(flat, 0, size=48).reshape(3, 16, 3, 16, 3)
    assert np.all(cells.max(axis=(1, 3)) == cells.min(axis=(1, 3)))
    smooth = viz.map_view(e, 1, native=False)
    assert smooth.heat.shape == (12, 12) and "smoothed (bilinear)" in smooth.resolution


def test_map_view_signed_maps_are_centred_and_a_negative_unsigned_map_is_not_hidden():
    e = _explanation(info=SIGNED_INFO)
    v = viz.map_view(e, 0)
    assert v.signed and v.cmap == "coolwarm" and v.lo == -v.hi and v.hi == pytest.approx(np.abs(e.maps[0]).max())
    assert "lowered" in v.low_label and v.legend.startswith("red:")
    odd = _explanation(info=CAM_INFO)  # declared non-negative, but holds negative values
    assert viz.map_view(odd, 0).signed and viz.map_view(odd, 0).cmap == "coolwarm"
    assert viz.map_view(e, 0, vmax=10.0).hi == 10.0


def test_blank_maps_say_why_and_show_the_image_alone():
    e = _cam(blank=1, size=12)
    e = Explanation(**{**{k: getattr(e, k) for k in ("maps", "inputs", "targets", "predictions",
                                                    "probabilities", "raw_maps", "info", "method", "layer")},
                       "degenerate": np.array(["", "no positive evidence for {target} at layer last_relu"])})
    v = viz.map_view(e, 1, ["normal", "pneumonia"])
    assert v.blank and v.note.startswith("no positive evidence for '") and "last_relu" in v.note
    np.testing.assert_array_equal(viz.render_overlay(e, 1, size=24),
                                  viz.enlarge(viz.model_image(e, 1), 2))
    svg = viz.colorbar_svg(v)
    assert 'class="xai-colorbar"' in svg and "blank" in svg
    generic = _explanation(maps=np.zeros((3, 12, 12)))  # no reason given: the generic one
    assert "zero everywhere" in viz.map_view(generic, 0).note


def test_colorbar_svg_has_ticks_and_words_for_both_ends():
    from xml.etree import ElementTree

    v = viz.map_view(_explanation(info=SIGNED_INFO), 0, ["normal", "pneumonia"])
    svg = viz.colorbar_svg(v, width=200)
    root = ElementTree.fromstring(svg)  # well-formed
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "0" in texts and any(t.startswith("\u2212") for t in texts)  # -m, 0, +m
    joined = " ".join(texts)
    assert "lowered the score of" in joined and "raised the score of" in joined
    assert root.find("{http://www.w3.org/2000/svg}title") is not None
    stops = root.findall(".//{http://www.w3.org/2000/svg}stop")
    assert stops[0].get("stop-color") == "#{:02x}{:02x}{:02x}".format(*viz.colormap_table("coolwarm")[0])
    short = ElementTree.fromstring(viz.colorbar_svg(v, words=False))
    assert "raised" not in " ".join(t.text for t in short.iter("{http://www.w3.org/2000/svg}text"))


def test_overlay_png_and_image_png_are_crisp_pngs():
    from PIL import Image

    e = _cam(size=12, grid=3)
    png = viz.overlay_png(e, 0, size=36)
    assert Image.open(io.BytesIO(png)).size == (36, 36)
    img = Image.open(io.BytesIO(viz.image_png(e.inputs[0], 36)))
    assert img.size == (36, 36)
    block = np.asarray(img)[:3, :3]
    assert np.all(block == block[0, 0])


# ------------------------------------------------------------------ figures
def test_explanation_figure_has_image_overlay_and_colorbar():
    e = _explanation(info=SIGNED_INFO)
    fig = viz.explanation_figure(e, index=1, alpha=0.3, cmap="RdBu_r", label_names=["normal", "pneumonia"])
    kinds = [t.type for t in fig.data]
    assert kinds == ["image", "image", "scatter"]
    assert fig.data[0].source.startswith("data:image/png;base64,")
    bar = fig.data[2].marker
    assert bar.showscale and bar.cmin == -bar.cmax  # diverging map centred on zero
    assert any("raised the score of" in t for t in bar.colorbar.ticktext)
    assert "SHAP for '" in fig.layout.title.text and "predicted" in fig.layout.title.text
    overlay_png = base64.b64decode(fig.data[1].source.split(",", 1)[1])
    assert overlay_png == viz.overlay_png(e, 1, ["normal", "pneumonia"], size=260, alpha=0.3, cmap="RdBu_r")
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "share of the score of" in notes and "12 x 12" in notes


def test_explanation_figure_of_a_blank_map_says_why():
    e = _cam(blank=0)
    fig = viz.explanation_figure(e, 0, label_names=["normal", "pneumonia"])
    assert [t.type for t in fig.data] == ["image", "image"]  # no colour bar for nothing
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "zero everywhere" in notes


def test_compare_figure_grid_shape_and_mismatch():
    a, b = _explanation(), _explanation(seed=1)
    fig = viz.compare_figure({"a": a, "b": b}, n_images=2)
    images = [t for t in fig.data if t.type == "image"]
    bars = [t for t in fig.data if t.type == "scatter"]
    assert len(images) == 2 * 3  # rows x (image + two methods)
    assert len(bars) == 2 and all(t.marker.colorbar.orientation == "h" for t in bars)
    assert list(bars[0].marker.colorbar.ticktext) == ["\u2212max", "0", "+max"]  # each map its own scale
    corners = [t.text for t in fig.layout.annotations if t.text.startswith("max ")]
    assert len(corners) == 2 * 2
    fig = viz.compare_figure({"a": a, "b": b}, n_images=2, shared_scale=True)
    bars = [t for t in fig.data if t.type == "scatter"]
    assert bars[0].marker.cmax == pytest.approx(np.abs(a.maps[:2]).max())  # one scale per column
    cam = _cam(n=3, blank=2)
    fig = viz.compare_figure({"gradcam": cam}, label_names=["normal", "pneumonia"])
    texts = " ".join(t.text for t in fig.layout.annotations)
    assert "Grad-CAM" in texts and "blank map" in texts and "#2 Grad-CAM:" in texts
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
