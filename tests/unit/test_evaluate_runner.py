"""The runner: models x explainers x metrics -> tidy table, summary and figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xai_lab.evaluate import (
    Deletion,
    MaxSensitivity,
    ModelParameterRandomisation,
    PointingGame,
    RelevanceMassAccuracy,
    figures,
    layer_frame,
    run,
    summary,
)
from xai_lab.explain import Explainer, MapResult, UnsupportedModelError


class Refuses(Explainer):
    name = "refuses"

    def check_model(self, model):
        raise UnsupportedModelError("this explainer supports no model at all")


class InputEcho(Explainer):
    name = "input_echo"

    def _explain(self, model, x, targets):
        return MapResult(maps=x[..., 0])


@pytest.fixture(scope="module")
def cnn():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((10, 10, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(2, name="logits")(h))


def test_run_returns_a_tidy_table(cnn):
    rng = np.random.default_rng(0)
    images = (rng.random((3, 10, 10, 1)) * 255).astype(np.uint8)
    masks = np.zeros((3, 10, 10), bool)
    masks[:, 3:6, 3:6] = True
    masks[2] = False  # an empty mask: NaN, kept in the table
    metrics = [
        Deletion(n_steps=4),
        PointingGame(),
        RelevanceMassAccuracy(),
        ModelParameterRandomisation(),
        MaxSensitivity(n_samples=2),
    ]
    messages = []
    table = run(
        {"cnn": cnn},
        {"echo": InputEcho(), "refuses": Refuses()},
        (images, np.array([0, 1, 0]), masks),
        metrics,
        progress=messages.append,
    )
    assert list(table.columns) == ["model", "explainer", "metric", "image", "score", "higher_is_better"]
    assert set(table["metric"]) == {
        "deletion", "pointing_game", "relevance_mass_accuracy",
        "model_randomisation.cascading.spearman", "max_sensitivity",
    }
    assert len(table) == 5 * 3 and set(table["explainer"]) == {"echo"}
    assert table["score"].dtype == np.float64
    pg = table[table["metric"] == "pointing_game"]["score"].to_numpy()
    assert np.isnan(pg[2]) and np.isfinite(pg[:2]).all()
    # The echo map ignores the model: randomising it changes nothing.
    mprt = table[table["metric"].str.startswith("model_randomisation")]["score"].to_numpy()
    np.testing.assert_allclose(mprt, 1.0)
    layers = layer_frame(table)
    assert list(layers["layer"].unique()) == ["logits", "conv"]
    assert set(layers["similarity"]) == {1.0}
    # Tables of several runs concatenate (attrs hold plain Python only).
    both = pd.concat([table.assign(run="a"), table.assign(run="b")], ignore_index=True)
    assert len(both) == 2 * len(table)
    assert any("refuses" in s and "supports no model" in s for s in table.attrs["skipped"])
    assert messages

    s = summary(table)
    row = s[s["metric"] == "pointing_game"].iloc[0]
    assert row["n"] == 2 and row["n_nan"] == 1
    assert row["mean"] == pytest.approx(np.nanmean(pg))

    figs = figures(table)
    assert "metric:deletion" in figs and "randomisation:model_randomisation.cascading.spearman" in figs
    assert figs["metric:deletion"].data[0].type == "bar"


def test_run_without_masks_skips_localisation_and_uses_registry_names(cnn):
    images = np.random.default_rng(1).random((2, 10, 10, 1)).astype(np.float32)
    table = run({"cnn": cnn}, ["saliency"], images, [Deletion(n_steps=3), PointingGame()])
    assert set(table["metric"]) == {"deletion"}
    assert any("no masks" in s for s in table.attrs["skipped"])
    with pytest.raises(ValueError, match="label"):
        run({"cnn": cnn}, ["saliency"], images, [Deletion(n_steps=3)], target="label")
