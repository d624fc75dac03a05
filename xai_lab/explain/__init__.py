"""Explainers behind one API: ``get(name, **settings).explain(model, images, target)``.

>>> from xai_lab import explain
>>> explain.available()                                  # doctest: +SKIP
['deep_taylor', 'deep_taylor.bounded', 'gradcam', 'gradcam++', ...]
>>> e = explain.get("gradcam").explain(model, images)    # doctest: +SKIP
"""

from .base import (
    Explainer,
    MapResult,
    UnsupportedModelError,
    available,
    get,
    method_info,
    register,
)
from .explanation import Explanation, ExplanationFileError
from .info import MethodInfo

__all__ = [
    "Explainer",
    "Explanation",
    "ExplanationFileError",
    "MapResult",
    "MethodInfo",
    "UnsupportedModelError",
    "available",
    "get",
    "method_info",
    "register",
]
