"""The clinician explorer's logic and widgets, driven without a browser.

Tiny models are saved into a temporary models folder as ``xai-lab train`` lays them out
(model.keras, metrics.json, calibration.json); every kind of bad upload is written here.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from xai_lab.app import BANNER, ExplorerApp, ExplorerError, serve
from xai_lab.app.explorer import METHODS, find_models, softmax

TEMPERATURE = 1.7


# ------------------------------------------------------------------------------ fixtures
def _tiny_model(channels: int = 1, n_classes: int = 2, seed: int = 0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28, channels))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(inp)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inp, out)


def _write_model(folder: Path, dataset: str, channels: int, n_classes: int,
                 temperature: float | None = TEMPERATURE) -> Path:
    from xai_lab import models

    folder.mkdir(parents=True)
    models.save(_tiny_model(channels, n_classes), folder / "model.keras")
    metrics = {"dataset": dataset, "split": "val", "n": 50, "acc": 0.8, "auc": 0.85,
               "fit": {"epochs": 1}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if temperature is not None:
        (folder / "calibration.json").write_text(json.dumps({"temperature": temperature}))
    return folder


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    _write_model(root / "pneumonia-tiny", "pneumoniamnist", 1, 2)
    _write_model(root / "derma-tiny", "dermamnist", 3, 7, temperature=None)
    (root / "not-a-model").mkdir()
    (root / "not-a-model" / "notes.txt").write_text("no model here")
    return root


@pytest.fixture(scope="module")
def app(models_dir):
    """One app for the module (loading a model and tracing explainers once keeps it fast)."""
    with ExplorerApp(models_dir, max_upload_bytes=200_000) as explorer:
        explorer.select_model(explorer.find_models("pneumonia")[0])
        yield explorer
    assert not explorer.upload_dir.exists(), "the upload folder must be removed on close"


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _xray(size: int = 64, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    lungs = np.exp(-((xx - 0.3) ** 2 + (yy - 0.5) ** 2) * 12) + np.exp(
        -((xx - 0.7) ** 2 + (yy - 0.5) ** 2) * 12)
    img = 40 + 180 * lungs + rng.normal(0, 8, (size, size))
    return np.clip(img, 0, 255).astype(np.uint8)


def _dicom(with_pixels: bool) -> bytes:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientName = "Phantom^Test"
    if with_pixels:
        pixels = (_xray(48).astype(np.uint16) * 16)  # 12-bit values in 16-bit words
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 0
        ds.PixelData = pixels.tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


# ------------------------------------------------------------------------------ models
def test_find_models_reads_dataset_metrics_and_calibration(models_dir):
    entries = find_models(models_dir)
    assert [e.name for e in entries] == ["derma-tiny", "pneumonia-tiny"]
    pneu = find_models(models_dir, "pneumonia")
    assert [e.name for e in pneu] == ["pneumonia-tiny"]
    entry = pneu[0]
    assert entry.dataset == "pneumoniamnist" and entry.task == "pneumonia"
    assert entry.label_names == ["normal", "pneumonia"]
    assert entry.temperature == pytest.approx(TEMPERATURE)
    assert "val auc 0.850" in entry.label()
    assert "<th>acc</th><th>auc</th>" in entry.summary_html()
    assert "<td>0.800</td><td>0.850</td>" in entry.summary_html()
    assert "<th>n</th>" not in entry.summary_html()
    skin = find_models(models_dir, "skin")[0]
    assert skin.temperature is None and any("calibration" in n for n in skin.notes)
    assert find_models(models_dir, "retinopathy") == []
    assert find_models(models_dir / "missing") == []


def test_unreadable_json_is_noted_not_fatal(tmp_path):
    folder = _write_model(tmp_path / "m", "pneumoniamnist", 1, 2)
    (folder / "calibration.json").write_text("{not json")
    entry = find_models(tmp_path)[0]
    assert entry.temperature is None
    assert any("calibration.json could not be read" in n for n in entry.notes)


def test_corrupt_model_file_gives_a_message(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    with ExplorerApp(tmp_path) as explorer:
        with pytest.raises(ExplorerError, match="Cannot load the model 'broken'"):
            explorer.select_model(explorer.find_models()[0])
        assert explorer.model is None


# ------------------------------------------------------------------------------ analysis
def test_upload_gives_calibrated_prediction_and_three_maps(app):
    case = app.handle_upload("chest.png", _png(_xray(64)))
    assert case.probabilities.shape == (2,)
    np.testing.assert_allclose(case.probabilities, softmax(case.logits / TEMPERATURE), atol=1e-6)
    assert case.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert case.predicted == int(np.argmax(case.probabilities))
    assert case.failures == {}, case.failures
    assert set(case.explanations) == set(METHODS)
    for e in case.explanations.values():
        assert e.maps.shape == (1, 28, 28) and np.all(np.isfinite(e.maps))
        assert int(e.targets[0]) == case.predicted
    assert any("resized from 64 x 64" in n for n in case.notes)
    overlays = app.overlays(case, alpha=0.4)
    assert all(img.shape == (224, 224, 3) and img.dtype == np.uint8 for img in overlays.values())
    assert not any(app.upload_dir.iterdir()), "the upload must be deleted after reading"


def test_opacity_changes_the_overlay(app):
    case = app.handle_upload("chest.png", _png(_xray(64)))
    none, full = app.overlays(case, 0.0)["gradcam"], app.overlays(case, 1.0)["gradcam"]
    from xai_lab.app.explorer import display_image

    np.testing.assert_array_equal(none, display_image(case))
    assert np.abs(full.astype(int) - none.astype(int)).mean() > 5


@pytest.mark.parametrize(
    "name, make",
    [
        ("grey.png", lambda: _png(_xray(40))),
        ("rgb.jpg", lambda: _jpeg(np.stack([_xray(50)] * 3, axis=-1))),
        ("rgba.png", lambda: _png(np.dstack([np.stack([_xray(40)] * 3, -1),
                                             np.full((40, 40), 200, np.uint8)]))),
        ("sixteen.png", lambda: _png(_xray(40).astype(np.uint16) * 257)),
        ("xray.dcm", lambda: _dicom(with_pixels=True)),
    ],
)
def test_supported_image_kinds_are_analysed(app, name, make):
    case = app.handle_upload(name, make())
    assert case.image.shape == (28, 28, 1)
    assert 0.0 <= case.image.min() and case.image.max() <= 1.0
    assert case.image.std() > 0.01, "the image content must survive decoding"
    assert set(case.explanations) == set(METHODS)


BAD_UPLOADS = [
    ("huge.png", lambda: _png(np.random.default_rng(0).integers(0, 255, (600, 600), np.uint8)),
     "too large"),
    ("notes.txt", lambda: b"patient notes, not an image", "not a PNG, JPEG or DICOM"),
    ("fake.png", lambda: b"this is plain text pretending to be a PNG image\n" * 3, "not an image"),
    ("truncated.png", lambda: _png(_xray(64))[:300], "truncated or corrupt"),
    ("cut.jpg", lambda: _jpeg(np.stack([_xray(64)] * 3, -1))[:400], "truncated or corrupt"),
    ("garbage.jpg", lambda: b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "not an image"),
    ("empty.png", lambda: b"", "empty"),
    ("header-only.dcm", lambda: _dicom(with_pixels=False), "without pixel data"),
    ("tiny.png", lambda: _png(_xray(10)), "too small for this model"),
    ("strip.png", lambda: _png(np.tile(_xray(30), (1, 12))), "odd shape"),
]


@pytest.mark.parametrize("name, make, message", BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_bad_upload_gives_a_message_and_the_next_upload_works(app, name, make, message):
    with pytest.raises(ExplorerError, match=message) as info:
        app.handle_upload(name, make())
    assert name in str(info.value)
    assert not any(app.upload_dir.iterdir()), "a failed upload must not stay on disk"
    case = app.handle_upload("chest.png", _png(_xray(64)))
    assert set(case.explanations) == set(METHODS)


def test_no_model_selected_is_a_message(models_dir):
    with ExplorerApp(models_dir) as explorer:
        with pytest.raises(ExplorerError, match="Choose a model"):
            explorer.handle_upload("chest.png", _png(_xray(64)))


def test_contrast_is_antisymmetric_and_bounded(app):
    case = app.handle_upload("chest.png", _png(_xray(64)))
    for method in METHODS:
        ab = app.contrast(case, 0, 1, method)
        ba = app.contrast(case, 1, 0, method)
        np.testing.assert_allclose(ab, -ba, atol=1e-6)
        bound = 2.0 if method == "shap" else 1.0  # signed maps may differ by twice the scale
        assert ab.shape == (28, 28) and np.abs(ab).max() <= bound + 1e-6
        a = app.class_map(case, method, 0)
        b = app.class_map(case, method, 1)
        scale = max(np.abs(a).max(), np.abs(b).max())
        if scale > 0:
            np.testing.assert_allclose(ab, (a - b) / scale, atol=1e-6)
    with pytest.raises(ExplorerError, match="two different classes"):
        app.contrast(case, 1, 1)
    with pytest.raises(ExplorerError, match="outside"):
        app.contrast(case, 0, 5)


def test_report_is_self_contained(app):
    case = app.handle_upload("chest <1>.png", _png(_xray(64)))
    doc = app.report_html(case, alpha=0.5, contrast=(0, 1, "gradcam"))
    assert doc.startswith("<!DOCTYPE html>")
    assert BANNER.split(" — ")[0] in doc
    assert "chest &lt;1&gt;.png" in doc and "chest <1>.png" not in doc
    assert doc.count("data:image/png;base64,") >= 5  # image, three maps, contrast
    assert 'src="http' not in doc and "src='http" not in doc
    link = app.report_link_html(case, 0.5, None)
    assert "download='xai-lab-chest_1.html'" in link
    payload = link.split("base64,")[1].split("'")[0]
    assert base64.b64decode(payload).decode("utf-8").startswith("<!DOCTYPE html>")


def test_samples_from_phantoms_and_colour_model(models_dir):
    with ExplorerApp(models_dir) as explorer:
        explorer.select_model(explorer.find_models("skin")[0])
        image, name, label = explorer.sample("phantom", 3)
        assert image.dtype == np.uint8 and image.shape == (28, 28, 3)
        case = explorer.analyse(image, name, true_label=label)
        assert case.probabilities.shape == (7,)
        assert len(case.label_names) == 7 and case.class_name(label) in explorer.prediction_html(case)
        # uncalibrated: the plain softmax
        np.testing.assert_allclose(case.probabilities, softmax(case.logits), atol=1e-6)
        grey = explorer.analyse(_xray(56), "grey.png")
        assert any("converted from grey to colour" in n for n in grey.notes)


def test_samples_from_the_real_validation_split(models_dir, real_data_dir):
    with ExplorerApp(models_dir) as explorer:
        explorer.select_model(explorer.find_models("pneumonia")[0])
        image, name, label = explorer.sample("dataset", 5)
        assert image.shape == (28, 28, 1) and label in (0, 1)
        assert "val" in name and "phantom" not in name


# ------------------------------------------------------------------------------ widgets
def _upload(ui, name: str, content: bytes) -> None:
    ui.upload.value = (
        {"name": name, "type": "", "size": len(content), "content": memoryview(content),
         "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)},
    )


def test_widgets_show_errors_hide_stale_results_and_recover(models_dir):
    with ExplorerApp(models_dir, max_upload_bytes=200_000) as explorer:
        ui = explorer.ui
        assert "not a medical device" in ui.banner.value
        assert "xai-banner" in ui.banner._dom_classes
        assert ui.task.value in ("pneumonia", "skin")  # the first task with a model
        ui.task.value = "pneumonia"
        assert explorer.entry.name == "pneumonia-tiny"
        assert not ui.upload.disabled and ui.train_box.layout.display == "none"

        _upload(ui, "chest.png", _png(_xray(64)))
        assert ui.upload.value == ()
        assert ui.results.layout.display is None and ui.error.layout.display == "none"
        assert "Prediction:" in ui.prediction.value
        for method, image in ui.map_images.items():
            assert len(image.value) > 100, method
            assert "xai-map" in image._dom_classes
        assert "data:text/html;base64," in ui.download.value
        first = bytes(ui.map_images["gradcam"].value)
        ui.alpha.value = 0.9
        assert bytes(ui.map_images["gradcam"].value) != first

        _upload(ui, "broken.png", _png(_xray(64))[:200])
        assert ui.upload.value == ()
        assert ui.error.layout.display is None and "xai-error" in ui.error._dom_classes
        assert "truncated or corrupt" in ui.error.value and "broken.png" in ui.error.value
        assert ui.results.layout.display == "none", "stale results must be hidden"

        _upload(ui, "chest.png", _png(_xray(64)))  # the same file again works
        assert ui.error.layout.display == "none" and ui.results.layout.display is None

        ui.contrast_b.value = ui.contrast_a.value
        assert ui.contrast_image.layout.display == "none"
        ui.contrast_b.value = 1 - ui.contrast_a.value
        assert ui.contrast_image.layout.display is None

        ui.sample_source.value = "phantom"
        ui.sample_button.click()
        assert "phantom" in ui.prediction.value and "Known label" in ui.prediction.value

        ui.task.value = "retinopathy"  # no model: the training offer appears
        assert ui.train_box.layout.display is None and ui.upload.disabled
        assert ui.results.layout.display == "none"
        assert not any(explorer.upload_dir.iterdir())


# ------------------------------------------------------------------------------ serving
def test_serve_command_line_and_notebook(tmp_path):
    import argparse

    import nbformat

    nb_path = serve.notebook_path()
    nb = nbformat.read(nb_path, as_version=4)
    assert len(nb.cells) == 1 and "ExplorerApp.from_environment().show()" in nb.cells[0].source
    parser = argparse.ArgumentParser()
    serve.add_explorer_arguments(parser)
    args = parser.parse_args(["--models", str(tmp_path), "--port", "9123", "--no-browser"])
    assert args.models == tmp_path and args.port == 9123 and args.no_browser
    cmd = serve.voila_command(nb_path, 9123, open_browser=False, idle_timeout=120)
    assert cmd[1:4] == ["-m", "voila", str(nb_path)]
    for expected in ("--port=9123", "--Voila.ip=127.0.0.1", "--no-browser",
                     "--MappingKernelManager.cull_idle_timeout=120"):
        assert expected in cmd
    assert "--no-browser" not in serve.voila_command(nb_path, 1, open_browser=True)
    with_config = serve.voila_command(nb_path, 1, open_browser=False, config_dir=tmp_path)
    assert f"--Voila.config_file_paths={tmp_path}" in with_config
    settings = serve.voila_config()["Voila"]["tornado_settings"]
    assert settings["websocket_max_message_size"] > ExplorerApp(None).max_upload_bytes


def test_models_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(serve.MODELS_DIR_VARIABLE, str(tmp_path))
    assert serve.models_dir_from_environment() == tmp_path
    with ExplorerApp.from_environment() as explorer:
        assert explorer.models_dir == tmp_path
    monkeypatch.delenv(serve.MODELS_DIR_VARIABLE)
    monkeypatch.setenv("XAI_LAB_CACHE_DIR", str(tmp_path / "cache"))
    assert serve.models_dir_from_environment() == tmp_path / "cache" / "models"


@pytest.mark.slow
def test_train_button_trains_the_default_recipe(tmp_path, real_data_dir, monkeypatch):
    """With no model for the task, the page offers the default recipe (fast mode here)."""
    monkeypatch.setenv("XAI_LAB_FAST", "1")
    models = tmp_path / "models"
    with ExplorerApp(models, train_epochs=1) as explorer:
        ui = explorer.ui
        assert ui.task.value == "pneumonia" and explorer.model is None
        assert ui.train_box.layout.display is None and ui.upload.disabled
        ui.train_button.click()
        assert ui.error.layout.display == "none", ui.error.value
        assert (models / "pneumoniamnist-default" / "model.keras").is_file()
        assert explorer.entry.name == "pneumoniamnist-default"
        assert explorer.entry.temperature is not None and explorer.entry.dataset == "pneumoniamnist"
        assert ui.train_progress.value == ui.train_progress.max >= 1
        assert ui.train_box.layout.display == "none" and not ui.upload.disabled
        image, name, label = explorer.sample("dataset", 0)
        case = explorer.analyse(image, name, true_label=label)
        assert set(case.explanations) == set(METHODS)


@pytest.mark.parametrize("threshold, expected", [(0.999, 0), (0.001, 1)])
def test_binary_decision_uses_the_calibrated_threshold(tmp_path, threshold, expected):
    folder = _write_model(tmp_path / "m", "pneumoniamnist", 1, 2)
    (folder / "calibration.json").write_text(
        json.dumps({"temperature": 2.0, "threshold": threshold, "dataset": "pneumoniamnist"}))
    with ExplorerApp(tmp_path, methods=["gradcam"]) as explorer:
        explorer.select_model(explorer.find_models()[0])
        case = explorer.analyse(_xray(56), "chest.png")
        assert 0.001 < case.probabilities[1] < 0.999
        assert case.predicted == expected
        sign = "≥" if expected == 1 else "&lt;"
        assert f"{sign} decision threshold {threshold:.3f}" in explorer.prediction_html(case)
        assert f"decision threshold {threshold:.3f}" in explorer.report_html(case)


def test_importing_the_app_is_light():
    import subprocess
    import sys

    code = ("import sys, xai_lab.app, xai_lab.app.serve; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
