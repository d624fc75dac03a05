"""Interactive apps for the course, built with ipywidgets and plotly on :mod:`xai_lab.viz`.

Each app keeps its logic in plain methods (``select``, ``compare``, ``select_cell``, ``set``,
``stop``) that work without a browser, and shows a static plotly figure where no live kernel
renders widgets (nbval, exported HTML). Modules load on first use: ``TrainingDashboard``
imports Keras, the others do not until they explain something.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "ExplanationExplorer": "explorer",
    "CompareExplainers": "compare",
    "ConfusionExplorer": "confusion",
    "TrainingDashboard": "dashboard",
    "NeuronPlayground": "neuron",
    "LearningRatePlayground": "gradient_descent",
    "ThresholdExplorer": "threshold",
    "confusion_matrix": "confusion",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xai_lab.widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_WHERE))
