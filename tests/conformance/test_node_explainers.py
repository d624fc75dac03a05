"""One conformance suite over the registry of node explainers (``xai_lab.graphs``) x two networks.

Every registered node explainer runs on a GCN and a GraphSAGE network (random weights, seeded)
over phantom superpixel graphs of different sizes, with the fast settings of ``FAST`` (a method
missing from it runs with its defaults, so a new method is tested by registering it). Each must:

- give float32 scores (N, V): finite on real nodes, NaN on padding; maps painted from them;
- give the same scores for a graph explained in a batch and alone, and alone with less padding;
- explain the argmax by default, honour an int target and one target per graph;
- give the same scores twice (seeded methods included);
- leave the model's weights and config unchanged;
- move the scores with the nodes when the nodes of a graph are renumbered.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xai_lab import data, graphs  # noqa: E402

FAST = {"gnnexplainer": {"steps": 10}}
TOL = 1e-4


@pytest.fixture(scope="module")
def collection() -> graphs.SuperpixelGraphs:
    return graphs.from_dataset(data.phantoms.make("pneumonia", 5, seed=11), n_segments=30)


@pytest.fixture(scope="module", params=["gcn", "sage"])
def network(request, collection) -> keras.Model:
    keras.utils.set_random_seed(7)
    mean, std = graphs.feature_statistics(collection.features, collection.mask)
    return graphs.build_model(collection.n_features, 3, feature_mean=mean, feature_std=std,
                              aggregation=request.param, hidden=12, n_layers=2, dense=8, dropout=0.1)


def _explainer(name: str):
    return graphs.get_explainer(name, **FAST.get(name, {}))


def _close(a: np.ndarray, b: np.ndarray, what: str) -> None:
    scale = max(float(np.nanmax(np.abs(a))), 1e-6)
    np.testing.assert_allclose(a, b, rtol=0, atol=TOL * scale, err_msg=what)


@pytest.mark.parametrize("name", graphs.available_explainers())
def test_node_explainer_conformance(name, network, collection):
    g = collection
    before = [w.copy() for w in network.get_weights()]
    config = json.dumps(network.get_config(), sort_keys=True, default=str)
    e = _explainer(name).explain(network, g)
    assert e.method == name and e.scores.dtype == np.float32 and e.scores.shape == g.mask.shape
    assert np.isfinite(e.scores[g.mask]).all() and np.isnan(e.scores[~g.mask]).all()
    assert e.seconds >= 0 and e.feature_names == g.feature_names
    np.testing.assert_array_equal(e.maps, g.paint(e.scores))
    logits = graphs.predict_logits(network, g)
    assert e.predictions.tolist() == logits.argmax(1).tolist() == e.targets.tolist()
    # batch == alone, with the same and with less padding
    for i in (0, int(np.argmin(g.n_nodes))):
        alone = _explainer(name).explain(network, g[i])
        _close(alone.scores[0], e.scores[i], f"{name}: graph {i} alone differs from the batch")
        repadded = graphs.from_images(g.images[i:i + 1], n_segments=30)
        assert repadded.max_nodes == g.n_nodes[i]
        small = _explainer(name).explain(network, repadded)
        _close(small.scores[0], e.scores[i, : g.n_nodes[i]], f"{name}: graph {i} with less padding differs")
    # targets
    explicit = _explainer(name).explain(network, g, target=e.predictions)
    _close(explicit.scores, e.scores, f"{name}: explicit argmax targets differ from the default")
    per = np.array([2, 0, 1, 2, 0])
    each = _explainer(name).explain(network, g, target=per)
    for k in (0, 1, 2):
        one = _explainer(name).explain(network, g, target=k)
        assert one.targets.tolist() == [k] * len(g)
        _close(each.scores[per == k], one.scores[per == k], f"{name}: per-graph target {k}")
    # determinism and the model left alone
    again = _explainer(name).explain(network, g)
    np.testing.assert_array_equal(again.scores, e.scores)
    for a, b in zip(before, network.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert json.dumps(network.get_config(), sort_keys=True, default=str) == config


@pytest.mark.parametrize("name", graphs.available_explainers())
def test_scores_move_with_the_nodes(name, network, collection):
    g = collection
    i = 3
    order = np.random.default_rng(4).permutation(int(g.n_nodes[i]))
    e = _explainer(name).explain(network, g[i])
    p = _explainer(name).explain(network, g.permute_nodes(i, order))
    n = int(g.n_nodes[i])
    _close(p.scores[0, :n], e.scores[0, order], f"{name}: scores do not follow renumbered nodes")
    _close(p.maps, e.maps, f"{name}: the painted map changes when nodes are renumbered")
