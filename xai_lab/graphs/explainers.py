"""Explanations per node (superpixel) of a graph network, and the :class:`NodeExplanation`.

Three methods, one class each (settings in the constructor, data in one verb,
``explain(model, graphs, target=None) -> NodeExplanation``), in a registry of their own
(:func:`get`, :func:`available`), because they read graphs, not images:

``node_gradient_x_input``
    Gradient of the target logit times the node features, summed over the features of each
    node (Shrikumar et al. 2016 / Baehrens et al. 2010 applied to node features, as in the GNN
    explainability benchmark of Pope et al. 2019). ``wrt="mask"`` instead takes the gradient
    with respect to the node's weight in the mask (1 for a present node): the first-order
    Taylor estimate of what removing the node does.
``node_occlusion``
    The drop of the target score when a superpixel is taken out: ``s(G) - s(G without v)``
    (Zeiler & Fergus 2014 with superpixels as the patches). ``mode="remove"`` deletes the node
    and its edges; ``mode="mean"`` keeps the node but gives it the image's mean intensity.
``gnnexplainer``
    A soft mask over the nodes, learnt per graph by gradient descent so that the masked graph
    keeps the prediction while the mask stays small and close to 0 or 1 (Ying et al. 2019,
    the node ("object") mask variant of PyTorch Geometric's implementation; the network reads
    the mask as the node weights of :mod:`xai_lab.graphs.network`).

Why a result object of its own: the network's unit is the node, and several facts live only
there (how many nodes a graph has, each node's score and per-feature attribution, padding);
painting the scores onto pixels would merge adjacent nodes of equal score and lose the per-feature
attributions. A :class:`NodeExplanation` keeps the node scores and paints them on demand
(``maps``); :meth:`NodeExplanation.to_explanation` gives the pixel
:class:`~xai_lab.explain.Explanation` whose maps are that painting, for everything that reads
pixel explanations (figures, saving, the metrics of ``xai_lab.evaluate`` that need no model).

References
----------
Ying, R., Bourgeois, D., You, J., Zitnik, M., Leskovec, J. (2019). GNNExplainer: generating
explanations for graph neural networks. NeurIPS. https://arxiv.org/abs/1903.03894
Pope, P. E., Kolouri, S., Rostami, M., Martin, C. E., Hoffmann, H. (2019). Explainability methods
for graph convolutional neural networks. CVPR.
Shrikumar, A., Greenside, P., Shcherbina, A., Kundaje, A. (2016). Not just a black box: learning
important features through propagating activation differences. arXiv:1605.01713.
Zeiler, M. D., Fergus, R. (2014). Visualizing and understanding convolutional networks. ECCV.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._atomic import atomic_path
from ..explain._graph import model_cache
from ..explain.base import UnsupportedModelError, resolve_targets
from ..explain.explanation import Explanation
from ..models.io import probabilities
from .construct import SuperpixelGraphs, appearance_features
from .fitting import check_graphs, predict_logits
from .network import is_graph_model

_ARRAYS = ("scores", "segments", "inputs", "targets", "predictions", "probabilities", "attributions")
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class NodeExplanation:
    """Scores per node (superpixel) for a batch of graphs, with what is needed to read them.

    Attributes
    ----------
    scores : ndarray, float32, shape (N, V)
        One score per node; NaN for the padding beyond each graph's nodes. Larger means more
        evidence for ``targets`` (GNNExplainer: a mask in [0, 1], larger means "needed").
    segments : ndarray, int32, shape (N, H, W)
        The node of every pixel (to paint the scores back onto the image).
    inputs : ndarray, float32, shape (N, H, W, C)
        The images in [0, 1].
    targets, predictions : ndarray, int64, shape (N,)
    probabilities : ndarray, float32, shape (N, K)
        Softmax of the network's logits.
    method : str
        Registry name (``"node_occlusion"``, ...).
    parameters : dict
    seconds : float
        Wall time of the explanation (without the forward pass that gives the prediction).
    attributions : ndarray or None, shape (N, V, F)
        Per-feature attributions where the method has them (gradient x input on features).
    feature_names : tuple of str
    signed : bool
        Whether scores take both signs (drawn on a diverging map centred at zero) or are
        non-negative (a sequential map).
    """

    scores: np.ndarray
    segments: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    predictions: np.ndarray
    probabilities: np.ndarray
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    attributions: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()
    signed: bool = True

    def __post_init__(self) -> None:
        for name in ("scores", "inputs", "probabilities", "attributions"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, np.asarray(value, dtype=np.float32))
        object.__setattr__(self, "segments", np.asarray(self.segments, dtype=np.int32))
        for name in ("targets", "predictions"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        n = len(self.scores)
        if self.scores.ndim != 2:
            raise ValueError(f"scores must be (N, V), got shape {self.scores.shape}")
        if self.segments.shape[0] != n or self.segments.ndim != 3:
            raise ValueError(f"segments must be (N={n}, H, W), got {self.segments.shape}")
        if self.inputs.shape[:3] != self.segments.shape or self.inputs.ndim != 4:
            raise ValueError(f"inputs {self.inputs.shape} must be (N, H, W, C) over segments {self.segments.shape}")
        if self.segments.size and int(self.segments.max()) >= self.scores.shape[1]:
            raise ValueError("segments name nodes beyond the scores' node axis")
        for name in ("targets", "predictions"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")
        if self.probabilities.ndim != 2 or len(self.probabilities) != n:
            raise ValueError(f"probabilities must be (N, K), got {self.probabilities.shape}")
        if self.attributions is not None and self.attributions.shape[:2] != self.scores.shape:
            raise ValueError(f"attributions {self.attributions.shape} must be (N, V, F) over scores {self.scores.shape}")

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> NodeExplanation:
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= int(index) < n:
                raise IndexError(f"index {index} out of range for a NodeExplanation of {n} graphs")
            index = slice(int(index) % n, int(index) % n + 1)
        kwargs = {name: (None if getattr(self, name) is None else getattr(self, name)[index]) for name in _ARRAYS}
        return replace(self, **kwargs)

    def __repr__(self) -> str:
        return (f"NodeExplanation(method={self.method!r}, n={len(self)}, nodes={self.n_nodes.tolist()[:4]}"
                f"{'...' if len(self) > 4 else ''}, seconds={self.seconds:.3f})")

    @property
    def n_nodes(self) -> np.ndarray:
        """Nodes of each graph (the non-NaN scores), int64 (N,)."""
        return np.isfinite(self.scores).sum(axis=1).astype(np.int64)

    @property
    def maps(self) -> np.ndarray:
        """The node scores painted onto the pixels, (N, H, W) float32: a pixel takes its node's score."""
        n = len(self)
        flat = self.segments.reshape(n, -1)
        return np.take_along_axis(self.scores, flat, axis=1).reshape(self.segments.shape)

    def to_explanation(self) -> Explanation:
        """A pixel :class:`~xai_lab.explain.Explanation` whose maps are :attr:`maps` (same method
        name, targets, predictions and probabilities); the node scores stay here."""
        return Explanation(maps=self.maps, inputs=self.inputs, targets=self.targets,
                           predictions=self.predictions, probabilities=self.probabilities,
                           method=self.method, parameters=dict(self.parameters), seconds=self.seconds)

    def save(self, path: str | os.PathLike) -> Path:
        """Write to an ``.npz`` file atomically."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        meta = {"format": _FORMAT_VERSION, "kind": "NodeExplanation", "method": self.method,
                "parameters": self.parameters, "seconds": self.seconds,
                "feature_names": list(self.feature_names), "signed": self.signed}
        arrays = {name: getattr(self, name) for name in _ARRAYS if getattr(self, name) is not None}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.array(json.dumps(meta, default=str)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> NodeExplanation:
        """Read a NodeExplanation written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {name: data[name] for name in _ARRAYS if name in data.files}
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path} is not a readable NodeExplanation file: {exc}") from exc
        if meta.get("format") != _FORMAT_VERSION or meta.get("kind") != "NodeExplanation":
            raise ValueError(f"{path}: not a NodeExplanation file (format {meta.get('format')!r}, "
                             f"kind {meta.get('kind')!r})")
        return cls(method=meta["method"], parameters=meta.get("parameters", {}),
                   seconds=float(meta.get("seconds", 0.0)), feature_names=tuple(meta.get("feature_names", ())),
                   signed=bool(meta.get("signed", True)), **arrays)


