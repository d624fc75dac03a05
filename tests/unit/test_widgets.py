"""Drive the widget apps programmatically (no browser): their methods, and their controls."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xai_lab.explain import Explainer, MapResult, UnsupportedModelError  # noqa: E402
from xai_lab.explain.gradcam import GradCAM  # noqa: E402
from xai_lab.widgets import (  # noqa: E402
    CompareExplainers,
    ConfusionExplorer,
    ExplanationExplorer,
    LearningRatePlayground,
    NeuronPlayground,
    TrainingDashboard,
    confusion_matrix,
)

PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"


class InputTimesSign(Explainer):
    """A deterministic test explainer: the grey image, negated for class 0 (not registered)."""

    name = "input_sign"

    def _explain(self, model, x, targets):
        sign = np.where(targets == 1, 1.0, -1.0)[:, None, None]
        return MapResult(maps=x.mean(axis=-1) * sign)


class Refuses(Explainer):
    name = "refuses"

    def check_model(self, model):
        raise UnsupportedModelError("this test explainer refuses every model")


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", padding="same", name="conv1")(inputs)
    h = keras.layers.Conv2D(4, 3, activation="relu", padding="same", name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(h))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 12, 12, 1), dtype=np.uint8)
    labels = np.array([0, 1] * 5)
    return images, labels


def _explainers():
    return {"input_sign": InputTimesSign(), "gradcam": GradCAM(), "refuses": Refuses()}


def _shown(out) -> dict:
    assert len(out.outputs) == 1
    return out.outputs[0]["data"]


# ------------------------------------------------------------------ ExplanationExplorer
def test_explorer_select_updates_state_and_returns_the_figure(model, data):
    images, labels = data
    ex = ExplanationExplorer(model, images, labels, label_names=["normal", "pneumonia"], explainers=_explainers())
    assert ex.method == "input_sign" and ex.index == 0
    fig = ex.select(index=3, target=1, alpha=0.3, cmap="viridis")
    assert ex.index == 3 and ex.target == 1 and ex.alpha == 0.3
    e = ex.explanation
    np.testing.assert_allclose(e.maps[0], images[3, ..., 0] / 255.0, atol=1e-6)
    assert [t.type for t in fig.data] == ["image", "image", "scatter"]
    assert "pneumonia" in fig.layout.title.text
    k, p = ex.prediction
    assert k == int(np.argmax(ex.probabilities[3])) and 0.5 <= p <= 1.0
    assert "image #3, true pneumonia" in ex.summary()
    ex.select(target=None)
    assert ex.explanation.targets[0] == k
    with pytest.raises(IndexError):
        ex.select(index=10)
    with pytest.raises(KeyError, match="unknown method"):
        ex.select(method="nope")


def test_explorer_layer_reaches_gradcam_and_is_ignored_elsewhere(model, data):
    ex = ExplanationExplorer(model, data[0], explainers=_explainers(), method="gradcam")
    assert ex.layers == ["conv1", "conv2"]
    assert ex.explanation.layer == "conv2"  # the default: last spatial layer
    ex.select(layer="conv1")
    assert ex.explanation.layer == "conv1"
    assert ex.explanation.raw_maps.shape[1:] == (12, 12)
    ex.select(method="input_sign")
    assert not ex.method_takes_layer and ex.explanation.method == "input_sign"
    with pytest.raises(ValueError, match="not one of"):
        ex.select(layer="logits")


def test_explorer_unsupported_method_reports_instead_of_failing(model, data):
    ex = ExplanationExplorer(model, data[0], explainers=_explainers())
    assert ex.select(method="refuses") is None
    assert "refuses every model" in ex.error and ex.explanation is None
    assert ex.widget is not None
    assert ex.w_figure.layout.display == "none" and "refuses" in ex.w_info.value
    ex.select(method="input_sign")
    assert ex.error is None and ex.w_figure.layout.display is None


def test_explorer_controls_drive_the_logic(model, data):
    ex = ExplanationExplorer(model, data[0], data[1], explainers=_explainers())
    box = ex.widget
    assert box is ex.widget  # built once
    ex.w_index.value = 4
    assert ex.index == 4
    ex.w_method.value = "gradcam"
    assert ex.method == "gradcam" and not ex.w_layer.disabled
    ex.w_layer.value = "conv1"
    assert ex.explanation.layer == "conv1"
    ex.w_alpha.value = 0.8
    assert ex.alpha == 0.8
    ex.w_target.value = 0
    assert ex.explanation.targets[0] == 0
    assert PLOTLY in _shown(ex.w_figure) and PLOTLY in _shown(ex.w_probs)
    # code changes move the controls too
    ex.select(index=1, method="input_sign")
    assert ex.w_index.value == 1 and ex.w_layer.disabled
    bundle = ex._repr_mimebundle_()
    assert {PLOTLY, WIDGET, "image/png", "text/plain"} <= set(bundle)


def test_explorer_accepts_a_dataset_like_object(model, data):
    class DS:
        images, labels = data
        label_names = ("normal", "pneumonia")

    ex = ExplanationExplorer(model, DS(), explainers={"input_sign": InputTimesSign()})
    assert ex.label_names == ["normal", "pneumonia"] and ex.labels is not None


# ------------------------------------------------------------------ CompareExplainers
def _n_images(fig) -> int:
    """Image panels of a figure (colour bars are extra, invisible scatter traces)."""
    return sum(t.type == "image" for t in fig.data)


def test_compare_grid_and_errors(model, data):
    cmp = CompareExplainers(model, data[0], explainers=_explainers(), n_images=3, max_images=5)
    assert cmp.shown == ["input_sign", "gradcam"] and "refuses" in cmp.errors
    assert _n_images(cmp.figure) == 3 * 3
    fig = cmp.compare(methods=["gradcam"], n_images=2)
    assert _n_images(fig) == 2 * 2
    assert set(cmp.seconds()) == {"input_sign", "gradcam"}
    assert cmp.compare(methods=["refuses"]) is None
    with pytest.raises(ValueError, match="n_images"):
        cmp.compare(n_images=6)
    assert cmp.widget is not None
    cmp.w_methods.value = ("input_sign", "gradcam")
    cmp.w_n.value = 4
    cmp._on_click()
    assert cmp.n_images == 4 and PLOTLY in _shown(cmp.w_figure)


# ------------------------------------------------------------------ ConfusionExplorer
def test_confusion_matrix_counts():
    cm = confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], 2)
    np.testing.assert_array_equal(cm, [[1, 1], [1, 2]])
    with pytest.raises(ValueError, match="class indices"):
        confusion_matrix([0, 2], [0, 1], 2)


def test_confusion_explorer_cells(model, data):
    images, labels = data
    ce = ConfusionExplorer(model, images, labels, explainers={"input_sign": InputTimesSign()},
                           method="input_sign", max_per_cell=2)
    assert ce.cm.sum() == len(images)
    np.testing.assert_array_equal(ce.cm, confusion_matrix(labels, ce.predictions, 2))
    entries = ce.cells()
    assert sum(int(t.rsplit("(", 1)[1][:-1]) for t, _ in entries) == len(images)
    (i, j) = entries[0][1]
    fig = ce.select_cell(i, j)
    idx = ce.indices(i, j)[:2]
    np.testing.assert_array_equal(ce.explanation.predictions, ce.predictions[idx])
    assert _n_images(fig) == len(idx) * 2
    assert ce.widget is not None
    ce.w_cell.value = entries[-1][1]
    assert ce.cell == entries[-1][1] and PLOTLY in _shown(ce.w_figure)
    empty = [(a, b) for a in range(2) for b in range(2) if ce.cm[a, b] == 0]
    if empty:
        assert ce.select_cell(*empty[0]) is None and ce.error == "no images in this cell"
    with pytest.raises(ValueError, match="true labels"):
        ConfusionExplorer(model, images, explainers={"input_sign": InputTimesSign()}, method="input_sign")


# ------------------------------------------------------------------ TrainingDashboard
def _tiny_fit(model_fn, dash, epochs=3):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(32, 12, 12, 1)).astype("float32")
    y = rng.integers(0, 2, 32)
    m = model_fn()
    m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m.fit(x, y, validation_split=0.25, epochs=epochs, batch_size=8, callbacks=[dash], verbose=0), m


def _model_fn():
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(h))


def test_dashboard_records_curves_and_redraws():
    dash = TrainingDashboard(title="tiny")
    assert dash.widget is not None
    hist, _ = _tiny_fit(_model_fn, dash, epochs=3)
    assert set(dash.history) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    np.testing.assert_allclose(dash.history["loss"], hist.history["loss"], rtol=1e-6)
    assert len(dash.epoch_seconds) == 3 and dash.status.startswith("done: 3 epochs")
    assert dash.w_stop.disabled
    fig = dash.figure
    assert [t.name for t in fig.data] == ["loss", "val_loss", "accuracy", "val_accuracy"]
    shown = _shown(dash.w_figure)[PLOTLY]
    assert len(shown["data"]) == 4 and len(shown["data"][0]["y"]) == 3 or "bdata" in str(shown["data"][0]["y"])


def test_dashboard_stop_button_stops_training():
    dash = TrainingDashboard()
    assert dash.widget is not None

    class Clicker(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                dash.w_stop.click()  # what a user's click does

    rng = np.random.default_rng(1)
    m = _model_fn()
    m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(rng.uniform(size=(16, 12, 12, 1)), rng.integers(0, 2, 16), epochs=10, batch_size=8,
          callbacks=[Clicker(), dash], verbose=0)
    assert len(dash.epoch_seconds) == 1 and dash.stopped_epoch == 1
    assert "stopped by the user after epoch 1" in dash.status


def test_dashboard_background_run_and_display_update(monkeypatch):
    dash = TrainingDashboard()
    updates = []

    class Handle:
        def update(self, obj):
            updates.append(obj._repr_mimebundle_())

    dash._handle = Handle()
    future = dash.run_in_background(lambda: _tiny_fit(_model_fn, dash, epochs=2)[0])
    hist = dash.result(timeout=120)
    assert future.done() and len(hist.history["loss"]) == 2
    assert len(updates) == 1 and PLOTLY in updates[0] and WIDGET in updates[0]
    dash2 = TrainingDashboard()
    dash2.run_in_background(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        dash2.result(timeout=10)
    with pytest.raises(RuntimeError, match="run_in_background"):
        TrainingDashboard().result()


# ------------------------------------------------------------------ NeuronPlayground
def test_neuron_output_boundary_and_accuracy():
    n = NeuronPlayground(w1=1.0, w2=1.0, b=0.0, activation="sigmoid")
    np.testing.assert_allclose(n.output([[0.0, 0.0]]), [0.5])
    np.testing.assert_allclose(n.output([[1.0, 2.0]]), [1 / (1 + np.exp(-3.0))])
    assert n.accuracy() > 0.95  # the clouds sit either side of x1 + x2 = 0
    x1, x2 = n.boundary()
    np.testing.assert_allclose(n.pre_activation(np.c_[x1, x2]), 0.0, atol=1e-12)
    n.set(w1=-1.0, w2=-1.0)
    assert n.accuracy() < 0.05
    for act, lo in (("tanh", -1.0), ("relu", 0.0)):
        n.set(activation=act)
        out = n.output(np.array([[-3.0, -3.0]]) * -1)
        assert out.min() >= lo
    n.set(activation="relu", w1=1.0, w2=1.0)
    np.testing.assert_array_equal(n.predict([[1, 1], [-1, -1]]), [1, 0])
    n.set(w1=0.0, w2=0.0, b=1.0)
    assert n.boundary() is None
    with pytest.raises(ValueError, match="unknown activation"):
        n.set(activation="softplus")
    with pytest.raises(TypeError):
        n.set(weight=1)


def test_neuron_widget_sliders():
    n = NeuronPlayground()
    assert n.widget is not None
    n.w_w1.value = 2.0
    n.w_b.value = -1.0
    n.w_act.value = "tanh"
    assert (n.w1, n.b, n.activation) == (2.0, -1.0, "tanh")
    assert "accuracy" in n.w_info.value
    fig = _shown(n.w_figure)[PLOTLY]
    assert "tanh(2.00 x1" in fig["layout"]["title"]["text"]


# ------------------------------------------------------------------ LearningRatePlayground
def test_learning_rate_playground_converges_and_diverges():
    lr = LearningRatePlayground(steps=80, n_points=60)
    lr.run(0.5)
    lr.run(200.0)
    final = lr.final_losses
    first = lr.runs[0][1][0]
    assert final[0.5] < first  # learns
    assert not final[200.0] < first  # a huge step does not
    assert lr.widget is not None
    lr.w_lr.value = 0.1
    lr.w_run.click()
    assert 0.1 in lr.final_losses and len(_shown(lr.w_figure)[PLOTLY]["data"]) >= 3
    with pytest.raises(ValueError):
        lr.run(0)


# ------------------------------------------------------------------ ThresholdExplorer
def test_threshold_explorer_sensitivity_and_specificity():
    from xai_lab.widgets import ThresholdExplorer

    y = np.array([0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.4, 0.6, 0.3, 0.5, 0.8, 0.9])
    te = ThresholdExplorer(y, s, threshold=0.5, label_names=["normal", "pneumonia"])
    assert (te.sensitivity, te.specificity) == (0.75, 2 / 3)
    sens, spec, cm = te.set_threshold(0.2)
    np.testing.assert_array_equal(cm, [[1, 2], [0, 4]])
    assert sens == 1.0 and spec == 1 / 3
    assert te.widget is not None
    te.w_t.value = 0.95
    assert te.sensitivity == 0.0 and te.specificity == 1.0 and "0.95" in te.w_info.value
    assert len(_shown(te.w_roc)[PLOTLY]["data"]) == 3
    with pytest.raises(ValueError, match="binary"):
        ThresholdExplorer([0, 2], [0.1, 0.2])
