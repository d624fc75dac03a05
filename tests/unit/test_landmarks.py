"""Landmark phantoms, the search environment, the greedy search (with an oracle), scoring,
the exercises of notebook 18 and the CLI's argument checks. No training here (see
``test_landmarks_agent.py``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xai_lab.landmarks import evaluate, phantoms, search
from xai_lab.landmarks.environment import (
    ACTIONS,
    MOVES,
    LandmarkEnvironment,
    box_average,
    default_strides,
)


# ------------------------------------------------------------------------------ phantoms
def test_phantoms_are_deterministic_split_apart_and_in_the_image():
    a = phantoms.make(70, 64, seed=3, split="train")
    b = phantoms.make(70, 64, seed=3, split="train")
    v = phantoms.make(70, 64, seed=3, split="val")
    assert a.images.shape == (70, 64, 64, 1) and a.images.dtype == np.uint8
    assert a.points.shape == (70, len(phantoms.LANDMARKS), 2) and a.points.dtype == np.float32
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.points, b.points)
    assert not np.array_equal(a.points, v.points)
    assert np.all((a.points > 0) & (a.points < 63))
    assert a.images.std() > 20  # an image, not a blank


def test_the_same_patients_at_64_and_128_px():
    small, big = phantoms.make(70, 64, seed=1), phantoms.make(70, 128, seed=1)
    # pixel centres: p = u * size - 0.5, so p128 = 2 * p64 + 0.5
    np.testing.assert_allclose(big.points, 2 * small.points + 0.5, atol=1e-4)


def test_landmarks_sit_on_their_anatomy():
    ds = phantoms.make(64, 128, seed=0)
    img = ds.images[..., 0].astype(float)
    idx = np.arange(len(ds))
    # the nodule's centre is brighter than the lung 6 px beside it (towards the image centre)
    les = np.rint(ds.point("lesion")).astype(int)
    side = np.where(les[:, 1] < 64, 6, -6)
    assert np.mean(img[idx, les[:, 0], les[:, 1]] > img[idx, les[:, 0], les[:, 1] + side]) > 0.9
    # just above the carina is the dark trachea, darker than the mediastinum 4 px beside it
    car = np.rint(ds.point("carina")).astype(int)
    assert np.mean(img[idx, car[:, 0] - 3, car[:, 1]] < img[idx, car[:, 0] - 3, car[:, 1] + 4]) > 0.9
    # each apex is the top of its lung: dark below it, body (brighter) above it
    for name in ("right_apex", "left_apex"):
        p = np.rint(ds.point(name)).astype(int)
        assert np.mean(img[idx, p[:, 0] + 4, p[:, 1]] < img[idx, p[:, 0] - 3, p[:, 1]]) > 0.9
    assert np.all(ds.point("right_apex")[:, 1] < ds.point("left_apex")[:, 1])  # patient's right = image left


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n": 0}, "at least 1"),
    ({"n": 4, "size": 16}, "at least 32"),
    ({"n": 4, "split": "holdout"}, "split must be"),
])  # fmt: skip
def test_phantoms_refuse_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        phantoms.make(**kwargs)


def test_landmark_set_helpers():
    ds = phantoms.make(10, 32)
    assert "10 phantom radiographs of 32x32" in repr(ds)
    assert ds.x().dtype == np.float32 and ds.x().max() <= 1.0
    sub = ds.subset([1, 3])
    np.testing.assert_array_equal(sub.points, ds.points[[1, 3]])
    with pytest.raises(ValueError, match="unknown landmark 'nose'"):
        ds.point("nose")


# ---------------------------------------------------------------------------- environment
def test_default_strides():
    assert default_strides(64) == (4, 2, 1)
    assert default_strides(128) == (8, 4, 2, 1)
    assert default_strides(32) == (2, 1)
    assert default_strides(100) == (4, 2, 1)


def test_box_average_is_the_window_mean_with_zeros_outside():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 9, 9, 1)).astype(np.uint8)
    for stride in (1, 2, 3, 4):
        got = box_average(img, stride)
        lo = stride // 2
        padded = np.pad(img.astype(float), ((0, 0), (stride, stride), (stride, stride), (0, 0)))
        for i, j in ((0, 0), (4, 5), (8, 8)):
            r, c = i - lo + stride, j - lo + stride
            want = padded[:, r : r + stride, c : c + stride].mean(axis=(1, 2))
            np.testing.assert_allclose(got[:, i, j], np.rint(want), atol=0.5)


def test_crops_sample_the_scale_around_the_agent_and_are_zero_outside():
    img = np.arange(64 * 64, dtype=np.int64).reshape(1, 64, 64, 1) % 251
    env = LandmarkEnvironment(img.astype(np.uint8), crop_size=5)
    crop = env.observe(np.array([0]), np.array([[20, 30]]), np.array([2]))  # finest scale
    np.testing.assert_array_equal(crop[0, :, :, 0], img[0, 18:23, 28:33, 0])
    crop = env.observe(np.array([0]), np.array([[20, 30]]), np.array([0]))  # stride 4
    np.testing.assert_array_equal(crop[0, 2, 2, 0], env.scales[0][0, 20, 30, 0])
    np.testing.assert_array_equal(crop[0, 0, 4, 0], env.scales[0][0, 12, 38, 0])
    corner = env.observe(np.array([0]), np.array([[0, 0]]), np.array([1]))
    assert np.all(corner[0, :2] == 0) and np.all(corner[0, :, :2] == 0)


def test_moves_rewards_and_borders():
    env = LandmarkEnvironment(np.zeros((1, 64, 64, 1), np.uint8), np.array([[40.0, 40.0]]), crop_size=5)
    pos = np.array([[40, 30]])
    right = env.move(pos, np.array([0]), np.array([ACTIONS.index("right")]))
    np.testing.assert_array_equal(right, [[40, 34]])  # stride 4 at the coarsest scale
    r = env.reward(np.array([0]), pos, right, np.array([0]))
    assert r[0] == pytest.approx((10 - 6) / 4)
    left = env.move(pos, np.array([2]), np.array([ACTIONS.index("left")]))
    assert env.reward(np.array([0]), pos, left, np.array([2]))[0] == pytest.approx(-1.0)
    stuck = env.move(np.array([[0, 5]]), np.array([0]), np.array([ACTIONS.index("up")]))
    np.testing.assert_array_equal(stuck, [[0, 5]])
    assert MOVES.shape == (4, 2)


def test_environment_refuses_bad_input():
    with pytest.raises(ValueError, match="square uint8"):
        LandmarkEnvironment(np.zeros((1, 8, 9, 1), np.uint8))
    with pytest.raises(ValueError, match="odd number"):
        LandmarkEnvironment(np.zeros((1, 8, 8, 1), np.uint8), crop_size=4)
    with pytest.raises(ValueError, match="decrease to 1"):
        LandmarkEnvironment(np.zeros((1, 8, 8, 1), np.uint8), crop_size=3, strides=(2, 4))
    with pytest.raises(ValueError, match="without landmark targets"):
        LandmarkEnvironment(np.zeros((1, 8, 8, 1), np.uint8), crop_size=3).distance([0], [[0, 0]])


# --------------------------------------------------------------------------------- search
def test_search_with_an_oracle_converges_next_to_every_landmark():
    ds = phantoms.make(40, 64, seed=2)
    env = LandmarkEnvironment(ds.images, ds.point("lesion"), crop_size=7)
    # the oracle reads the positions the search is at through a small spy on observe()
    observed = {}
    original = env.observe

    def spy(index, pos, level):
        observed["act"], observed["pos"], observed["level"] = np.asarray(index), np.asarray(pos), np.asarray(level)
        return original(index, pos, level)

    env.observe = spy

    def q(crops):
        act, pos, level = observed["act"], observed["pos"], observed["level"]
        out = np.zeros((len(act), len(ACTIONS)), np.float32)
        for a in range(len(ACTIONS)):
            out[:, a] = env.reward(act, pos, env.move(pos, level, np.full(len(act), a)), level)
        return out

    result = search.run_search(q, env, np.full((40, 2), 32), max_steps_per_scale=40, record=True)
    assert result.converged.all()
    assert np.all(result.errors <= math.sqrt(0.5) + 1e-6)  # the nearest pixel, at most
    t = result.trajectories[0]
    assert len(t) == result.steps[0] and t.positions.shape == (len(t) + 1, 2)
    assert list(np.unique(t.levels)) == [0, 1, 2] and np.all(np.diff(t.levels) >= 0)
    assert t.error == pytest.approx(result.errors[0]) and t.end == "oscillation"
    assert t.crops.shape == (len(t), 7, 7, 1) and t.image.shape == (64, 64, 1)
    assert t.step_table()[0]["stride"] == 4 and t.action_names[0] in ACTIONS
    top, left, bottom, right = t.footprint(len(t) - 1)
    assert (bottom - top + 1, right - left + 1) == (7, 7)


def test_search_stops_at_the_step_limit_and_says_so():
    env = LandmarkEnvironment(np.zeros((3, 32, 32, 1), np.uint8), np.full((3, 2), 16.0), crop_size=3)
    always_down = lambda crops: np.tile(np.array([[0, 1, 0, 0]], np.float32), (len(crops), 1))  # noqa: E731
    result = search.run_search(always_down, env, np.zeros((3, 2), int), max_steps_per_scale=5)
    # down at stride 2 for 5 moves, then at stride 1 for 5 moves: never back to a visited place
    assert list(result.ends) == ["step limit"] * 3 and not result.converged.any()
    np.testing.assert_array_equal(result.predictions, [[15, 0]] * 3)
    assert list(result.steps) == [10] * 3


def test_search_at_the_border_converges_on_the_spot():
    env = LandmarkEnvironment(np.zeros((1, 32, 32, 1), np.uint8), crop_size=3)
    always_up = lambda crops: np.tile(np.array([[1, 0, 0, 0]], np.float32), (len(crops), 1))  # noqa: E731
    result = search.run_search(always_up, env, np.array([[0, 9]]), max_steps_per_scale=5)
    assert result.converged.all() and list(result.steps) == [2]  # one blocked move per scale
    assert np.isnan(result.errors).all()  # no targets: errors are undefined, not zero


# -------------------------------------------------------------------------------- scoring
def test_scores():
    truth = np.zeros((5, 2))
    pred = np.array([[0, 1], [0, 2], [3, 4], [0, 10], [np.nan, 0]], float)
    err = evaluate.distance_errors(pred, truth)
    np.testing.assert_allclose(err[:4], [1, 2, 5, 10])
    assert np.isnan(err[4])
    s = evaluate.score("m", "carina", pred, truth, failure_radius=4.0, steps=[1, 2, 3, 4, 5],
                       converged=[True, True, True, False, True])  # fmt: skip
    assert s.median == pytest.approx(3.5) and s.failures == 3 and s.failure_rate == pytest.approx(0.6)
    assert s.p95 == pytest.approx(np.percentile([1, 2, 5, 10], 95))
    assert s.steps == 3 and s.not_converged == 1
    assert "median" in evaluate.table([s]) and np.isnan(evaluate.score("m", "x", pred, truth, failure_radius=1).steps)
    assert evaluate.default_failure_radius(64) == 4.0
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        evaluate.distance_errors(np.zeros((3, 3)), np.zeros((3, 3)))


# ------------------------------------------------------------------------------ exercises
def test_exercises_of_notebook_18():
    from xai_lab.course import check
    from xai_lab.landmarks import exercises  # noqa: F401

    assert check("18.reward", 5 - math.sqrt(18))
    bad = check("18.reward", 1.0)
    assert not bad and "Hint:" in bad.message
    assert check("18.oscillation", "b") and not check("18.oscillation", "a")
    assert check("18.median_error", 2.0, errors=[1, 2, 30]) and not check("18.median_error", 11.0, errors=[1, 2, 30])
    assert not check("18.median_error", 2.0)  # no context: explained, not raised

    class T:
        actions = np.array([2, 0])

    assert check("18.explained_action", "left", trajectory=T()) and not check("18.explained_action", "up", trajectory=T())



def test_cli_argument_errors_come_before_tensorflow(tmp_path):
    """``xai-lab landmarks`` refuses bad arguments in a fresh process without importing TensorFlow."""
    import json
    import subprocess
    import sys

    (tmp_path / "a-file.txt").write_text("x")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("precious")
    (tmp_path / "empty").mkdir()
    cases = [
        ["landmarks", "train", "--landmark", "carina", "--out", str(tmp_path / "r"), "--updates", "0"],
        ["landmarks", "train", "--landmark", "carina", "--out", str(tmp_path / "a-file.txt")],
        ["landmarks", "train", "--landmark", "carina", "--out", str(tmp_path / "notes")],
        ["landmarks", "train", "--landmark", "carina", "--out", str(tmp_path / "r"), "--seconds", "-1"],
        ["landmarks", "run", "--agent", str(tmp_path / "missing"), "--phantoms", "2"],
        ["landmarks", "run", "--agent", str(tmp_path / "empty"), "--image", str(tmp_path / "a-file.txt")],
        ["landmarks"],
    ]
    code = (
        "import json, sys\n"
        "from xai_lab.cli import main\n"
        f"codes = [main(a) for a in {cases!r}]\n"
        "print(json.dumps({'codes': codes, 'tf': 'tensorflow' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"codes": [2] * len(cases), "tf": False}
    assert "Traceback" not in done.stderr and done.stderr.count("error:") >= len(cases)
    assert not (tmp_path / "r").exists() and (tmp_path / "notes" / "thesis.tex").read_text() == "precious"