# ---------------------------------------------------------------------------------- base class
class NodeExplainer:
    """Base class: subclasses set ``name``, ``title``, ``reference``, ``signed`` and implement
    :meth:`_explain` returning ``(scores (N, V), attributions (N, V, F) or None)``."""

    name: ClassVar[str] = "node_explainer"
    title: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    signed: ClassVar[bool] = True

    def __init__(self, **parameters: Any) -> None:
        self.parameters: dict[str, Any] = dict(parameters)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"{type(self).__name__}({args})"

    def explain(self, model: Any, graphs: SuperpixelGraphs, target: Any = None) -> NodeExplanation:
        """Explain ``model``'s decision for each graph, node by node.

        Parameters
        ----------
        model : keras.Model
            A graph network (:func:`~xai_lab.graphs.build_model`) with (N, n_classes) logits.
            It is never modified.
        graphs : SuperpixelGraphs
            The graphs (and their images and superpixels).
        target : None, int or sequence of int
            The class to explain: None for the predicted class, an int for all, one per graph.

        Returns
        -------
        NodeExplanation
        """
        if not is_graph_model(model):
            raise UnsupportedModelError(
                f"{self.name} explains graph networks (inputs features, adjacency, mask); model "
                f"{getattr(model, 'name', type(model).__name__)!r} takes "
                f"{[tuple(t.shape) for t in getattr(model, 'inputs', [])]}: use xai_lab.explain for image models")
        check_graphs(model, graphs)
        logits = predict_logits(model, graphs)
        predictions = logits.argmax(axis=1).astype(np.int64)
        targets = resolve_targets(target, predictions, logits.shape[1])
        start = time.perf_counter()
        scores, attributions = self._explain(model, graphs, targets)
        seconds = time.perf_counter() - start
        scores = np.where(graphs.mask, scores, np.nan).astype(np.float32)
        if attributions is not None:
            attributions = np.where(graphs.mask[..., None], attributions, np.nan).astype(np.float32)
        return NodeExplanation(
            scores=scores, segments=graphs.segments, inputs=graphs.images, targets=targets,
            predictions=predictions, probabilities=probabilities(logits), method=self.name,
            parameters=dict(self.parameters), seconds=seconds, attributions=attributions,
            feature_names=graphs.feature_names, signed=self.signed,
        )

    def _explain(self, model: Any, graphs: SuperpixelGraphs, targets: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError


def _tf():
    import tensorflow as tf

    return tf


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _target_logit(model: Any, inputs: dict[str, Any], targets: Any) -> Any:
    tf = _tf()
    logits = model(inputs, training=False)
    return tf.gather(logits, targets, axis=1, batch_dims=1)


# ---------------------------------------------------------------------------------- registry
_REGISTRY: dict[str, type[NodeExplainer]] = {}


def register(cls: type[NodeExplainer]) -> type[NodeExplainer]:
    """Class decorator: make a node explainer available as ``get(cls.name)``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a node explainer named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def get(name: str, **settings: Any) -> NodeExplainer:
    """A node explainer by registry name, with ``settings`` passed to its constructor."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown node explainer {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name](**settings)


def available() -> list[str]:
    """Names of the registered node explainers."""
    return sorted(_REGISTRY)


# ---------------------------------------------------------------------------------- methods
@register
class NodeGradientXInput(NodeExplainer):
    """Gradient x input per node.

    ``wrt="features"``: ``sum_f x_vf * d s / d x_vf`` over the node's features (all, or the
    intensity features only with ``features="appearance"``); the per-feature products are kept
    in ``attributions``. Position features make this depend on where the origin of the image
    is (as a pixel's gradient x input depends on black being 0): ``features="appearance"``
    leaves them out. ``wrt="mask"``: ``d s / d m_v`` at ``m_v = 1``, the first-order estimate of
    the drop when node ``v`` is removed (compare :class:`NodeOcclusion`).

    Parameters
    ----------
    wrt : {"features", "mask"}
    features : {"all", "appearance"}
        Which features' products are summed into the node score (``wrt="features"`` only).
    batch_size : int
        Graphs per gradient pass.

    References
    ----------
    Shrikumar et al. (2016), arXiv:1605.01713; Pope et al. (2019), CVPR.
    """

    name = "node_gradient_x_input"
    title = "Gradient x input (nodes)"
    reference = "Shrikumar et al. (2016), arXiv:1605.01713; Pope et al. (2019), CVPR"
    signed = True

    def __init__(self, wrt: str = "features", features: str = "all", batch_size: int = 256) -> None:
        if wrt not in ("features", "mask"):
            raise ValueError(f"wrt must be 'features' or 'mask', got {wrt!r}")
        if features not in ("all", "appearance"):
            raise ValueError(f"features must be 'all' or 'appearance', got {features!r}")
        super().__init__(wrt=wrt, features=features, batch_size=batch_size)
        self.wrt, self.features, self.batch_size = wrt, features, int(batch_size)

    def _explain(self, model, graphs, targets):
        tf = _tf()
        scores = np.zeros(graphs.mask.shape, np.float64)
        attributions = None if self.wrt == "mask" else np.zeros(graphs.features.shape, np.float64)
        for s in _chunks(len(graphs), self.batch_size):
            inputs = {k: tf.constant(v) for k, v in graphs.inputs(np.arange(s.start, s.stop)).items()}
            with tf.GradientTape() as tape:
                tape.watch(inputs[self.wrt])
                out = _target_logit(model, inputs, tf.constant(targets[s], tf.int32))
            grad = tape.gradient(out, inputs[self.wrt]).numpy().astype(np.float64)
            if self.wrt == "mask":
                scores[s] = grad
            else:
                prod = grad * graphs.features[s]
                attributions[s] = prod
                keep = appearance_features(graphs.feature_names) if self.features == "appearance" else slice(None)
                scores[s] = prod[..., keep].sum(axis=-1)
        return scores, attributions


@register
class NodeOcclusion(NodeExplainer):
    """Superpixel occlusion: the drop ``s(G) - s(G with node v occluded)`` of the target score.

    Parameters
    ----------
    mode : {"remove", "mean"}
        ``"remove"`` deletes the node and its edges (mask weight 0, exactly the smaller graph);
        ``"mean"`` keeps the node and its edges but sets its intensity features to the image's
        mean intensity and their spread to 0 (a grey patch, as pixel occlusion with
        ``fill="mean"``).
    score : {"logit", "probability"}
    batch_size : int
        Occluded graphs per forward pass.

    References
    ----------
    Zeiler & Fergus (2014), ECCV.
    """

    name = "node_occlusion"
    title = "Superpixel occlusion"
    reference = "Zeiler & Fergus (2014), Visualizing and understanding convolutional networks, ECCV"
    signed = True

    def __init__(self, mode: str = "remove", score: str = "logit", batch_size: int = 512) -> None:
        if mode not in ("remove", "mean"):
            raise ValueError(f"mode must be 'remove' or 'mean', got {mode!r}")
        if score not in ("logit", "probability"):
            raise ValueError(f"score must be 'logit' or 'probability', got {score!r}")
        super().__init__(mode=mode, score=score, batch_size=batch_size)
        self.mode, self.score, self.batch_size = mode, score, int(batch_size)

    def _score(self, logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
        z = logits.astype(np.float64)
        if self.score == "probability":
            z = probabilities(z).astype(np.float64)
        return z[np.arange(len(z)), targets]

    def _explain(self, model, graphs, targets):
        v = graphs.max_nodes
        base = self._score(predict_logits(model, graphs), targets)
        scores = np.zeros(graphs.mask.shape, np.float64)
        names = graphs.feature_names
        mean_idx = [i for i, n in enumerate(names) if n.startswith("mean_")]
        std_idx = [i for i, n in enumerate(names) if n.startswith("std_")]
        per_pass = max(1, self.batch_size // max(v, 1))
        for s in _chunks(len(graphs), per_pass):
            idx = np.arange(s.start, s.stop)
            x = graphs.inputs(idx)
            b = len(idx)
            feats = np.repeat(x["features"][:, None], v, axis=1)          # (b, V copies, V, F)
            mask = np.repeat(x["mask"][:, None], v, axis=1)
            adj = np.repeat(x["adjacency"][:, None], v, axis=1)
            node = np.arange(v)
            if self.mode == "remove":
                mask[:, node, node] = 0.0
            else:
                image_mean = graphs.images[idx].mean(axis=(1, 2))         # (b, C)
                for k, (mi, si) in enumerate(zip(mean_idx, std_idx, strict=True)):
                    feats[:, node, node, mi] = image_mean[:, k][:, None]
                    feats[:, node, node, si] = 0.0
            logits = model.predict_on_batch({
                "features": feats.reshape(b * v, v, -1),
                "adjacency": adj.reshape(b * v, v, v),
                "mask": mask.reshape(b * v, v),
            })
            occluded = self._score(np.asarray(logits), np.repeat(targets[idx], v)).reshape(b, v)
            scores[idx] = base[idx, None] - occluded
        return scores, None


@register
class GNNExplainer(NodeExplainer):
    """GNNExplainer node mask: ``m = sigmoid(theta)`` per node, learnt for each graph.

    Minimises ``-log p(target | G weighted by m) + size * mean(m) + entropy * mean(H(m))``
    with Adam (``H`` the binary entropy, pushing each weight towards 0 or 1); the score of a
    node is its final weight in [0, 1]. The loss terms and their default weights follow PyTorch
    Geometric's node-mask GNNExplainer (size 1.0 on the mean, entropy 0.1), with more steps and
    a larger learning rate than its 100 x 0.01 so that the weights settle. It starts from
    ``theta = 0`` (every weight 0.5) where PyTorch Geometric draws ``theta ~ N(0, 0.1)``: the
    same start for every node makes the result independent of the node numbering, of the batch
    and of the padding (deterministic, no seed).

    Parameters
    ----------
    steps : int
    learning_rate : float
    size : float
        Weight of the mask-size penalty (larger: fewer nodes kept).
    entropy : float
        Weight of the entropy penalty.
    batch_size : int
        Graphs optimised together (their losses are independent).

    References
    ----------
    Ying et al. (2019), GNNExplainer, NeurIPS.
    """

    name = "gnnexplainer"
    title = "GNNExplainer node mask"
    reference = "Ying et al. (2019), GNNExplainer: generating explanations for graph neural networks, NeurIPS"
    signed = False

    def __init__(self, steps: int = 200, learning_rate: float = 0.05, size: float = 1.0,
                 entropy: float = 0.1, batch_size: int = 256) -> None:
        if int(steps) < 1 or not float(learning_rate) > 0:
            raise ValueError("steps must be at least 1 and learning_rate positive")
        if float(size) < 0 or float(entropy) < 0:
            raise ValueError("size and entropy must be non-negative")
        super().__init__(steps=steps, learning_rate=learning_rate, size=size, entropy=entropy,
                         batch_size=batch_size)
        self.steps, self.learning_rate = int(steps), float(learning_rate)
        self.size, self.entropy, self.batch_size = float(size), float(entropy), int(batch_size)

    def _explain(self, model, graphs, targets):
        tf = _tf()
        scores = np.zeros(graphs.mask.shape, np.float64)
        step = self._step_function(model)
        for s in _chunks(len(graphs), self.batch_size):
            inputs = {k: tf.constant(v) for k, v in graphs.inputs(np.arange(s.start, s.stop)).items()}
            real = inputs["mask"]
            n_real = tf.reduce_sum(real, axis=1)
            t = tf.constant(targets[s], tf.int32)
            theta = m1 = m2 = tf.zeros_like(real)
            for i in range(1, self.steps + 1):
                theta, m1, m2 = step(inputs["features"], inputs["adjacency"], real, n_real, t,
                                     theta, m1, m2, tf.constant(float(i)))
            scores[s] = tf.sigmoid(theta).numpy()
        return scores, None

    def _step_function(self, model):
        key = ("gnnexplainer_step", self.size, self.entropy, self.learning_rate)
        cache = model_cache(model)
        if key not in cache:
            cache[key] = self._make_step(model)
        return cache[key]

    def _make_step(self, model):
        tf = _tf()
        size, entropy, lr = self.size, self.entropy, self.learning_rate
        n_features = [t.shape[-1] for t in model.inputs if t.name.split(":")[0] == "features"][0]
        signature = [tf.TensorSpec((None, None, n_features), tf.float32), tf.TensorSpec((None, None, None), tf.float32),
                     tf.TensorSpec((None, None), tf.float32), tf.TensorSpec((None,), tf.float32),
                     tf.TensorSpec((None,), tf.int32), *[tf.TensorSpec((None, None), tf.float32)] * 3,
                     tf.TensorSpec((), tf.float32)]

        @tf.function(input_signature=signature)
        def step(features, adjacency, real, n_real, targets, theta, m1, m2, i):
            """One Adam step (Kingma & Ba 2015) on theta; returns theta and the two moments."""
            with tf.GradientTape() as tape:
                tape.watch(theta)
                mask = tf.sigmoid(theta) * real
                logits = model({"features": features, "adjacency": adjacency, "mask": mask}, training=False)
                log_p = tf.gather(tf.nn.log_softmax(logits), targets, axis=1, batch_dims=1)
                eps = 1e-6
                ent = -(mask * tf.math.log(mask + eps) + (1 - mask) * tf.math.log(1 - mask + eps)) * real
                loss = tf.reduce_sum(-log_p + size * tf.reduce_sum(mask, 1) / n_real
                                     + entropy * tf.reduce_sum(ent, 1) / n_real)
            grad = tape.gradient(loss, theta)
            m1 = 0.9 * m1 + 0.1 * grad
            m2 = 0.999 * m2 + 0.001 * grad * grad
            theta = theta - lr * (m1 / (1 - 0.9**i)) / (tf.sqrt(m2 / (1 - 0.999**i)) + 1e-8)
            return theta, m1, m2

        return step
