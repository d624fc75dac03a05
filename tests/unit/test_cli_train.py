"""``xai-lab train`` / ``xai-lab evaluate`` round trips and their errors (tiny npz files)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("keras")

from xai_lab.cli import main  # noqa: E402


def _npz(path, n=(40, 24, 24), channels=1, classes=2, seed=0, splits=("train", "val", "test")):
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(splits, n, strict=False):
        y = np.arange(count) % classes
        shape = (count, 28, 28) if channels == 1 else (count, 28, 28, channels)
        x = rng.integers(0, 100, shape) + (y * (150 // max(classes - 1, 1))).reshape((-1,) + (1,) * (len(shape) - 1))
        arrays[f"{split}_images"] = x.astype(np.uint8)
        arrays[f"{split}_labels"] = y.reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny pneumonia-like run of the default recipe (fast mode, one epoch)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XAI_LAB_FAST", "1")
    root = tmp_path_factory.mktemp("cli")
    npz = _npz(root / "tiny.npz")
    out = root / "run"
    try:
        rc = main(["train", "--dataset", "pneumoniamnist", "--data", str(npz), "--epochs", "1", "--out", str(out)])
    finally:
        mp.undo()
    assert rc == 0
    return npz, out


def _evaluate(capsys, *args):
    capsys.readouterr()
    rc = main(["evaluate", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_train_writes_all_outputs(trained):
    _, out = trained
    for name in ("model.keras", "metrics.json", "history.json", "calibration.json"):
        assert (out / name).is_file(), name
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["temperature"] > 0 and 0 <= cal["threshold"] <= 1 and cal["task"] == "binary"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "val" and metrics["n"] == 24 and "auc" in metrics
    history = json.loads((out / "history.json").read_text())
    assert len(history["val_auc"]) == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def test_evaluate_prints_exactly_one_json_object(trained, capsys):
    npz, out = trained
    rc, stdout, _ = _evaluate(capsys, "--model", str(out / "model.keras"), "--data", str(npz), "--split", "test", "--json")
    assert rc == 0
    result = json.loads(stdout)  # the whole of stdout is one JSON object
    assert result["n"] == 24 and 0 <= result["acc"] <= 1
    assert {"auc", "sensitivity", "specificity", "threshold"} <= set(result)
    cal = json.loads((out / "calibration.json").read_text())
    assert result["threshold"] == pytest.approx(cal["threshold"])


def test_evaluate_errors(trained, capsys, tmp_path):
    npz, out = trained
    model = str(out / "model.keras")
    rc, stdout, err = _evaluate(capsys, "--model", str(tmp_path / "none.keras"), "--data", str(npz), "--json")
    assert rc == 2 and stdout == "" and "does not exist" in err
    bad = tmp_path / "bad.keras"
    bad.write_text("garbage")
    rc, _, err = _evaluate(capsys, "--model", str(bad), "--data", str(npz), "--json")
    assert rc == 2 and "corrupt" in err
    rgb = _npz(tmp_path / "rgb.npz", channels=3)
    rc, _, err = _evaluate(capsys, "--model", model, "--data", str(rgb), "--split", "val", "--json")
    assert rc == 2 and "do not fit" in err
    five = _npz(tmp_path / "five.npz", classes=5)
    rc, _, err = _evaluate(capsys, "--model", model, "--data", str(five), "--split", "val", "--json")
    assert rc == 2 and "5 classes" in err
    notest = _npz(tmp_path / "notest.npz", n=(8, 8), splits=("train", "val"))
    rc, _, err = _evaluate(capsys, "--model", model, "--data", str(notest), "--split", "test", "--json")
    assert rc == 2 and "test" in err


def test_lambda_model_needs_unsafe(capsys, tmp_path):
    import keras

    from xai_lab import models

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 1.0)(inputs))
    path = models.save(keras.Model(inputs, keras.layers.Dense(2)(x)), tmp_path / "lambda.keras")
    npz = _npz(tmp_path / "d.npz", n=(8, 8, 8))
    rc, stdout, err = _evaluate(capsys, "--model", str(path), "--data", str(npz), "--json")
    assert rc == 2 and stdout == "" and "Lambda" in err and "--unsafe" in err
    rc, stdout, _ = _evaluate(capsys, "--model", str(path), "--data", str(npz), "--json", "--unsafe")
    assert rc == 0 and json.loads(stdout)["n"] == 8


def test_ordinal_round_trip_reports_qwk(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_LAB_FAST", "1")
    npz = _npz(tmp_path / "retina.npz", n=(30, 15, 15), channels=3, classes=5)
    out = tmp_path / "retina"
    rc = main(["train", "--dataset", "retinamnist", "--data", str(npz), "--model", "dnn", "--epochs", "1",
               "--out", str(out)])
    assert rc == 0
    rc, stdout, _ = _evaluate(capsys, "--model", str(out / "model.keras"), "--data", str(npz), "--json")
    assert rc == 0
    result = json.loads(stdout)
    assert result["task"] == "ordinal" and "qwk" in result and "sensitivity" not in result
    assert len(result["confusion_matrix"]) == 5


def test_train_unknown_dataset_is_a_clear_error(capsys, tmp_path):
    rc = main(["train", "--dataset", "mnist", "--out", str(tmp_path / "x")])
    assert rc == 2 and "no default recipe" in capsys.readouterr().err
