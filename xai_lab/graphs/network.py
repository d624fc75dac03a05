"""Graph neural networks on padded dense graph batches, written with ``keras.ops``.

A batch is three tensors (see :meth:`SuperpixelGraphs.inputs`): node ``features`` (B, V, F),
a symmetric 0/1 ``adjacency`` (B, V, V) and a node ``mask`` (B, V), 1 for a real node and 0 for
padding. The mask may also be fractional: a node weighted by ``m`` takes part in message passing
and in the readout with that weight, and ``m = 0`` is exactly the graph with that node and its
edges removed. Node occlusion and the GNNExplainer mask (``xai_lab.graphs.explainers``) rely on
this.

Layers
------
:class:`NodeStandardization`
    ``(x - mean) / std`` per feature, with constants measured on the training nodes.
:class:`NodeDense`
    The same Dense layer on every node (the encoder of the node features).
:class:`GraphConv`
    ``"gcn"``: H' = act(D^-1/2 (A + I) D^-1/2 H W + b), the renormalised propagation of Kipf &
    Welling (2017), with the mask applied to nodes and edges;
    ``"sage"``: H' = act(H W_self + mean_{u in N(v)} H_u W_neigh + b), the mean aggregator of
    GraphSAGE (Hamilton et al. 2017).
:class:`GraphReadout`
    Masked mean and max over the nodes, concatenated (the max reads non-negative node states,
    so zero-weighted nodes can never win it).

All three are permutation equivariant (the readout invariant): renumbering the nodes of a graph
leaves the logits unchanged, up to float rounding (tested).

No maintained Keras 3 graph library fitted (checked November 2026): Spektral 1.3.1 (January
2024) and TF-GNN 1.0.3 (May 2024) target Keras 2 through the full ``tensorflow`` wheel
(TF-GNN needs ``tf-keras``); kgcnn 4.0.2 (January 2025) runs on Keras 3 but pulls in
RDKit, pymatgen, ASE, pyxtal and keras-tuner for its chemistry and crystal models.
Dense padded batches keep the model small enough to read in full.

References
----------
Kipf, T. N., Welling, M. (2017). Semi-supervised classification with graph convolutional
networks. ICLR. https://arxiv.org/abs/1609.02907
Hamilton, W. L., Ying, R., Leskovec, J. (2017). Inductive representation learning on large
graphs. NeurIPS. https://arxiv.org/abs/1706.02216
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

INPUT_NAMES = ("features", "adjacency", "mask")
PACKAGE = "xai_lab.graphs"


@keras.saving.register_keras_serializable(package=PACKAGE)
class NodeStandardization(keras.layers.Layer):
    """``(features - mean) / std`` per feature (constants, not trained); padded nodes stay 0."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        if len(self.mean) != len(self.std) or any(not s > 0 for s in self.std):
            raise ValueError("mean and std must have one value per feature, std > 0")

    def call(self, features: Any, mask: Any) -> Any:
        mean = ops.convert_to_tensor(np.asarray(self.mean, np.float32))
        std = ops.convert_to_tensor(np.asarray(self.std, np.float32))
        return (features - mean) / std * ops.expand_dims(mask, -1)

    def compute_output_shape(self, features_shape: Any, mask_shape: Any = None) -> Any:
        return features_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package=PACKAGE)
