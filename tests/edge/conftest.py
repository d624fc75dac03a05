"""Fixtures of the edge tests: a small CNN saved as a trained model folder, and its exports."""

from __future__ import annotations

import json

import pytest
from edge_helpers import small_cnn, write_npz

pytest.importorskip("keras")
pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """``DIR/model.keras`` + ``DIR/calibration.json`` (as xai-lab train writes them) and a tiny npz."""
    from xai_lab import models

    root = tmp_path_factory.mktemp("edge_model")
    npz = write_npz(root / "tiny.npz")
    model = small_cnn()
    models.save(model, root / "model.keras")
    calibration = {
        "temperature": 1.5,
        "threshold": 0.4,
        "fitted_on": "val",
        "task": "binary",
        "dataset": "pneumoniamnist",
        "n_classes": 2,
        "label_names": ["normal", "pneumonia"],
    }
    (root / "calibration.json").write_text(json.dumps(calibration))
    return root, npz


@pytest.fixture(scope="session")
def exported(model_dir, tmp_path_factory):
    """The model exported as float32, float16, dynamic and int8 (representative set: the npz)."""
    from xai_lab import edge

    root, npz = model_dir
    out = tmp_path_factory.mktemp("edge_exports")
    paths = {}
    for q in ("float32", "float16", "dynamic", "int8"):
        result = edge.export_model_file(root / "model.keras", out / f"tiny_{q}.tflite", q,
                                        calibration_data=npz if q == "int8" else None)
        paths[q] = result.path
    return paths
