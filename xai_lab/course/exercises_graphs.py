"""Self-check exercises of notebook 17, "Images as graphs".

Importing this module registers the exercises with :func:`xai_lab.course.exercises.check`;
reference answers are computed from the context the notebook passes, never stored.

>>> from xai_lab.course import check, exercises_graphs  # doctest: +SKIP
>>> check("17.n_edges", 184, graphs=val_graphs, index=0)  # doctest: +SKIP
right: ...
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .exercises import check, exercise
from .exercises_explain import _choice

__all__ = ["check"]


@exercise("17.n_edges",
          "How many edges does the region adjacency graph of image `index` have? Count the pairs of "
          "superpixels that touch, from `graphs.adjacency([index])[0]`.",
          "the adjacency is symmetric with an empty diagonal: each edge appears twice.")  # fmt: skip
def _n_edges(answer: Any, graphs: Any = None, index: int = 0) -> tuple[bool, str]:
    if graphs is None:
        raise ValueError("pass graphs=... (the SuperpixelGraphs of the notebook)")
    a = graphs.adjacency([int(index)])[0]
    value = int(a.sum()) // 2
    ok = int(answer) == value
    return ok, (f"{value} edges: a.sum() / 2, since a[u, v] = a[v, u] = 1 for each touching pair."
                if ok else f"{answer} edges: did you count each pair twice (a.sum() is {int(a.sum())})?")


@exercise("17.renumbering",
          "You renumber the nodes of a graph (features, adjacency rows and columns, superpixel labels "
          "together). What happens to the network's logits? ('unchanged', 'permuted' or 'different')",
          "message passing sums over neighbours and the readout averages and takes the max over nodes: "
          "does any of these depend on the order?")  # fmt: skip
def _renumbering(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "unchanged",
                   "sums, means and maxima over nodes do not depend on the order: the network is "
                   "permutation invariant (up to float rounding).",
                   {"permuted": "the node STATES move with the nodes (equivariance), but the logits are "
                                "one vector per graph, read out by a mean and a max.",
                    "different": "nothing in the network depends on the numbering; try it with "
                                 "graphs.permute_nodes."})


@exercise("17.occlusion_by_hand",
          "Take node `node` out of graph `index` yourself (set its weight in inputs['mask'] to 0) and "
          "compute its occlusion score: the target logit before minus after.",
          "x = graphs.inputs([index]); before = model.predict_on_batch(x)[0, target]; set "
          "x['mask'][0, node] = 0.0; after = model.predict_on_batch(x)[0, target].")  # fmt: skip
def _occlusion_by_hand(answer: Any, model: Any = None, graphs: Any = None, index: int = 0, node: int = 0,
                       target: int = 1) -> tuple[bool, str]:
    from ..graphs import get_explainer

    if model is None or graphs is None:
        raise ValueError("pass model=... and graphs=...")
    e = get_explainer("node_occlusion").explain(model, graphs[int(index)], target=int(target))
    value = float(e.scores[0, int(node)])
    ok = math.isclose(float(answer), value, rel_tol=1e-3, abs_tol=1e-4)
    return ok, (f"{value:.4f}, as node_occlusion gives: removing a node is a mask weight of 0."
                if ok else f"{answer} differs from the library's {value:.4f}.")


@exercise("17.colour_map",
          "GNNExplainer scores are mask weights in [0, 1]. Which colour map suits them: 'diverging' "
          "or 'sequential'?",
          "a diverging map has a meaningful centre (zero) with two signs around it.")  # fmt: skip
def _colour_map(answer: Any) -> tuple[bool, str]:
    return _choice(answer, "sequential",
                   "non-negative scores have no sign to show: a perceptual sequential map (viridis).",
                   {"diverging": "a diverging map is for signed scores (gradient x input, occlusion), "
                                 "centred at zero."})


@exercise("17.mean_agreement",
          "From the agreement table, what is the mean Spearman correlation between 'node_occlusion' "
          "and the CNN's 'occlusion' (NaN ignored)?",
          "select the rows with a == 'node_occlusion' and b == 'occlusion' (or the reverse), then "
          "np.nanmean of the 'spearman' column.")  # fmt: skip
def _mean_agreement(answer: Any, table: Any = None, a: str = "node_occlusion",
                    b: str = "occlusion") -> tuple[bool, str]:
    if table is None:
        raise ValueError("pass table=... (graphs.agreement(...))")
    rows = table[((table["a"] == a) & (table["b"] == b)) | ((table["a"] == b) & (table["b"] == a))]
    if rows.empty:
        raise ValueError(f"the table has no rows comparing {a!r} with {b!r}")
    value = float(np.nanmean(rows["spearman"].to_numpy(np.float64)))
    ok = math.isclose(float(answer), value, rel_tol=1e-6, abs_tol=1e-6)
    return ok, (f"mean rho = {value:.3f} over {len(rows)} images." if ok
                else f"{answer} is not the mean of the {len(rows)} values of rho.")
