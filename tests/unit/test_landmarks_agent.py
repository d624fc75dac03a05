"""The double-DQN agent (a tiny training run), its files, its explanations through the registry,
figures, the replay widget, the baselines and ``xai-lab landmarks``. Accuracy and training time
are measured by ``benchmarks/landmarks.py``, not here."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("keras")

from xai_lab import explain  # noqa: E402
from xai_lab.explain import UnsupportedModelError  # noqa: E402
from xai_lab.landmarks import (  # noqa: E402
    ACTIONS,
    CoordinateRegressor,
    HeatmapRegressor,
    LandmarkAgent,
    TrajectoryReplay,
    explain_trajectory,
    phantoms,
    step_figure,
    trajectory_figure,
)
from xai_lab.landmarks.agent import AgentFileError  # noqa: E402

TINY = {"updates": 40, "warmup": 64, "parallel": 8, "batch_size": 32, "memory": 2000, "target_update": 20}

#: Fast settings of the slow explainers (as in tests/conformance/test_explainers.py).
FAST = {
    "smoothgrad": {"n_samples": 4},
    "integrated_gradients": {"steps": 8},
    "occlusion": {"patch_size": 5, "stride": 5},
    "shap": {"algorithm": "gradient", "nsamples": 8},
    "tfexplain.smoothgrad": {"num_samples": 3},
    "tfexplain.integrated_gradients": {"n_steps": 4},
    "tfexplain.occlusion": {"patch_size": 5},
}
#: Explainers that may refuse the Q-network, and why.
MAY_REFUSE = {"attention_rollout": "needs a vision transformer"}


@pytest.fixture(scope="module")
def data():
    return phantoms.make(48, 32, seed=0, split="train"), phantoms.make(6, 32, seed=0, split="val")


@pytest.fixture(scope="module")
def agent(data):
    return LandmarkAgent("carina", **TINY).fit(data[0])


@pytest.fixture(scope="module")
def found(agent, data):
    return agent.search(data[1], record=True)


def test_fit_trains_and_logs(agent):
    assert agent.log.updates == TINY["updates"] and agent.log.stopped_by == "updates"
    assert agent.log.transitions >= TINY["warmup"]
    assert agent.log.history["update"][-1] == TINY["updates"]
    assert all(np.isfinite(agent.log.history["loss"]))
    assert agent.strides == (2, 1) and agent.size == 32
    net = agent.q_network
    assert tuple(net.outputs[0].shape) == (None, len(ACTIONS)) and tuple(net.inputs[0].shape) == (None, 15, 15, 1)
    assert "trained on 32 px" in repr(agent)


def test_search_results_and_trajectories(found, data):
    val = data[1]
    assert found.predictions.shape == (len(val), 2) and found.errors.shape == (len(val),)
    np.testing.assert_allclose(found.targets, val.point("carina"))
    for i, t in enumerate(found.trajectories):
        assert len(t) == found.steps[i] and t.end == found.ends[i]
        np.testing.assert_array_equal(t.q_values.argmax(axis=1), t.actions)  # greedy
        np.testing.assert_array_equal(t.prediction, found.predictions[i])
        np.testing.assert_array_equal(t.image, val.images[i])


def test_search_starts_where_asked(agent, data):
    val = data[1]
    for start in ("mean", "centre", "random"):
        r = agent.search(val, start=start)
        assert np.all((r.predictions >= 0) & (r.predictions < 32))
    r = agent.search(val.images, start=(3, 4), record=True)
    assert np.isnan(r.errors).all() and tuple(r.trajectories[0].positions[0]) == (3, 4)


def test_search_refuses_what_does_not_fit(agent, data):
    with pytest.raises(ValueError, match="do not fit this agent"):
        agent.search(phantoms.make(2, 64))
    with pytest.raises(ValueError, match="start must be"):
        agent.search(data[1], start="corner")
    with pytest.raises(ValueError, match="start must be"):
        agent.search(data[1], start=np.zeros((2, 2)))
    with pytest.raises(RuntimeError, match="not trained"):
        LandmarkAgent("lesion").search(data[1])
    with pytest.raises(ValueError, match="landmark of every image"):
        LandmarkAgent("lesion").fit(data[1].images)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"landmark": "nose"}, "unknown landmark"),
    ({"crop_size": 8}, "odd number"),
    ({"gamma": 1.0}, "gamma"),
    ({"warmup": 10}, "warmup"),
    ({"epsilon": (0.1, 0.5, 0.5)}, "epsilon"),
    ({"parallel": 0}, "parallel must be positive"),
])  # fmt: skip
def test_agent_settings_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LandmarkAgent(**kwargs)


def test_time_budget_stops_training(data):
    a = LandmarkAgent("lesion", **{**TINY, "updates": 100_000}).fit(data[0], seconds=0.01, log_every=5)
    assert a.log.stopped_by == "time budget" and a.log.updates < 100_000


def test_save_and_load_round_trip(agent, data, tmp_path):
    agent.save(tmp_path / "agent")
    again = LandmarkAgent.load(tmp_path / "agent")
    assert again.landmark == "carina" and again.strides == agent.strides and again.settings == agent.settings
    crops = np.random.default_rng(0).integers(0, 255, (4, 15, 15, 1)).astype(np.uint8)
    np.testing.assert_allclose(again._q_function()(crops), agent._q_function()(crops), rtol=1e-6)
    a, b = agent.search(data[1]), again.search(data[1])
    np.testing.assert_array_equal(a.predictions, b.predictions)
    assert again.log.updates == agent.log.updates


def test_loading_a_bad_folder_says_what_is_wrong(agent, tmp_path):
    with pytest.raises(AgentFileError, match="does not exist"):
        LandmarkAgent.load(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AgentFileError, match="lacks agent.json, q_network.keras"):
        LandmarkAgent.load(tmp_path / "empty")
    folder = agent.save(tmp_path / "broken")
    (folder / "agent.json").write_text("{not json")
    with pytest.raises(AgentFileError, match="cannot read"):
        LandmarkAgent.load(folder)
    (folder / "agent.json").write_text(json.dumps({"landmark": "carina"}))
    with pytest.raises(AgentFileError, match="not an agent description"):
        LandmarkAgent.load(folder)
    meta = {"landmark": "carina", "settings": {"crop_size": 15, "colour": "red"}, "size": 32, "channels": 1,
            "strides": [2, 1], "mean_start": [1.0, 2.0]}  # fmt: skip
    (folder / "agent.json").write_text(json.dumps(meta))
    with pytest.raises(AgentFileError, match="invalid settings"):
        LandmarkAgent.load(folder)
    with pytest.raises(AgentFileError, match="is not a folder"):
        agent.save(folder / "agent.json")
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(AgentFileError, match="notes.txt"):
        agent.save(folder)
    assert (folder / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------ explanations
@pytest.mark.slow
def test_every_registered_explainer_explains_the_q_network_or_refuses_clearly(agent, found):
    traj = found.trajectories[0]
    crops, actions = traj.crops[:3], traj.actions[:3]
    worked, refused = [], {}
    for name in explain.available():
        explainer = explain.get(name, **FAST.get(name, {}))
        try:
            e = explainer.explain(agent.q_network, crops, target=actions)
        except UnsupportedModelError as exc:
            assert str(exc), f"{name} refused without a reason"
            refused[name] = str(exc)
            continue
        assert e.maps.shape == (len(crops), 15, 15) and np.isfinite(e.maps).all(), name
        np.testing.assert_array_equal(e.targets, actions)
        np.testing.assert_array_equal(e.predictions, actions)  # the greedy action is the argmax
        worked.append(name)
    assert set(refused) <= set(MAY_REFUSE), f"unexpected refusals: {refused}"
    assert {"gradcam", "saliency", "deep_taylor"} <= set(worked)


def test_explain_trajectory_maps_every_step(agent, found):
    traj = found.trajectories[0]
    ex = explain_trajectory(agent, traj)
    assert ex.methods == ["gradcam", "saliency"] and len(ex) == len(traj)
    assert ex["gradcam"].layer == "last_relu" and ex.titles["gradcam"] == "Grad-CAM"
    np.testing.assert_array_equal(ex["saliency"].targets, traj.actions)
    direct = explain.get("gradcam").explain(agent.q_network, traj.crops, target=traj.actions)
    np.testing.assert_allclose(ex["gradcam"].maps, direct.maps)
    last = len(traj) - 1
    on_image = ex.on_image("gradcam", last)
    assert on_image.shape == (32, 32)
    top, left, bottom, right = traj.footprint(last)
    inside = np.zeros((32, 32), bool)
    inside[max(top, 0) : bottom + 1, max(left, 0) : right + 1] = True
    assert np.isfinite(on_image[inside]).all() and np.isnan(on_image[~inside]).all()
    with pytest.raises(KeyError, match="no 'occlusion' maps"):
        ex["occlusion"]
    with pytest.raises(IndexError):
        ex.on_image("gradcam", len(traj))
    with pytest.raises(TypeError, match="Trajectory"):
        explain_trajectory(agent, "not a trajectory")


def test_figures_and_replay_widget(agent, found):
    traj = found.trajectories[1]
    ex = explain_trajectory(agent, traj)
    fig = trajectory_figure(traj)
    names = [t.name for t in fig.data]
    assert "true landmark" in names and "end of the search" in names
    step = step_figure(ex, 0)
    bars = [t for t in step.data if getattr(t, "marker", None) is not None and getattr(t.marker, "showscale", None)]
    assert len(bars) == 2  # one colour bar per map
    assert [b.marker.colorbar.title.text for b in bars] == ["Grad-CAM value", "|dQ / dpixel|"]
    assert "Grad-CAM of Q(" in step.layout.annotations[2].text
    with pytest.raises(IndexError):
        step_figure(ex, len(traj))
    replay = TrajectoryReplay(ex)
    assert replay.step == 0 and "step 1 of" in replay.summary()
    replay.select(len(traj) - 1)
    assert f"step {len(traj)} of {len(traj)}" in replay.summary()
    widget = replay.widget
    replay.w_step.value = 0
    assert replay.step == 0 and "step 1 of" in replay.w_info.value
    bundle = replay._repr_mimebundle_()
    assert "application/vnd.plotly.v1+json" in bundle and widget is replay.widget
    with pytest.raises(ValueError, match="no maps for"):
        TrajectoryReplay(ex, methods=["occlusion"])


def test_teaching_figures(agent, data):
    from xai_lab.landmarks import landmarks_figure, scales_figure, training_figure

    fig = landmarks_figure(data[1], n=4, cols=2)
    assert len([t for t in fig.data if t.type == "image"]) == 4
    assert sum(t.showlegend is not False for t in fig.data if t.type == "scatter") == len(phantoms.LANDMARKS)
    fig = scales_figure(data[1].images[0], (10, 20), crop_size=7)
    assert len([t for t in fig.data if t.type == "image"]) == 1 + len(agent.strides)
    assert "row 10, column 20" in fig.layout.title.text
    fig = training_figure(agent.log)
    assert list(fig.data[0].x) == agent.log.history["update"]


# ----------------------------------------------------------------------------- baselines
@pytest.mark.slow
@pytest.mark.parametrize("cls", [CoordinateRegressor, HeatmapRegressor])
def test_baselines_train_and_predict(cls, data):
    model = cls("lesion", batch_size=4).fit(data[0], seconds=1e-3, epochs=2)
    assert model.epochs_run == pytest.approx(4 / len(data[0]))  # the budget stopped the first epoch
    pred = model.predict(data[1])
    assert pred.shape == (len(data[1]), 2) and np.isfinite(pred).all()
    with pytest.raises(ValueError, match="do not fit"):
        model.predict(phantoms.make(2, 64))
    with pytest.raises(RuntimeError, match="not trained"):
        cls("lesion").predict(data[1])


def test_heatmap_decoding_finds_a_subpixel_peak():
    model = HeatmapRegressor("carina", sigma=1.0)
    model.size = 16
    heat = model._encode(np.array([[5.0, 9.5]]))
    np.testing.assert_allclose(model._decode(np.log(heat + 1e-12)), [[5.0, 9.5]], atol=0.1)


# ---------------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_train_then_run(tmp_path, capsys):
    from PIL import Image

    from xai_lab.cli import main

    out = tmp_path / "agent"
    rc = main(["landmarks", "train", "--landmark", "lesion", "--out", str(out), "--size", "32",
               "--n-train", "20", "--n-val", "4", "--updates", "3"])  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0 and "median error" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["updates"] == 3 and metrics["n"] == 4 and metrics["split"] == "val"
    rc = main(["landmarks", "run", "--agent", str(out), "--phantoms", "3", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(result["searches"]) == 3 and "error_px" in result["searches"][0]
    png = tmp_path / "x.png"
    Image.fromarray(phantoms.make(1, 64).images[0, :, :, 0]).convert("RGB").save(png)
    rc = main(["landmarks", "run", "--agent", str(out), "--image", str(png)])
    line = capsys.readouterr().out
    assert rc == 0 and "lesion at row" in line and "x.png" in line


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--landmark", "nose", "--out", "OUT"], "invalid choice: 'nose'"),
    (["train", "--landmark", "carina", "--out", "OUT", "--updates", "0"], "must be at least 1, got 0"),
    (["train", "--landmark", "carina", "--out", "OUT", "--size", "16"], "must be at least 32"),
    (["train", "--landmark", "carina", "--out", "OUT", "--seconds", "nan"], "--seconds must be a positive"),
    (["train", "--landmark", "carina", "--out", "FILE"], "is not a folder"),
    (["train", "--landmark", "carina", "--out", "FOREIGN"], "which an agent folder does not"),
    (["run", "--agent", "MISSING", "--phantoms", "2"], "does not exist"),
    (["run", "--agent", "EMPTY", "--phantoms", "2"], "lacks agent.json"),
    (["run", "--agent", "EMPTY", "--image", "FILE"], "lacks agent.json"),
    (["run", "--agent", "EMPTY", "--phantoms", "0"], "must be at least 1"),
])  # fmt: skip
def test_cli_refuses_bad_arguments_before_any_work(argv, message, tmp_path, capsys):
    from xai_lab.cli import main

    (tmp_path / "FILE").write_text("x")
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "FOREIGN").mkdir()
    (tmp_path / "FOREIGN" / "thesis.tex").write_text("keep me")
    names = ("OUT", "FILE", "MISSING", "EMPTY", "FOREIGN")
    argv = [str(tmp_path / a) if a in names else a for a in argv]
    rc = main(["landmarks", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "OUT").exists()  # nothing written
    assert (tmp_path / "FOREIGN" / "thesis.tex").read_text() == "keep me"


def test_cli_refuses_a_file_that_is_not_an_image(agent, tmp_path, capsys):
    from xai_lab.cli import main

    folder = agent.save(tmp_path / "agent")
    (tmp_path / "notes.png").write_text("not an image at all")
    rc = main(["landmarks", "run", "--agent", str(folder), "--image", str(tmp_path / "notes.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "not an image" in err and "Traceback" not in err
