"""Bad command-line input: ``error: ...`` on stderr, exit status 2, no traceback, nothing written.

Every case runs ``xai_lab.cli.main`` in-process with captured output; one subprocess runs the
argument errors of all commands together and checks that none of them imported TensorFlow
(the checks run before any work). The output folder of ``xai-lab train`` changes as a whole:
an interrupted re-train leaves the previous run as it was, and evaluate keeps its threshold.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xai_lab.cli import main


def _npz(path: Path, n=(40, 24, 24), classes=2, seed=0, splits=("train", "val", "test")) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(splits, n, strict=False):
        y = np.arange(count) % classes
        x = rng.integers(0, 100, (count, 28, 28)) + (y * (150 // max(classes - 1, 1)))[:, None, None]
        arrays[f"{split}_images"] = x.astype(np.uint8)
        arrays[f"{split}_labels"] = y.reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture()
def ws(tmp_path) -> Path:
    """A workspace: a tiny npz, a plain file, a folder holding someone's notes."""
    _npz(tmp_path / "tiny.npz")
    (tmp_path / "a-file.txt").write_text("not a folder")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("precious")
    return tmp_path


def _assert_refused(rc: int, out: str, err: str, *needles: str) -> None:
    assert rc == 2, (rc, err)
    assert "error:" in err and "Traceback" not in err + out, err
    for needle in needles:
        assert needle in err, (needle, err)


