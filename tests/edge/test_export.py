"""``xai-lab export`` and ``xai_lab.edge.export``: formats, sidecar, representative sets, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from edge_helpers import small_cnn, write_npz

from xai_lab.cli import main


def _export(capsys, *args):
    capsys.readouterr()
    rc = main(["export", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_export_float32_writes_model_and_sidecar(model_dir, tmp_path, capsys):
    from xai_lab.edge.runtime import sha256

    root, _ = model_dir
    out = tmp_path / "deploy" / "pneumonia.tflite"
    rc, stdout, err = _export(capsys, "--model", str(root / "model.keras"), "--format", "tflite", "--out", str(out))
    assert rc == 0, err
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert "float32" in stdout and "wrote" in stdout
    meta = json.loads(out.with_suffix(".json").read_text())
    # calibration.json travels with the file, under the keys `xai-lab evaluate` reads
    assert meta["temperature"] == 1.5 and meta["threshold"] == 0.4 and meta["task"] == "binary"
    assert meta["label_names"] == ["normal", "pneumonia"] and meta["n_classes"] == 2
    assert meta["quantize"] == "float32" and meta["representative"] is None
    assert meta["tflite_sha256"] == sha256(out.read_bytes()) and meta["size_bytes"] == out.stat().st_size
    assert meta["source_model"]["sha256"] == sha256((root / "model.keras").read_bytes())
    assert meta["converter"].startswith("tf.lite.TFLiteConverter") and meta["interpreter"].startswith("ai-edge-litert")
    # float32 follows the Keras model to float rounding
    assert meta["check"]["top_class_agreement"] == 1.0 and meta["check"]["max_abs_logit_difference"] < 1e-4
    assert sorted(p.name for p in out.parent.iterdir()) == ["pneumonia.json", "pneumonia.tflite"]  # no temporary files


def test_quantised_files_are_smaller_and_typed(exported):
    from xai_lab.edge import TFLiteModel

    sizes = {q: p.stat().st_size for q, p in exported.items()}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]
    assert sizes["dynamic"] < sizes["float16"]
    models = {q: TFLiteModel(p) for q, p in exported.items()}
    assert models["int8"].inputs[0].dtype == "int8" and models["int8"].outputs[0].dtype == "int8"
    for q in ("float32", "float16", "dynamic"):
        assert models[q].inputs[0].dtype == "float32"
    for q, m in models.items():
        assert m.precision == q
    meta = models["int8"].metadata
    assert meta["representative"]["split"] == "train" and meta["representative"]["n"] == 60
    assert meta["input"]["dtype"] == "int8" and meta["input"]["scale"] == pytest.approx(1 / 255)
    assert meta["input"]["zero_point"] == -128


def test_precision_is_read_from_the_tensors_without_a_sidecar(exported, tmp_path):
    from xai_lab.edge import TFLiteModel

    for q, path in exported.items():
        copy = tmp_path / f"bare_{q}.tflite"
        copy.write_bytes(path.read_bytes())
        bare = TFLiteModel(copy)
        assert bare.metadata == {} and bare.precision == q
        assert bare.label_names == ["class 0", "class 1"]


def test_int8_representative_set_from_a_dataset_name_offline_fails_clearly(
    model_dir, tmp_path, capsys, monkeypatch
):
    """calibration.json names pneumoniamnist; offline with no data, nothing can be drawn."""
    monkeypatch.delenv("XAI_LAB_DATA_DIR", raising=False)  # the conftest keeps us offline
    root, _ = model_dir
    out = tmp_path / "x.tflite"
    rc, stdout, err = _export(capsys, "--model", str(root / "model.keras"), "--quantize", "int8", "--out", str(out))
    assert rc == 2 and stdout == ""
    assert err.startswith("error: ") and "pneumoniamnist" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_int8_without_any_source_names_the_option(tmp_path, capsys):
    from xai_lab import models

    models.save(small_cnn(), tmp_path / "model.keras")  # no calibration.json beside it
    rc, _, err = _export(capsys, "--model", str(tmp_path / "model.keras"), "--quantize", "int8",
                         "--out", str(tmp_path / "x.tflite"))
    assert rc == 2 and "--calibration" in err
    assert not (tmp_path / "x.tflite").exists()


def test_int8_from_an_image_folder_uses_its_train_folder(model_dir, tmp_path):
    from PIL import Image

    from xai_lab import edge

    root, _ = model_dir
    rng = np.random.default_rng(1)
    for cls in ("NORMAL", "PNEUMONIA"):
        folder = tmp_path / "xrays" / "train" / cls
        folder.mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 256, (40, 40), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    result = edge.export_model_file(root / "model.keras", tmp_path / "f.tflite", "int8",
                                    calibration_data=tmp_path / "xrays", n_representative=8)
    rep = result.metadata["representative"]
    assert rep["n"] == 8 and str(tmp_path / "xrays" / "train") in rep["source"]
    assert result.n_representative == 8


def test_representative_images_are_a_seeded_draw_of_the_train_split(tmp_path):
    from xai_lab.edge import representative_images

    npz = write_npz(tmp_path / "d.npz", n=(50, 10))
    a, where = representative_images(npz, (28, 28, 1), n=20, seed=3)
    b, _ = representative_images(npz, (28, 28, 1), n=20, seed=3)
    c, _ = representative_images(npz, (28, 28, 1), n=20, seed=4)
    train = np.load(npz)["train_images"][..., None]
    assert a.shape == (20, 28, 28, 1) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert all(any(np.array_equal(img, t) for t in train) for img in a)  # drawn from train only
    assert "train" in where
    with pytest.raises(Exception, match="channels"):
        representative_images(npz, (28, 28, 3), n=5)


def test_export_does_not_modify_the_model():
    from xai_lab import edge

    model = small_cnn()
    before = [w.copy() for w in model.get_weights()]
    edge.convert(model, "int8", representative=np.random.default_rng(0).random((8, 28, 28, 1)))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_int8_conversion_needs_representative_images():
    from xai_lab import edge

    with pytest.raises(ValueError, match="representative"):
        edge.convert(small_cnn(), "int8")
    with pytest.raises(ValueError, match="quantize must be one of"):
        edge.convert(small_cnn(), "int4")


# ------------------------------------------------------------------ layers the converter refuses
def _erfinv_model():
    import keras

    @keras.saving.register_keras_serializable(package="xai_lab_tests")
    class InverseErf(keras.layers.Layer):
        """erfinv has no TFLite builtin kernel."""

        def call(self, x):
            return keras.ops.erfinv(keras.ops.tanh(x) * 0.5)

    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = InverseErf(name="inverse_erf")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(x), name="odd")


def test_a_layer_the_converter_cannot_take_is_named():
    from xai_lab import edge

    with pytest.raises(edge.ConversionError) as info:
        edge.convert(_erfinv_model())
    message = str(info.value)
    assert "'inverse_erf'" in message and "InverseErf" in message and "tf.Erfinv" in message
    assert "'conv'" not in message and "'gap'" not in message


def test_cli_refuses_the_layer_and_keeps_the_previous_file(tmp_path, capsys):
    from xai_lab import models

    models.save(_erfinv_model(), tmp_path / "model.keras")
    out = tmp_path / "deployed.tflite"
    out.write_bytes(b"previous export")
    rc, stdout, err = _export(capsys, "--model", str(tmp_path / "model.keras"), "--out", str(out))
    assert rc == 2 and stdout == ""
    assert "inverse_erf" in err and "Traceback" not in err
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deployed.tflite", "model.keras"]


def test_cli_bad_arguments(model_dir, tmp_path, capsys):
    root, _ = model_dir
    rc, _, err = _export(capsys, "--model", str(root / "model.keras"), "--out", str(tmp_path / "x.onnx"))
    assert rc == 2 and ".tflite" in err
    rc, _, err = _export(capsys, "--model", str(tmp_path / "missing.keras"), "--out", str(tmp_path / "x.tflite"))
    assert rc == 2 and "does not exist" in err
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    rc, _, err = _export(capsys, "--model", str(bad), "--out", str(tmp_path / "x.tflite"))
    assert rc == 2 and "corrupt" in err
    rc = main(["export", "--model", str(root / "model.keras"), "--format", "onnx", "--out", str(tmp_path / "x.tflite")])
    assert rc == 2 and "invalid choice" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.tflite"))


def test_int8_input_scale_is_one_255th_even_for_a_dim_representative_set(tmp_path):
    """Representative images between 0.2 and 0.8 must not make white pixels clip on the device."""
    from xai_lab import edge

    dim = 0.2 + 0.6 * np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
    result = edge.export_tflite(small_cnn(), tmp_path / "dim.tflite", "int8", representative=dim)
    assert result.metadata["input"]["scale"] == pytest.approx(1 / 255)
    assert result.metadata["input"]["zero_point"] == -128
    assert dim.min() >= 0.2  # the caller's images are not changed