class NodeDense(keras.layers.Layer):
    """The same Dense layer applied to every node, ``act(x W + b)``; padded nodes stay 0."""

    def __init__(self, units: int, activation: str | None = "relu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)

    def build(self, features_shape: Any, mask_shape: Any = None) -> None:
        self.kernel = self.add_weight(name="kernel", shape=(int(features_shape[-1]), self.units),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, features: Any, mask: Any) -> Any:
        out = ops.matmul(features, self.kernel) + self.bias
        if self.activation is not None:
            out = self.activation(out)
        return out * ops.expand_dims(mask, -1)

    def compute_output_shape(self, features_shape: Any, mask_shape: Any = None) -> Any:
        return (*features_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation) if self.activation else None}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GraphConv(keras.layers.Layer):
    """One message-passing layer on a padded dense batch (see the module docstring).

    Parameters
    ----------
    units : int
        Output features per node.
    aggregation : {"gcn", "sage"}
        Kipf & Welling's normalised propagation, or GraphSAGE's mean of the neighbours with a
        separate weight for the node itself.
    activation : str or None
        Applied to the new node states; padded nodes are set to 0 afterwards.
    """

    def __init__(self, units: int, aggregation: str = "gcn", activation: str | None = "relu",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if aggregation not in ("gcn", "sage"):
            raise ValueError(f"aggregation must be 'gcn' or 'sage', got {aggregation!r}")
        self.units = int(units)
        self.aggregation = aggregation
        self.activation = keras.activations.get(activation)

    def build(self, features_shape: Any, adjacency_shape: Any = None, mask_shape: Any = None) -> None:
        f = int(features_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(f, self.units), initializer="glorot_uniform")
        if self.aggregation == "sage":
            self.neighbour_kernel = self.add_weight(name="neighbour_kernel", shape=(f, self.units),
                                                    initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, features: Any, adjacency: Any, mask: Any) -> Any:
        m = ops.expand_dims(mask, -1)                                   # (B, V, 1)
        h = features * m
        a = adjacency * m * ops.expand_dims(mask, 1)                    # edges of present nodes
        if self.aggregation == "gcn":
            degree = ops.sum(a, axis=-1, keepdims=True) + m             # self loop weighted by m
            inv_sqrt = ops.where(degree > 0, ops.rsqrt(ops.maximum(degree, 1e-12)), 0.0)
            hs = inv_sqrt * h
            propagated = inv_sqrt * (ops.matmul(a, hs) + m * hs)        # D^-1/2 (A + diag m) D^-1/2 H
            out = ops.matmul(propagated, self.kernel)
        else:
            degree = ops.sum(a, axis=-1, keepdims=True)
            neighbours = ops.matmul(a, h) / ops.maximum(degree, 1e-12)  # 0 for isolated nodes
            out = ops.matmul(h, self.kernel) + ops.matmul(neighbours, self.neighbour_kernel)
        out = out + self.bias
        if self.activation is not None:
            out = self.activation(out)
        return out * m

    def compute_output_shape(self, features_shape: Any, adjacency_shape: Any = None,
                             mask_shape: Any = None) -> Any:
        return (*features_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "aggregation": self.aggregation,
                "activation": keras.activations.serialize(self.activation) if self.activation else None}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GraphReadout(keras.layers.Layer):
    """Masked mean and max of non-negative node states over the nodes: (B, V, D) -> (B, 2 D)."""

    def call(self, features: Any, mask: Any) -> Any:
        m = ops.expand_dims(mask, -1)
        mean = ops.sum(features * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1e-12)
        peak = ops.max(features * m, axis=1)
        return ops.concatenate([mean, peak], axis=-1)

    def compute_output_shape(self, features_shape: Any, mask_shape: Any = None) -> Any:
        return (features_shape[0], 2 * features_shape[-1])


def feature_statistics(features: np.ndarray, mask: np.ndarray) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of each feature over the real nodes (std floored at 1e-6)."""
    real = np.asarray(features)[np.asarray(mask, bool)]
    if len(real) == 0:
        raise ValueError("no real nodes to measure the feature statistics on")
    return real.mean(axis=0).tolist(), np.maximum(real.std(axis=0), 1e-6).tolist()


def build_model(
    n_features: int,
    n_classes: int,
    *,
    feature_mean: Sequence[float] | None = None,
    feature_std: Sequence[float] | None = None,
    aggregation: str = "gcn",
    hidden: int = 64,
    n_layers: int = 3,
    residual: bool = True,
    dense: int = 64,
    dropout: float = 0.2,
    name: str = "graph_net",
) -> keras.Model:
    """A graph classifier: standardise -> encode -> ``n_layers`` GraphConv -> readout -> logits.

    Parameters
    ----------
    n_features, n_classes : int
        Node features F (``graphs.n_features``) and classes (2 logits for binary tasks).
    feature_mean, feature_std : sequence of float, optional
        Standardisation constants (:func:`feature_statistics` of the training graphs); default
        0 and 1.
    aggregation : {"gcn", "sage"}
        The message-passing rule (:class:`GraphConv`).
    hidden : int
        Node state width.
    n_layers : int
        Message-passing layers (each widens a node's view by one hop of the region graph).
    residual : bool
        Add each layer's input to its output (He et al. 2016), which lets deeper stacks train.
    dense, dropout
        The classifier head: Dropout -> Dense(dense, relu) -> Dropout -> Dense(n_classes).

    Returns
    -------
    keras.Model
        Inputs ``features`` (B, V, F), ``adjacency`` (B, V, V), ``mask`` (B, V), any V;
        output (B, n_classes) logits.
    """
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be at least 2 (binary tasks use 2 logits), got {n_classes}")
    if int(n_features) < 1 or int(n_layers) < 1 or int(hidden) < 1:
        raise ValueError("n_features, n_layers and hidden must be positive")
    f = int(n_features)
    mean = [0.0] * f if feature_mean is None else list(feature_mean)
    std = [1.0] * f if feature_std is None else list(feature_std)
    if len(mean) != f or len(std) != f:
        raise ValueError(f"feature_mean and feature_std need {f} values each")
    features = keras.Input(shape=(None, f), name="features")
    adjacency = keras.Input(shape=(None, None), name="adjacency")
    mask = keras.Input(shape=(None,), name="mask")
    h = NodeStandardization(mean, std, name="standardize")(features, mask)
    h = NodeDense(hidden, "relu", name="encode")(h, mask)
    for i in range(1, int(n_layers) + 1):
        out = GraphConv(hidden, aggregation, name=f"conv{i}")(h, adjacency, mask)
        h = keras.layers.Add(name=f"residual{i}")([h, out]) if residual else out
    x = GraphReadout(name="readout")(h, mask)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout1")(x)
    if dense:
        x = keras.layers.Dense(int(dense), activation="relu", name="dense")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(int(n_classes), name="logits")(x)
    return keras.Model({"features": features, "adjacency": adjacency, "mask": mask}, logits, name=name)


def is_graph_model(model: Any) -> bool:
    """True for a model whose inputs are the three graph tensors of :func:`build_model`."""
    try:
        names = {t.name.split(":")[0] for t in model.inputs}
    except (AttributeError, TypeError, ValueError):
        return False
    return names == set(INPUT_NAMES)


def load_model(path: Any, safe_mode: bool = True) -> keras.Model:
    """Load a graph network saved with :func:`xai_lab.models.save` (its layers registered here)."""
    from .. import models

    return models.load(path, safe_mode=safe_mode)
