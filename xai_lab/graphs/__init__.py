"""Images as graphs: superpixel region-adjacency graphs, graph networks and node explanations.

>>> from xai_lab import data, graphs
>>> train = graphs.from_dataset(data.load("pneumoniamnist", "train"))      # doctest: +SKIP
>>> val = graphs.from_dataset(data.load("pneumoniamnist", "val"))          # doctest: +SKIP
>>> result = graphs.train_on("pneumoniamnist", train, val)                 # doctest: +SKIP
>>> e = graphs.get_explainer("node_occlusion").explain(result["model"], val[:8])  # doctest: +SKIP

Modules (each layer imports only those before it, and the rest of ``xai_lab`` below them):
``construct`` (SLIC superpixels -> :class:`SuperpixelGraphs`), ``network`` (GCN / GraphSAGE
layers in ``keras.ops``), ``fitting`` (training with the project's conventions), ``explainers``
(gradient x input, superpixel occlusion, GNNExplainer -> :class:`NodeExplanation`), ``compare``
(agreement per superpixel with pixel explanations), ``figures`` (plotly).

``construct`` is numpy + scikit-image; the rest loads Keras or plotly when first used.

Place in the house: beside ``viz`` / ``widgets``. It imports ``models``, ``training``,
``explain`` (the :class:`~xai_lab.explain.Explanation`, ``UnsupportedModelError``, target
resolution) and ``viz`` (colour maps); no module below it imports it. Graph networks are not in
the image model registry (``xai_lab.models.build`` builds image models): pixel explainers refuse
them with ``UnsupportedModelError``, and :data:`GRAPH_RECIPES` / :func:`train_on` stand beside
``xai_lab.training.recipes``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .construct import (
    GraphInputError,
    SuperpixelGraphs,
    feature_names,
    from_dataset,
    from_images,
    region_adjacency,
    superpixels,
)

_LAZY = {
    "GraphConv": "network",
    "GraphReadout": "network",
    "NodeDense": "network",
    "NodeStandardization": "network",
    "build_model": "network",
    "feature_statistics": "network",
    "is_graph_model": "network",
    "load_model": "network",
    "GRAPH_RECIPES": "fitting",
    "GraphBatches": "fitting",
    "GraphRecipe": "fitting",
    "fast_subset": "fitting",
    "fit": "fitting",
    "get_graph_recipe": "fitting",
    "predict_logits": "fitting",
    "predict_proba": "fitting",
    "train_on": "fitting",
    "GNNExplainer": "explainers",
    "NodeExplainer": "explainers",
    "NodeExplanation": "explainers",
    "NodeGradientXInput": "explainers",
    "NodeOcclusion": "explainers",
    "agreement": "compare",
    "agreement_matrix": "compare",
    "pool": "compare",
    "rank_correlation": "compare",
    "agreement_figure": "figures",
    "graph_figure": "figures",
    "node_explanation_figure": "figures",
}
_RENAMED = {"get_explainer": ("explainers", "get"), "available_explainers": ("explainers", "available")}

__all__ = [
    "GraphInputError",
    "SuperpixelGraphs",
    "feature_names",
    "from_dataset",
    "from_images",
    "region_adjacency",
    "superpixels",
    *_LAZY,
    *_RENAMED,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