# ------------------------------------------------------------------------------ train
TRAIN_CASES = {
    "epochs 0": (["--epochs", "0"], ["--epochs", "at least 1"]),
    "epochs -1": (["--epochs", "-1"], ["--epochs", "at least 1"]),
    "epochs not a number": (["--epochs", "ten"], ["--epochs", "'ten'"]),
    "size 5": (["--size", "5"], ["--size 5", "28, 64, 128, 224"]),
    "size 0": (["--size", "0"], ["--size", "at least 1"]),
    "seed -1": (["--seed", "-1"], ["--seed", "at least 0"]),
    "unknown dataset": (["--dataset", "mnist"], ["no default recipe", "pneumoniamnist"]),
    "data file missing": (["--data", "{ws}/missing.npz"], ["--data", "does not exist"]),
    "data dir missing": (["--data-dir", "{ws}/nowhere"], ["--data-dir", "does not exist"]),
    "data dir is a file": (["--data-dir", "{ws}/a-file.txt"], ["is not a folder"]),
    "data and data dir": (["--data", "{ws}/tiny.npz", "--data-dir", "{ws}"], ["not both"]),
    "size with data": (["--data", "{ws}/tiny.npz", "--size", "64"], ["--size does not apply"]),
    "out is a file": (["--out", "{ws}/a-file.txt"], ["--out", "is not a folder"]),
    "out holds other files": (["--out", "{ws}/notes"], ["thesis.tex", "new or empty folder"]),
    "out empty name": (["--out", ""], ["--out", "empty"]),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_refuses_bad_arguments_before_any_work(capsys, ws, case):
    extra, needles = TRAIN_CASES[case]
    argv = {"--dataset": "pneumoniamnist", "--out": str(ws / "run")}
    rest: list[str] = []
    for key, value in zip(extra[::2], extra[1::2], strict=True):
        value = value.format(ws=ws)
        if key in argv:
            argv[key] = value
        else:
            rest += [key, value]
    args = [x for kv in argv.items() for x in kv] + rest
    before = _snapshot(ws)
    rc, out, err = _run(capsys, "train", *args)
    _assert_refused(rc, out, err, *needles)
    assert _snapshot(ws) == before  # nothing written, nothing removed


def test_train_unknown_model_family(capsys, ws):
    rc, out, err = _run(capsys, "train", "--dataset", "pneumoniamnist", "--out", str(ws / "run"),
                        "--model", "gpt")
    _assert_refused(rc, out, err, "--model 'gpt'", "cnn")
    assert not (ws / "run").exists()


# ------------------------------------------------------------------------------ evaluate
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny pneumonia-like run of the default recipe (fast mode, one epoch)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XAI_LAB_FAST", "1")
    root = tmp_path_factory.mktemp("cli-bad")
    npz = _npz(root / "tiny.npz")
    try:
        rc = main(["train", "--dataset", "pneumoniamnist", "--data", str(npz), "--epochs", "1",
                   "--out", str(root / "run")])
    finally:
        mp.undo()
    assert rc == 0
    return npz, root / "run"


def _copy_run(run: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(run, dest)
    return dest


BAD_CALIBRATIONS = {
    "negative temperature": ({"temperature": -1.3, "threshold": 0.5}, "'temperature'"),
    "zero temperature": ({"temperature": 0, "threshold": 0.5}, "'temperature'"),
    "text temperature": ({"temperature": "1.2"}, "'temperature'"),
    "threshold above 1": ({"temperature": 1.0, "threshold": 1.5}, "'threshold'"),
    "negative threshold": ({"temperature": 1.0, "threshold": -0.1}, "'threshold'"),
}


@pytest.mark.parametrize("case", list(BAD_CALIBRATIONS))
def test_evaluate_refuses_a_bad_calibration_beside_the_model(capsys, trained, tmp_path, case):
    npz, run = trained
    copy = _copy_run(run, tmp_path / "run")
    cal, field = BAD_CALIBRATIONS[case]
    (copy / "calibration.json").write_text(json.dumps(cal))
    rc, out, err = _run(capsys, "evaluate", "--model", str(copy / "model.keras"), "--data", str(npz),
                        "--split", "val", "--json")
    _assert_refused(rc, out, err, str(copy / "calibration.json"), field)
    assert out == ""


def test_evaluate_names_malformed_and_missing_calibration_files(capsys, trained, tmp_path):
    npz, run = trained
    model = str(run / "model.keras")
    broken = tmp_path / "cal.json"
    broken.write_text('{"temperature": 1.1, ')
    rc, out, err = _run(capsys, "evaluate", "--model", model, "--data", str(npz), "--calibration",
                        str(broken), "--json")
    _assert_refused(rc, out, err, "not valid JSON", str(broken))
    rc, out, err = _run(capsys, "evaluate", "--model", model, "--data", str(npz), "--calibration",
                        str(tmp_path / "none.json"), "--json")
    _assert_refused(rc, out, err, "--calibration", "does not exist")


EVALUATE_CASES = {
    "model missing": (["--model", "{ws}/none.keras", "--data", "{ws}/tiny.npz"], ["--model", "does not exist"]),
    "model not .keras": (["--model", "{ws}/a-file.txt", "--data", "{ws}/tiny.npz"], ["not a .keras"]),
    "data missing": (["--model", "{model}", "--data", "{ws}/none.npz"], ["--data", "does not exist"]),
    "unknown split": (["--model", "{model}", "--data", "{ws}/tiny.npz", "--split", "holdout"], ["--split"]),
    "unknown dataset": (["--model", "{model}", "--dataset", "mnist"], ["unknown --dataset 'mnist'"]),
    "data dir with data": (["--model", "{model}", "--data", "{ws}/tiny.npz", "--data-dir", "{ws}"],
                           ["--data-dir goes with --dataset"]),
    "no source": (["--model", "{model}"], ["--dataset", "--data"]),
}


@pytest.mark.parametrize("case", list(EVALUATE_CASES))
def test_evaluate_refuses_bad_arguments(capsys, trained, ws, case):
    _, run = trained
    args, needles = EVALUATE_CASES[case]
    args = [a.format(ws=ws, model=run / "model.keras") for a in args]
    rc, out, err = _run(capsys, "evaluate", *args, "--json")
    _assert_refused(rc, out, err, *needles)
    assert out == ""


def test_evaluate_refuses_models_without_one_class_output(capsys, ws):
    import keras

    from xai_lab import models

    inp = keras.Input((28, 28, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp))
    files = {
        "two-outputs": keras.Model(inp, [keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)]),
        "maps": keras.Model(inp, keras.layers.Conv2D(2, 1)(inp)),  # (N, 28, 28, 2)
    }
    for name, model in files.items():
        path = models.save(model, ws / f"{name}.keras")
        rc, out, err = _run(capsys, "evaluate", "--model", str(path), "--data", str(ws / "tiny.npz"),
                            "--split", "val", "--json")
        _assert_refused(rc, out, err, "(N, n_classes)")


def test_evaluate_a_softmax_model_like_its_logit_twin(capsys, trained, tmp_path):
    """A model ending in a softmax scores exactly as the same network without it."""
    import keras

    from xai_lab import models

    npz, run = trained
    logit_model = models.load(run / "model.keras")
    soft = keras.Model(logit_model.inputs, keras.layers.Softmax()(logit_model.outputs[0]))
    folder = tmp_path / "soft"
    folder.mkdir()
    models.save(soft, folder / "model.keras")
    (folder / "calibration.json").write_text((run / "calibration.json").read_text())
    results = []
    for model in (run / "model.keras", folder / "model.keras"):
        rc, out, err = _run(capsys, "evaluate", "--model", str(model), "--data", str(npz),
                            "--split", "val", "--json")
        assert rc == 0, err
        results.append(json.loads(out))
    logit, softmaxed = results
    assert logit["model_outputs"] == "logits" and softmaxed["model_outputs"] == "probabilities"
    for key in ("acc", "auc", "nll", "ece", "sensitivity", "specificity", "acc_at_threshold"):
        assert softmaxed[key] == pytest.approx(logit[key], abs=1e-4), key


# ------------------------------------------------------------------------------ the run folder
def test_interrupted_retrain_leaves_the_previous_run_whole(capsys, trained, tmp_path, monkeypatch):
    """Ctrl-C after the new model is written but before its calibration: the folder is the old
    run, file for file, and evaluate still uses the old threshold."""
    from xai_lab.training import recipes

    npz, run = trained
    out = _copy_run(run, tmp_path / "run")
    before = _snapshot(out)
    rc, first, _ = _run(capsys, "evaluate", "--model", str(out / "model.keras"), "--data", str(npz),
                        "--split", "val", "--json")
    assert rc == 0
    real_write_json = recipes.write_json

    def interrupted(path, obj):
        if Path(path).name == "calibration.json":
            raise KeyboardInterrupt  # Ctrl-C between two files of the new run
        return real_write_json(path, obj)

    monkeypatch.setattr(recipes, "write_json", interrupted)
    monkeypatch.setenv("XAI_LAB_FAST", "1")
    rc, _, err = _run(capsys, "train", "--dataset", "pneumoniamnist", "--data", str(npz),
                      "--epochs", "1", "--seed", "7", "--out", str(out))
    assert rc == 130 and "interrupted" in err and "Traceback" not in err
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary sibling left
    rc, again, _ = _run(capsys, "evaluate", "--model", str(out / "model.keras"), "--data", str(npz),
                        "--split", "val", "--json")
    assert rc == 0 and json.loads(again)["threshold"] == json.loads(first)["threshold"]
    monkeypatch.setattr(recipes, "write_json", real_write_json)
    rc, _, err = _run(capsys, "train", "--dataset", "pneumoniamnist", "--data", str(npz),
                      "--epochs", "1", "--seed", "7", "--out", str(out))
    assert rc == 0, err
    after = _snapshot(out)
    assert set(after) == set(before) and after["model.keras"] != before["model.keras"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# ------------------------------------------------------------------------------ demo, explorer
DEMO_CASES = {
    "images 0": (["--images", "0"], ["--images", "at least 1"]),
    "epochs 0": (["--epochs", "0"], ["--epochs", "at least 1"]),
    "seed too large": (["--seed", str(2**32)], ["--seed", "at most"]),
    "out is a file": (["--out", "{ws}/a-file.txt"], ["--out", "is not a folder"]),
    "out holds other files": (["--out", "{ws}/notes"], ["thesis.tex"]),
    "data dir missing": (["--data-dir", "{ws}/nowhere"], ["--data-dir", "does not exist"]),
}


@pytest.mark.parametrize("case", list(DEMO_CASES))
def test_demo_refuses_bad_arguments(capsys, ws, case):
    args, needles = DEMO_CASES[case]
    args = [a.format(ws=ws) for a in args]
    if "--out" not in args:
        args += ["--out", str(ws / "demo")]
    before = _snapshot(ws)
    rc, out, err = _run(capsys, "demo", *args)
    _assert_refused(rc, out, err, *needles)
    assert _snapshot(ws) == before


EXPLORER_CASES = {
    "port 0": (["--port", "0"], ["--port", "at least 1"]),
    "port too large": (["--port", "70000"], ["--port", "at most 65535"]),
    "port not a number": (["--port", "http"], ["--port", "'http'"]),
    "idle timeout 0": (["--kernel-idle-timeout", "0"], ["--kernel-idle-timeout", "at least 10"]),
    "models is a file": (["--models", "{ws}/a-file.txt"], ["--models", "is not a folder"]),
}


@pytest.mark.parametrize("case", list(EXPLORER_CASES))
def test_explorer_refuses_bad_arguments(capsys, ws, case):
    args, needles = EXPLORER_CASES[case]
    rc, out, err = _run(capsys, "explorer", "--no-browser", *[a.format(ws=ws) for a in args])
    _assert_refused(rc, out, err, *needles)


def test_explorer_refuses_a_port_in_use(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc, out, err = _run(capsys, "explorer", "--no-browser", "--port", str(port))
    _assert_refused(rc, out, err, f"--port {port}", "choose another --port")
    assert "XAI Lab explorer:" not in out  # nothing was started


def test_argument_errors_come_before_tensorflow(ws):
    """All commands' argument errors, in one fresh process: none imports TensorFlow."""
    cases = [
        ["train", "--dataset", "pneumoniamnist", "--out", str(ws / "r"), "--epochs", "0"],
        ["train", "--dataset", "pneumoniamnist", "--out", str(ws / "r"), "--size", "5"],
        ["train", "--dataset", "pneumoniamnist", "--out", str(ws / "a-file.txt")],
        ["train", "--dataset", "pneumoniamnist", "--out", str(ws / "notes")],
        ["evaluate", "--model", str(ws / "a-file.txt"), "--data", str(ws / "tiny.npz")],
        ["demo", "--images", "0"],
        ["explorer", "--port", "0"],
        ["nonsense"],
    ]
    code = (
        "import json, sys\n"
        "from xai_lab.cli import main\n"
        f"codes = [main(a) for a in {cases!r}]\n"
        "print(json.dumps({'codes': codes, 'tf': 'tensorflow' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"codes": [2] * len(cases), "tf": False}
    assert "Traceback" not in done.stderr and done.stderr.count("error:") >= len(cases)


def test_the_current_folder_is_never_an_output_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # empty, so only its being the current folder is wrong
    for out in (".", str(tmp_path), ".."):
        rc, stdout, err = _run(capsys, "train", "--dataset", "pneumoniamnist", "--out", out)
        _assert_refused(rc, stdout, err, "--out")
    assert list(tmp_path.iterdir()) == []
