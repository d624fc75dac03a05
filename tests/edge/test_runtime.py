"""``TFLiteModel``: forward passes like the Keras model, bad files refused before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest
from edge_helpers import small_cnn

from xai_lab.models import IncompatibleDataError, ModelFileError


@pytest.fixture(scope="module")
def keras_model(model_dir):
    from xai_lab import models

    root, _ = model_dir
    return models.load(root / "model.keras")


@pytest.fixture(scope="module")
def images(model_dir):
    _, npz = model_dir
    return np.load(npz)["val_images"][..., None]


def test_float32_logits_equal_keras_for_any_batch_size(exported, keras_model, images):
    from xai_lab import models
    from xai_lab.edge import load_tflite

    deployed = load_tflite(exported["float32"])
    reference = models.predict_logits(keras_model, images)
    np.testing.assert_allclose(models.predict_logits(deployed, images), reference, atol=1e-4)
    # the interpreter's input is resized whenever the batch size changes
    for n in (1, 5, 3, 24, 1):
        np.testing.assert_allclose(deployed.predict_on_batch(images[:n]), reference[:n], atol=1e-4)
    np.testing.assert_allclose(deployed(images[:4] / 255.0), reference[:4], atol=1e-4)
    np.testing.assert_allclose(deployed.predict(images, batch_size=7), reference, atol=1e-4)
    assert deployed.predict_on_batch(images[:0]).shape == (0, 2)


def test_interface_of_the_keras_model(exported, keras_model):
    from xai_lab.edge import load_tflite

    deployed = load_tflite(exported["int8"])
    assert deployed.inputs[0].shape == tuple(keras_model.inputs[0].shape)
    assert deployed.outputs[0].shape == tuple(keras_model.outputs[0].shape)
    assert deployed.layers == [] and deployed.name == "tiny_int8"
    assert deployed.input_shape == (28, 28, 1) and deployed.n_classes == 2
    assert deployed.label_names == ["normal", "pneumonia"]
    assert "58468" in deployed.forward_only_reason
    assert "int8" in repr(deployed) and "28x28x1" in repr(deployed)


def test_int8_takes_float_images_and_gives_float_logits(exported, keras_model, images):
    from xai_lab import models
    from xai_lab.edge import load_tflite

    deployed = load_tflite(exported["int8"])
    logits = deployed.predict_on_batch(images)
    assert logits.dtype == np.float32 and logits.shape == (len(images), 2)
    scale = deployed.metadata["output"]["scale"]
    reference = models.predict_logits(keras_model, images)
    # logits are multiples of the output scale (int8 codes de-quantised) ...
    codes = logits / scale + deployed.metadata["output"]["zero_point"]
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-3)
    # ... and follow the float model to within a few quantisation steps
    assert np.max(np.abs(logits - reference)) < 8 * scale + 0.05 * np.max(np.abs(reference))


def test_gradients_are_refused_naming_the_tensorflow_issue(exported, images):
    import tensorflow as tf

    from xai_lab.edge import NoGradientError, load_tflite

    deployed = load_tflite(exported["float32"])
    x = tf.constant(images[:2] / 255.0, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = deployed(x)
    np.testing.assert_allclose(y.numpy(), deployed.predict_on_batch(images[:2]), atol=1e-6)
    with pytest.raises(NoGradientError, match="58468"):
        tape.gradient(y, x)


def test_images_of_another_shape_are_refused(exported):
    from xai_lab.edge import load_tflite

    deployed = load_tflite(exported["float32"])
    with pytest.raises(IncompatibleDataError, match="do not fit"):
        deployed.predict_on_batch(np.zeros((2, 32, 32, 1), np.uint8))
    with pytest.raises(IncompatibleDataError, match="do not fit"):
        deployed.predict_on_batch(np.zeros((2, 28, 28, 3), np.uint8))


def test_corrupt_files_are_refused_before_any_work(exported, tmp_path):
    from xai_lab.edge import load_tflite

    good = exported["float32"].read_bytes()
    cases = {
        "missing.tflite": None,
        "text.tflite": b"a text file, not a model\n",
        "empty.tflite": b"",
        "truncated.tflite": good[: len(good) // 2],
        "header_only.tflite": good[:64],
        "keras_zip.tflite": b"PK\x03\x04" + good[4:200],
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ModelFileError) as info:
            load_tflite(path)
        assert str(path) in str(info.value), name


def test_a_changed_file_is_caught_by_its_sidecar(exported, tmp_path):
    from xai_lab.edge import load_tflite

    source = exported["float32"]
    content = bytearray(source.read_bytes())
    content[-100] ^= 0xFF  # a weight byte: the flatbuffer stays valid
    copy = tmp_path / "changed.tflite"
    copy.write_bytes(bytes(content))
    copy.with_suffix(".json").write_text(source.with_suffix(".json").read_text())
    with pytest.raises(ModelFileError, match="belongs to another"):
        load_tflite(copy)
    copy.with_suffix(".json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="JSON object"):
        load_tflite(copy)
    copy.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelFileError, match="sidecar"):
        load_tflite(copy)


def test_models_that_are_not_image_classifiers_are_refused(tmp_path):
    import keras

    from xai_lab import edge

    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    two_heads = keras.Model(inputs, [keras.layers.Dense(2)(flat), keras.layers.Dense(3)(flat)])
    path = tmp_path / "two.tflite"
    path.write_bytes(edge.convert(two_heads))
    with pytest.raises(ModelFileError, match="2 outputs"):
        edge.load_tflite(path)
    vector_in = keras.Sequential([keras.Input((10,)), keras.layers.Dense(2)])
    path = tmp_path / "vector.tflite"
    path.write_bytes(edge.convert(vector_in))
    with pytest.raises(ModelFileError, match="image classifier"):
        edge.load_tflite(path)


def test_latency_is_measured_for_both_runtimes(exported, images):
    from xai_lab.edge import load_tflite, measure_latency, pooled

    lite = measure_latency(exported["int8"], images, n=5, warmup=1)
    assert lite.n == 5 and lite.runtime == "LiteRT int8" and lite.threads == 1
    assert 0 < lite.median_ms <= lite.p95_ms
    both = pooled([lite, measure_latency(exported["int8"], images, n=3, warmup=0)])
    assert both.n == 8 and both.runtime == "LiteRT int8"
    assert min(lite.samples_ms) <= both.median_ms <= max(both.samples_ms)
    keras_latency = measure_latency(small_cnn(), images, n=5, warmup=1)
    assert keras_latency.runtime.startswith("Keras") and keras_latency.median_ms > 0
    with pytest.raises(ValueError, match="do not fit"):
        measure_latency(load_tflite(exported["int8"]), np.zeros((2, 16, 16, 1), np.uint8), n=2)


def test_evaluate_command_scores_tflite_like_keras(model_dir, exported, capsys):
    from xai_lab.cli import main

    root, npz = model_dir
    results = {}
    for name, path in (("keras", root / "model.keras"), ("float32", exported["float32"]),
                       ("int8", exported["int8"])):
        capsys.readouterr()
        rc = main(["evaluate", "--model", str(path), "--data", str(npz), "--split", "val", "--json"])
        out = capsys.readouterr().out
        assert rc == 0
        results[name] = json.loads(out)  # stdout is exactly one JSON object
    keras_result, lite = results["keras"], results["float32"]
    # the calibration comes from the sidecar: the same temperature and threshold as calibration.json
    assert lite["calibration"].endswith("tiny_float32.json") and lite["temperature"] == 1.5
    assert lite["threshold"] == keras_result["threshold"] == 0.4
    for key in ("n", "acc", "auc", "balanced_accuracy"):
        assert lite[key] == pytest.approx(keras_result[key], abs=1e-6), key
    assert lite["confusion_matrix"] == keras_result["confusion_matrix"]
    assert results["int8"]["n"] == 24 and 0 <= results["int8"]["acc"] <= 1


def test_evaluate_command_errors_on_tflite(exported, tmp_path, capsys):
    from xai_lab.cli import main

    other = tmp_path / "rgb.npz"
    np.savez(other, val_images=np.zeros((4, 28, 28, 3), np.uint8), val_labels=np.zeros((4, 1), np.uint8))
    capsys.readouterr()
    rc = main(["evaluate", "--model", str(exported["float32"]), "--data", str(other), "--split", "val", "--json"])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == "" and "do not fit" in captured.err
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"garbage")
    rc = main(["evaluate", "--model", str(bad), "--data", str(other), "--split", "val", "--json"])
    captured = capsys.readouterr()
    assert rc == 2 and "not a TensorFlow Lite model" in captured.err and "Traceback" not in captured.err
