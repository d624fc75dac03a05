"""XAI Lab: explainable AI for medical image recognition on Keras 3.

Nothing heavy happens at import: TensorFlow and Keras load when a sub-package that needs them
is first used (``xai_lab.models``, ``xai_lab.explain``, ...).

>>> import xai_lab as xl
>>> ds = xl.data.load("pneumoniamnist", "val")          # doctest: +SKIP
>>> model = xl.models.build("cnn", ds.images.shape[1:], 2)  # doctest: +SKIP
>>> e = xl.explain.get("gradcam").explain(model, ds.images[:4] / 255)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SUBPACKAGES = ("config", "data", "models", "training", "explain", "evaluate", "viz", "widgets", "app", "report",
                "graphs")

if TYPE_CHECKING:  # pragma: no cover
    from . import config, data, evaluate, explain, models, report, training, viz, widgets  # noqa: F401


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'xai_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_SUBPACKAGES))
