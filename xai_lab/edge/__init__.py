"""Edge deployment: export a trained model to TensorFlow Lite (optionally quantised), score it
with the same metrics as the Keras model, and explain it through the interpreter.

>>> from xai_lab import edge
>>> result = edge.export_model_file("out/pneumonia/model.keras", "pneumonia_int8.tflite", "int8")  # doctest: +SKIP
>>> deployed = edge.load_tflite("pneumonia_int8.tflite")                     # doctest: +SKIP
>>> xai_lab.explain.get("occlusion").explain(deployed, images)               # doctest: +SKIP
>>> edge.compare_explanations(keras_explanation, deployed_explanation)       # doctest: +SKIP

Modules (each imported when first used, so that ``xai_lab.training`` can load ``.tflite``
files through :mod:`~xai_lab.edge.runtime` without importing the explainers):

- :mod:`~xai_lab.edge.runtime`: :class:`TFLiteModel`, the interpreter behind the Keras model
  interface (imports ``models`` only);
- :mod:`~xai_lab.edge.export`: the converter, quantisation, the sidecar JSON;
- :mod:`~xai_lab.edge.compare`: how far the deployed model's maps are from the float model's;
- :mod:`~xai_lab.edge.latency`: per-image latency at batch 1;
- :mod:`~xai_lab.edge.commands`: ``xai-lab export``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "TFLiteModel": "runtime",
    "NoGradientError": "runtime",
    "load_tflite": "runtime",
    "read_sidecar": "runtime",
    "sidecar_path": "runtime",
    "ConversionError": "export",
    "ExportResult": "export",
    "QUANTIZATIONS": "export",
    "convert": "export",
    "export_tflite": "export",
    "export_model_file": "export",
    "representative_images": "export",
    "MapAgreement": "compare",
    "compare_explanations": "compare",
    "explain_both": "compare",
    "agreement_figure": "figures",
    "Latency": "latency",
    "measure_latency": "latency",
    "pooled": "latency",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
