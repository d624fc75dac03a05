"""``xai-lab evaluate --model DIR/model.keras --images FOLDER --json`` on class folders."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("keras")

from xai_lab.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A 32 x 32 grey model that calls bright images 'pneumonia', with its calibration.json."""
    import keras

    from xai_lab import models

    inputs = keras.Input((32, 32, 1))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    logits = keras.layers.Dense(2)(mean)
    model = keras.Model(inputs, logits)
    model.layers[-1].set_weights([np.array([[-20.0, 20.0]]), np.array([10.0, -10.0])])
    folder = tmp_path_factory.mktemp("model")
    models.save(model, folder / "model.keras")
    calibration = {"temperature": 1.0, "threshold": 0.5, "task": "binary",
                   "dataset": "chest_xray", "label_names": ["normal", "pneumonia"]}
    (folder / "calibration.json").write_text(json.dumps(calibration))
    return folder


def _image(value: int, size: int = 64, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    colour = value if mode == "L" else (value, value, value)
    Image.new(mode, (size, size), colour).save(buf, "JPEG" if mode == "RGB" else "PNG")
    return buf.getvalue()


def _kermany(root: Path) -> Path:
    for cls, values in (("NORMAL", (20, 40, 60)), ("PNEUMONIA", (200, 220, 240, 90))):
        (root / cls).mkdir(parents=True)
        for i, v in enumerate(values):
            (root / cls / f"img{i}.png").write_bytes(_image(v, mode="RGB" if i == 0 else "L"))
    return root


def _evaluate(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["evaluate", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_kermany_layout_matches_lowercase_classes_and_lists_skipped_files(model_dir, tmp_path, capsys):
    folder = _kermany(tmp_path / "xrays")
    (folder / "PNEUMONIA" / "broken.png").write_bytes(_image(200)[:40])
    (folder / "NORMAL" / "notes.txt").write_text("ignored: not an image extension")
    with pytest.warns(UserWarning, match="broken.png"):  # a warning (stderr) names it too
        rc, out, err = _evaluate(capsys, "--model", str(model_dir / "model.keras"), "--images", str(folder), "--json")
    assert rc == 0, err
    result = json.loads(out)  # exactly one JSON object on stdout
    assert result["n"] == 7 and result["acc"] == pytest.approx(6 / 7)
    assert result["sensitivity"] == pytest.approx(3 / 4) and result["specificity"] == 1.0
    assert 0.0 <= result["auc"] <= 1.0
    assert [s["file"] for s in result["skipped"]] == ["PNEUMONIA/broken.png"]
    assert "truncated or corrupt" in result["skipped"][0]["reason"]
    assert result["images"] == str(folder)


def test_case_is_ignored_and_a_class_may_be_absent(model_dir, tmp_path, capsys):
    folder = tmp_path / "mixed"
    (folder / "Pneumonia").mkdir(parents=True)
    (folder / "Pneumonia" / "a.png").write_bytes(_image(230, size=20))  # resized to the model's 32
    rc, out, _ = _evaluate(capsys, "--model", str(model_dir / "model.keras"), "--images", str(folder), "--json")
    assert rc == 0
    result = json.loads(out)
    assert result["n"] == 1 and result["acc"] == 1.0 and result["auc"] is None


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"NORMAL": 2, "PNEUMONIA": 2, "COVID": 1}, "'COVID' match none of the model's classes"),
        ({"NORMAL": 2, "PNEUMONIA": 0}, "holds no image files"),
        ({"normal": 1, "NORMAL": 1}, "both name the class 'normal'"),
        ({}, "no class sub-folders"),
    ],
)
def test_folder_errors_are_one_clear_line(model_dir, tmp_path, capsys, layout, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    for cls, n in layout.items():
        (folder / cls).mkdir()
        for i in range(n):
            (folder / cls / f"{i}.png").write_bytes(_image(100))
    rc, out, err = _evaluate(capsys, "--model", str(model_dir / "model.keras"), "--images", str(folder), "--json")
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_without_class_names_the_error_says_what_to_pass(model_dir, tmp_path, capsys):
    folder = _kermany(tmp_path / "x")
    empty_cal = tmp_path / "calibration.json"
    empty_cal.write_text("{}")
    rc, _, err = _evaluate(capsys, "--model", str(model_dir / "model.keras"), "--images", str(folder),
                           "--calibration", str(empty_cal), "--json")
    assert rc == 2 and "class names are unknown" in err and "--calibration" in err
