"""Images as graphs: superpixel graphs, the graph network, its training and node explanations.

The hand-checked case is a 4 x 6 grey image cut into three vertical stripes (a path graph
0 - 1 - 2 with intensities 0.2, 0.5, 0.8) and a one-layer GCN whose weights are set by hand:
node state = mean intensity, one propagation D^-1/2 (A + I) D^-1/2, readout [mean, max],
logits = [mean, max]. Degrees with self loops are (2, 3, 2), so

    h = (0.2/2 + 0.5/sqrt6,  (0.2 + 0.8)/sqrt6 + 0.5/3,  0.5/sqrt6 + 0.8/2)
      = (0.304124, 0.574915, 0.604124),   mean = 0.494388.

Removing node 0 leaves the pair 1 - 2 (degrees 2, 2): h = (0.65, 0.65), mean 0.65.
Removing node 1 leaves two isolated nodes: h = (0.2, 0.8), mean 0.5.
Removing node 2 leaves 0 - 1: h = (0.35, 0.35), mean 0.35.
The mean is linear in the intensities x: d mean / d x_u = (column sum u of the propagation) / 3,
column sums (1/2 + 1/sqrt6, 2/sqrt6 + 1/3, 1/2 + 1/sqrt6) = (0.908248, 1.149830, 0.908248).
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xai_lab import data, explain, graphs  # noqa: E402
from xai_lab.explain import Explanation, UnsupportedModelError  # noqa: E402
from xai_lab.graphs import construct  # noqa: E402
from xai_lab.models import IncompatibleDataError  # noqa: E402

S6 = np.sqrt(6.0)
H_HAND = np.array([0.2 / 2 + 0.5 / S6, 1.0 / S6 + 0.5 / 3, 0.5 / S6 + 0.8 / 2])
MEAN_HAND = H_HAND.mean()
OCCLUSION_HAND = MEAN_HAND - np.array([0.65, 0.5, 0.35])
GXI_HAND = np.array([0.2, 0.5, 0.8]) * np.array([0.5 + 1 / S6, 2 / S6 + 1 / 3, 0.5 + 1 / S6]) / 3


# ------------------------------------------------------------------------------ fixtures
def stripes_image() -> tuple[np.ndarray, np.ndarray]:
    """(image (4, 6, 1) float, segments (4, 6)): three 4 x 2 stripes at 0.2, 0.5, 0.8."""
    seg = np.repeat(np.array([[0, 0, 1, 1, 2, 2]]), 4, axis=0).astype(np.int32)
    image = np.array([0.2, 0.5, 0.8], np.float32)[seg][..., None]
    return image, seg


def stripes_graphs(label: int = 1) -> graphs.SuperpixelGraphs:
    """The stripes image as a SuperpixelGraphs, built from its hand-made segmentation."""
    image, seg = stripes_image()
    feats = construct.node_features(image, seg)
    edges = construct.region_adjacency(seg)
    return graphs.SuperpixelGraphs(
        features=feats[None], mask=np.ones((1, 3), bool), edges=edges,
        edge_offsets=np.array([0, len(edges)]), segments=seg[None], images=image[None],
        labels=np.array([label]), feature_names=construct.feature_names(1),
        label_names=["normal", "pneumonia"], task="binary", name="stripes",
    )


def hand_model(logit_kernel=((1.0, 0.0), (0.0, 1.0))) -> keras.Model:
    """The one-layer GCN of the module docstring (node state = mean intensity)."""
    m = graphs.build_model(5, 2, hidden=1, n_layers=1, residual=False, dense=0, dropout=0.0)
    m.get_layer("encode").set_weights([np.array([[1.0], [0], [0], [0], [0]], np.float32), np.zeros(1, np.float32)])
    m.get_layer("conv1").set_weights([np.ones((1, 1), np.float32), np.zeros(1, np.float32)])
    m.get_layer("logits").set_weights([np.array(logit_kernel, np.float32), np.zeros(2, np.float32)])
    return m


@pytest.fixture(scope="module")
def phantom_graphs() -> graphs.SuperpixelGraphs:
    ds = data.phantoms.make("pneumonia", 24, seed=3)
    return graphs.from_dataset(ds, n_segments=40)


@pytest.fixture(scope="module")
def random_model(phantom_graphs) -> keras.Model:
    keras.utils.set_random_seed(0)
    mean, std = graphs.feature_statistics(phantom_graphs.features, phantom_graphs.mask)
    return graphs.build_model(phantom_graphs.n_features, 2, feature_mean=mean, feature_std=std,
                              hidden=16, n_layers=2, dense=16)


# ------------------------------------------------------------------------------ construction
def test_stripes_features_and_edges_by_hand():
    image, seg = stripes_image()
    assert construct.region_adjacency(seg).tolist() == [[0, 1], [1, 2]]
    f = construct.node_features(image, seg)
    names = construct.feature_names(1)
    assert names == ("mean_grey", "std_grey", "y", "x", "area")
    np.testing.assert_allclose(f[:, 0], [0.2, 0.5, 0.8], atol=1e-7)
    np.testing.assert_allclose(f[:, 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(f[:, 2], 0.5, atol=1e-7)                 # rows 0..3, centre 1.5 / 3
    np.testing.assert_allclose(f[:, 3], [0.1, 0.5, 0.9], atol=1e-7)     # columns 0.5, 2.5, 4.5 over 5
    np.testing.assert_allclose(f[:, 4], 1 / 3, atol=1e-7)


def test_graphs_of_real_superpixels(phantom_graphs):
    g = phantom_graphs
    assert len(g) == 24 and g.features.shape == (24, g.max_nodes, 5)
    for i in range(len(g)):
        seg = g.segments[i]
        n = int(g.n_nodes[i])
        # node count = superpixel count, labels consecutive, mask marks the first n slots
        assert len(np.unique(seg)) == n == seg.max() + 1
        assert g.mask[i, :n].all() and not g.mask[i, n:].any()
        a = g.adjacency([i])[0]
        assert np.array_equal(a, a.T) and not np.diag(a).any()
        assert set(np.unique(a)) <= {0.0, 1.0} and not a[n:].any()
        # brute force: pairs of 4-neighbour pixels in different superpixels
        brute = np.zeros_like(a)
        for dy, dx in ((0, 1), (1, 0)):
            p, q = seg[: seg.shape[0] - dy, : seg.shape[1] - dx], seg[dy:, dx:]
            diff = p != q
            brute[p[diff], q[diff]] = brute[q[diff], p[diff]] = 1
        assert np.array_equal(a, brute)
        # features: mean intensity per superpixel, areas summing to 1, centroids inside the image
        img = g.images[i, ..., 0]
        means = np.array([img[seg == k].mean() for k in range(n)])
        np.testing.assert_allclose(g.features[i, :n, 0], means, atol=1e-6)
        assert g.features[i, :n, 4].sum() == pytest.approx(1.0, abs=1e-5)
        assert 0 <= g.features[i, :n, 2:4].min() and g.features[i, :n, 2:4].max() <= 1
        assert not g.features[i, n:].any()
    assert g.labels.tolist() == data.phantoms.make("pneumonia", 24, seed=3).labels.tolist()
    assert g.label_names and g.task == "binary" and g.seconds > 0


def test_colour_images_have_colour_features():
    ds = data.phantoms.make("skin", 3, seed=0)
    g = graphs.from_dataset(ds, n_segments=30)
    assert g.feature_names == ("mean_red", "mean_green", "mean_blue", "std_red", "std_green",
                               "std_blue", "y", "x", "area")
    i, seg = 0, g.segments[0]
    np.testing.assert_allclose(g.features[i, 0, :3], g.images[i][seg == 0].mean(axis=0), atol=1e-6)


def test_subset_getitem_paint_and_permute(phantom_graphs):
    g = phantom_graphs
    sub = g[[3, 1]]
    assert len(sub) == 2 and np.array_equal(sub.features[1], g.features[1])
    assert np.array_equal(sub.adjacency()[0], g.adjacency([3])[0])
    assert len(g[5]) == 1 and np.array_equal(g[5].graph_edges(0), g.graph_edges(5))
    scores = np.arange(g.max_nodes, dtype=np.float32)[None].repeat(len(g), 0)
    painted = g.paint(scores)
    assert painted.shape == g.segments.shape and np.array_equal(painted, g.segments.astype(np.float32))
    order = np.random.default_rng(0).permutation(int(g.n_nodes[2]))
    p = g.permute_nodes(2, order)
    n = int(g.n_nodes[2])
    np.testing.assert_array_equal(p.features[0, :n], g.features[2, order])
    np.testing.assert_array_equal(p.adjacency()[0][:n, :n], g.adjacency([2])[0][np.ix_(order, order)])
    np.testing.assert_array_equal(p.features[0, :n][p.segments[0]], g.features[2, :n][g.segments[2]])


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 3, 3, 1), np.uint8), "too small"),
    (np.zeros((2, 8, 8, 2), np.uint8), "1 \\(grey\\) or 3"),
    (np.full((2, 8, 8, 1), 2.0, np.float32), "\\[0, 1\\]"),
    (np.full((2, 8, 8, 1), np.nan, np.float32), "NaN"),
    (np.zeros((8, 8), np.uint8), "\\(N, H, W, C\\)"),
    (np.zeros((2, 8, 8, 1), np.int32), "uint8 or float"),
])
def test_bad_images_are_refused_before_any_work(bad, match):
    with pytest.raises(graphs.GraphInputError, match=match):
        graphs.from_images(bad)


def test_bad_settings_and_labels_are_refused():
    x = np.zeros((2, 8, 8, 1), np.uint8)
    with pytest.raises(graphs.GraphInputError, match="2 images but 3 labels"):
        graphs.from_images(x, [0, 1, 0])
    with pytest.raises(graphs.GraphInputError, match="n_segments"):
        graphs.from_images(x, n_segments=1)
    with pytest.raises(graphs.GraphInputError, match="compactness"):
        graphs.from_images(x, compactness=0)
    with pytest.raises(graphs.GraphInputError, match="Dataset"):
        graphs.from_dataset(x)


# ------------------------------------------------------------------------------ network
def test_hand_model_logits():
    logits = graphs.predict_logits(hand_model(), stripes_graphs())
    np.testing.assert_allclose(logits[0], [MEAN_HAND, H_HAND.max()], rtol=1e-6)


def test_sage_aggregation_by_hand():
    m = graphs.build_model(5, 2, aggregation="sage", hidden=1, n_layers=1, residual=False, dense=0, dropout=0.0)
    m.get_layer("encode").set_weights([np.array([[1.0], [0], [0], [0], [0]], np.float32), np.zeros(1, np.float32)])
    m.get_layer("conv1").set_weights([np.full((1, 1), 2.0, np.float32), np.ones((1, 1), np.float32),
                                      np.zeros(1, np.float32)])
    m.get_layer("logits").set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    # h_v = 2 x_v + mean of the neighbours: (0.4 + 0.5, 1.0 + 0.5, 1.6 + 0.5)
    h = np.array([0.9, 1.5, 2.1])
    np.testing.assert_allclose(graphs.predict_logits(m, stripes_graphs())[0], [h.mean(), h.max()], rtol=1e-6)


def test_output_is_invariant_to_node_order(phantom_graphs, random_model):
    g = phantom_graphs
    base = graphs.predict_logits(random_model, g)
    rng = np.random.default_rng(1)
    for i in (0, 7, 13):
        order = rng.permutation(int(g.n_nodes[i]))
        permuted = graphs.predict_logits(random_model, g.permute_nodes(i, order))
        np.testing.assert_allclose(permuted[0], base[i], rtol=1e-5, atol=1e-5)
    for aggregation in ("sage",):
        keras.utils.set_random_seed(2)
        m = graphs.build_model(g.n_features, 2, aggregation=aggregation, hidden=8, n_layers=2)
        order = rng.permutation(int(g.n_nodes[4]))
        np.testing.assert_allclose(graphs.predict_logits(m, g.permute_nodes(4, order))[0],
                                   graphs.predict_logits(m, g[4])[0], rtol=1e-5, atol=1e-5)


def test_output_does_not_depend_on_padding(phantom_graphs, random_model):
    g = phantom_graphs
    i = int(np.argmin(g.n_nodes))
    alone = graphs.from_images(g.images[i:i + 1], n_segments=40)     # padded to its own size
    assert alone.max_nodes == g.n_nodes[i] < g.max_nodes
    np.testing.assert_allclose(graphs.predict_logits(random_model, alone)[0],
                               graphs.predict_logits(random_model, g)[i], rtol=1e-5, atol=1e-5)


def test_zero_mask_weight_is_removing_the_node():
    g = stripes_graphs()
    m = hand_model()
    x = g.inputs()
    x["mask"][0, 1] = 0.0
    smaller = graphs.SuperpixelGraphs(
        features=g.features[:, [0, 2]], mask=np.ones((1, 2), bool), edges=np.zeros((0, 2), np.int32),
        edge_offsets=np.array([0, 0]), segments=np.minimum(g.segments, 1), images=g.images,
        feature_names=g.feature_names)
    np.testing.assert_allclose(m.predict_on_batch(x), graphs.predict_logits(m, smaller), rtol=1e-6)


def test_model_saves_and_loads(tmp_path, phantom_graphs, random_model):
    from xai_lab import models

    path = models.save(random_model, tmp_path / "graph.keras")
    loaded = graphs.load_model(path)
    np.testing.assert_allclose(graphs.predict_logits(loaded, phantom_graphs),
                               graphs.predict_logits(random_model, phantom_graphs), rtol=1e-6, atol=1e-6)


def test_build_model_refuses_bad_settings():
    with pytest.raises(ValueError, match="n_classes"):
        graphs.build_model(5, 1)
    with pytest.raises(ValueError, match="aggregation"):
        graphs.build_model(5, 2, aggregation="gat")
    with pytest.raises(ValueError, match="5 values"):
        graphs.build_model(5, 2, feature_mean=[0.0], feature_std=[1.0])


# ------------------------------------------------------------------------------ training
def test_fit_is_seeded_and_keeps_the_best_epoch(phantom_graphs):
    tr, va = phantom_graphs[:16], phantom_graphs[16:]
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(5)
        m = graphs.build_model(tr.n_features, 2, hidden=8, n_layers=1, dense=8)
        result = graphs.fit(m, tr, va, epochs=3, batch_size=8, seed=5, class_weight="balanced")
        weights.append(m.get_weights())
    assert result.epochs_run == 3 and 1 <= result.best_epoch <= 3
    assert set(result.history) >= {"loss", "val_loss", "val_acc", "val_auc"}
    assert result.best_value == pytest.approx(max(result.history["val_auc"]))
    assert result.val_logits.shape == (len(va), 2)
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_train_on_writes_files_and_reports_val_metrics(tmp_path, phantom_graphs):
    tr, va = phantom_graphs[:16], phantom_graphs[16:]
    r = graphs.train_on("pneumoniamnist", tr, va, tmp_path / "out", epochs=2, hidden=8, n_layers=1,
                        batch_size=8)
    assert r["metrics"]["split"] == "val" and r["metrics"]["n"] == len(va)
    assert 0.0 <= r["metrics"]["acc"] <= 1.0 and r["calibration"]["temperature"] > 0
    for name in ("model", "metrics", "history", "calibration", "recipe"):
        assert (tmp_path / "out").joinpath(r["paths"][name]).exists()
    loaded = graphs.load_model(r["paths"]["model"])
    np.testing.assert_allclose(graphs.predict_logits(loaded, va), graphs.predict_logits(r["model"], va),
                               rtol=1e-5, atol=1e-5)


def test_training_refuses_mismatched_data(phantom_graphs, random_model):
    with pytest.raises(TypeError, match="SuperpixelGraphs"):
        graphs.fit(random_model, (phantom_graphs.images, phantom_graphs.labels))
    colour = graphs.from_dataset(data.phantoms.make("skin", 4, seed=0), n_segments=20)
    with pytest.raises(IncompatibleDataError, match="9 node features"):
        graphs.fit(random_model, colour)
    with pytest.raises(KeyError, match="no graph recipe"):
        graphs.get_graph_recipe("retinamnist")


# ------------------------------------------------------------------------------ explanations
def test_occlusion_by_hand():
    e = graphs.get_explainer("node_occlusion").explain(hand_model(), stripes_graphs(), target=0)
    np.testing.assert_allclose(e.scores[0], OCCLUSION_HAND, rtol=1e-5, atol=1e-6)
    assert e.targets.tolist() == [0]


def test_occlusion_with_the_mean_intensity_by_hand():
    # node v gets the image mean 0.5: only node 0 (0.2 -> 0.5) and node 2 (0.8 -> 0.5) change
    e = graphs.get_explainer("node_occlusion", mode="mean").explain(hand_model(), stripes_graphs(), target=0)
    np.testing.assert_allclose(e.scores[0], GXI_HAND / np.array([0.2, 0.5, 0.8]) * np.array([-0.3, 0.0, 0.3]),
                               rtol=1e-5, atol=1e-6)


def test_gradient_x_input_by_hand():
    e = graphs.get_explainer("node_gradient_x_input").explain(hand_model(), stripes_graphs(), target=0)
    np.testing.assert_allclose(e.scores[0], GXI_HAND, rtol=1e-5)
    assert e.scores[0].sum() == pytest.approx(MEAN_HAND, rel=1e-5)      # a linear model without bias
    assert e.attributions.shape == (1, 3, 5)
    np.testing.assert_allclose(e.attributions[0, :, 1:], 0.0, atol=1e-7)
    appearance = graphs.get_explainer("node_gradient_x_input", features="appearance").explain(
        hand_model(), stripes_graphs(), target=0)
    np.testing.assert_allclose(appearance.scores, e.scores, rtol=1e-6)


def test_gradient_wrt_mask_is_the_derivative_of_the_score():
    g, m = stripes_graphs(), hand_model()
    e = graphs.get_explainer("node_gradient_x_input", wrt="mask").explain(m, g, target=0)
    x, eps = g.inputs(), 1e-3
    for v in range(3):
        lo, hi = {k: a.copy() for k, a in x.items()}, {k: a.copy() for k, a in x.items()}
        lo["mask"][0, v] -= eps
        hi["mask"][0, v] += eps
        fd = (m.predict_on_batch(hi)[0, 0] - m.predict_on_batch(lo)[0, 0]) / (2 * eps)
        assert e.scores[0, v] == pytest.approx(float(fd), rel=2e-2, abs=1e-3)


def test_gnnexplainer_keeps_the_node_that_carries_the_class():
    # logit 1 = 10 x the max node state: node 2 alone (0.8) beats any graph with its neighbours
    # (0.60), and the other nodes only cost mask size
    m = hand_model(logit_kernel=((0.0, 0.0), (0.0, 10.0)))
    e = graphs.get_explainer("gnnexplainer", steps=150, learning_rate=0.1).explain(m, stripes_graphs(), target=1)
    assert e.scores[0, 2] > 0.5 > max(e.scores[0, 0], e.scores[0, 1])
    assert ((0 <= e.scores) & (e.scores <= 1)).all() and not e.signed


def test_node_explanation_container(tmp_path, phantom_graphs, random_model):
    g = phantom_graphs[:4]
    e = graphs.get_explainer("node_occlusion").explain(random_model, g)
    assert e.scores.shape == (4, g.max_nodes) and e.n_nodes.tolist() == g.n_nodes.tolist()
    assert np.isnan(e.scores[~g.mask]).all() and np.isfinite(e.scores[g.mask]).all()
    assert e.maps.shape == (4, 28, 28) and np.isfinite(e.maps).all()
    np.testing.assert_array_equal(e.maps, g.paint(e.scores))
    one = e[2]
    assert len(one) == 1 and np.array_equal(one.scores[0], e.scores[2], equal_nan=True)
    pixel = e.to_explanation()
    assert isinstance(pixel, Explanation) and pixel.method == "node_occlusion"
    np.testing.assert_array_equal(pixel.maps, e.maps)
    back = graphs.NodeExplanation.load(e.save(tmp_path / "e"))
    np.testing.assert_array_equal(back.scores, e.scores)
    assert back.feature_names == e.feature_names and back.signed and back.method == e.method
    with pytest.raises(ValueError, match="not a NodeExplanation"):
        graphs.NodeExplanation.load(pixel.save(tmp_path / "pixel"))
    with pytest.raises(IndexError):
        e[9]


def test_node_explainers_refuse_image_models_and_wrong_inputs(phantom_graphs, random_model):
    from xai_lab import models

    cnn = models.build("cnn", (28, 28, 1), 2, filters=(4,), convs_per_block=1, dense=0)
    for name in graphs.available_explainers():
        with pytest.raises(UnsupportedModelError, match="graph networks"):
            graphs.get_explainer(name).explain(cnn, phantom_graphs[:2])
    with pytest.raises(TypeError, match="SuperpixelGraphs"):
        graphs.get_explainer("node_occlusion").explain(random_model, phantom_graphs.images[:2])
    with pytest.raises(KeyError, match="unknown node explainer"):
        graphs.get_explainer("saliency")
    with pytest.raises(ValueError, match="outside"):
        graphs.get_explainer("node_occlusion").explain(random_model, phantom_graphs[:2], target=5)


@pytest.mark.parametrize("name", sorted(set(explain.available())))
def test_pixel_explainers_refuse_the_graph_network(name, random_model, phantom_graphs):
    with pytest.raises(UnsupportedModelError, match="image input"):
        explain.get(name).explain(random_model, phantom_graphs.images[:2])


# ------------------------------------------------------------------------------ comparison, figures
def test_pool_and_rank_correlation_by_hand():
    _, seg = stripes_image()
    maps = np.tile(np.arange(6, dtype=np.float64), (4, 1))[None]        # column index
    np.testing.assert_allclose(graphs.pool(maps, seg[None])[0], [4 * 1, 4 * 5, 4 * 9])
    np.testing.assert_allclose(graphs.pool(maps, seg[None], how="mean")[0], [0.5, 2.5, 4.5])
    assert graphs.rank_correlation([1, 2, 3, np.nan], [10, 20, 30, 0]) == pytest.approx(1.0)
    assert graphs.rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(graphs.rank_correlation([1, 1, 1], [1, 2, 3]))
    assert np.isnan(graphs.rank_correlation([1, 2], [1, 2]))


def test_agreement_with_a_pixel_explanation(phantom_graphs, random_model):
    g = phantom_graphs[:3]
    node = graphs.get_explainer("node_occlusion").explain(random_model, g)
    painted = node.to_explanation()                      # a pixel map constant on each superpixel
    table = graphs.agreement({"occlusion": node, "painted (mean)": painted}, how="mean")
    assert table.shape == (3, 5) and np.allclose(table["spearman"], 1.0)
    matrix = graphs.agreement_matrix(table)
    assert matrix.loc["occlusion", "painted (mean)"] == pytest.approx(1.0)
    other = Explanation(maps=np.zeros((3, 28, 28)), inputs=1 - g.images, targets=node.targets,
                        predictions=node.predictions, probabilities=node.probabilities, method="x")
    with pytest.raises(ValueError, match="same images"):
        graphs.agreement({"occlusion": node, "other": other})


def test_figures_have_colour_bars_and_titles(phantom_graphs, random_model):
    g = phantom_graphs[:2]
    es = {graphs.get_explainer(n).title: graphs.get_explainer(n, **({"steps": 5} if n == "gnnexplainer" else {}))
          .explain(random_model, g) for n in graphs.available_explainers()}
    fig = graphs.node_explanation_figure(es, [0, 1], label_names=g.label_names)
    bars = [t.marker.colorbar.title.text for t in fig.data if getattr(t, "marker", None) is not None
            and t.marker.showscale]
    assert bars == ["signed score / max |score|", "score / max score (>= 0)"]
    assert "Superpixel occlusion" in [a.text for a in fig.layout.annotations]
    gfig = graphs.graph_figure(g, 1)
    assert f"{g.n_nodes[1]} nodes, {g.n_edges[1]} edges" in gfig.layout.annotations[1].text
    table = graphs.agreement(es)
    hm = graphs.agreement_figure(graphs.agreement_matrix(table))
    assert hm.data[0].zmin == -1 and hm.data[0].zmax == 1


# ------------------------------------------------------------------------------ exercises of notebook 17
def test_exercises_of_notebook_17(phantom_graphs, random_model):
    from xai_lab.course import EXERCISES, check

    ours = {k for k in EXERCISES if k.startswith("17.")}
    assert ours == {"17.n_edges", "17.renumbering", "17.occlusion_by_hand", "17.colour_map", "17.mean_agreement"}
    g = phantom_graphs
    assert check("17.n_edges", int(g.n_edges[2]), graphs=g, index=2)
    assert not check("17.n_edges", 2 * int(g.n_edges[2]), graphs=g, index=2)
    assert check("17.renumbering", "unchanged") and not check("17.renumbering", "permuted")
    x = g.inputs([1])
    before = random_model.predict_on_batch(x)[0, 1]
    x["mask"][0, 4] = 0.0
    by_hand = float(before - random_model.predict_on_batch(x)[0, 1])
    assert check("17.occlusion_by_hand", by_hand, model=random_model, graphs=g, index=1, node=4, target=1)
    assert not check("17.occlusion_by_hand", by_hand + 1.0, model=random_model, graphs=g, index=1, node=4)
    assert check("17.colour_map", "sequential") and not check("17.colour_map", "diverging")
    node = graphs.get_explainer("node_occlusion").explain(random_model, g[:3])
    table = graphs.agreement({"node_occlusion": node, "occlusion": node.to_explanation()}, how="mean")
    assert check("17.mean_agreement", float(np.nanmean(table["spearman"])), table=table)
    assert not check("17.mean_agreement", 0.1, table=table)
    assert "replace ..." in check("17.n_edges", ..., graphs=g).message
