"""Images as graphs: SLIC superpixels become region-adjacency graphs.

Each image is cut into superpixels by SLIC (Achanta et al. 2012, scikit-image's ``slic``); each
superpixel is a node and two nodes share an (undirected) edge when their superpixels touch
(4-connectivity: a pixel of one has a pixel of the other directly above, below, left or right).
This is the region adjacency graph of Tremeau & Colantoni (2000), and the image-to-graph step of
the superpixel benchmarks of Knyazev et al. (2019) and Dwivedi et al. (2023).

Node features, in this order (``SuperpixelGraphs.feature_names``):

- ``mean_<c>`` the mean intensity of each channel ``c`` in [0, 1] (``grey`` or ``red``,
  ``green``, ``blue``),
- ``std_<c>`` its standard deviation (texture inside the region),
- ``y``, ``x`` the centroid, 0 at the top / left edge and 1 at the bottom / right edge,
- ``area`` the share of the image's pixels the superpixel covers (the areas of a graph sum to 1).

Graphs of different sizes are kept padded to the largest node count of the collection:
``features`` (N, V, F) and ``mask`` (N, V) (True for a real node); edges are stored once per
pair as a list (``edges``, rows ``(u, v)`` with ``u < v``, with ``edge_offsets`` giving each
graph's slice), and :meth:`SuperpixelGraphs.inputs` makes the padded dense batch the network
reads: features, a symmetric 0/1 adjacency (N, V, V) without self loops, and the float mask.

References
----------
Achanta, R., Shaji, A., Smith, K., Lucchi, A., Fua, P., Suesstrunk, S. (2012). SLIC superpixels
compared to state-of-the-art superpixel methods. IEEE TPAMI 34(11), 2274-2282.
Tremeau, A., Colantoni, P. (2000). Regions adjacency graph applied to color image segmentation.
IEEE Transactions on Image Processing 9(4), 735-744.
Knyazev, B., Taylor, G. W., Amer, M. (2019). Understanding attention and generalization in graph
neural networks. NeurIPS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

#: Default SLIC settings per number of channels: about 75 superpixels at 28 px (SLIC's grid
#: gives 64-85); compactness in the units of the colour distance (grey intensities in [0, 1],
#: CIELAB for colour, where scikit-image recommends about 10).
DEFAULT_SEGMENTS = 75
DEFAULT_COMPACTNESS = {1: 0.1, 3: 10.0}
CHANNEL_NAMES = {1: ("grey",), 3: ("red", "green", "blue")}


class GraphInputError(ValueError):
    """Images, labels or settings that cannot become superpixel graphs (said before any work)."""


def feature_names(n_channels: int) -> tuple[str, ...]:
    """Names of the node features for images with ``n_channels`` channels (1 or 3)."""
    if n_channels not in CHANNEL_NAMES:
        raise GraphInputError(f"images must have 1 (grey) or 3 (RGB) channels, got {n_channels}")
    names = CHANNEL_NAMES[n_channels]
    return (*(f"mean_{c}" for c in names), *(f"std_{c}" for c in names), "y", "x", "area")


def appearance_features(names: tuple[str, ...]) -> list[int]:
    """Indices of the intensity features (``mean_*``, ``std_*``) among ``names``."""
    return [i for i, n in enumerate(names) if n.startswith(("mean_", "std_"))]


def superpixels(image: np.ndarray, n_segments: int = DEFAULT_SEGMENTS,
                compactness: float | None = None) -> np.ndarray:
    """SLIC superpixels of one float image (H, W, C) in [0, 1]: int32 labels 0..V-1 (H, W).

    Labels are consecutive (scikit-image may skip numbers) and every superpixel is connected
    (``enforce_connectivity``).
    """
    from skimage.segmentation import slic

    c = image.shape[-1]
    comp = DEFAULT_COMPACTNESS[c] if compactness is None else float(compactness)
    if c == 1:
        raw = slic(image[..., 0].astype(np.float64), n_segments=int(n_segments), compactness=comp,
                   channel_axis=None, start_label=0, enforce_connectivity=True)
    else:
        raw = slic(image.astype(np.float64), n_segments=int(n_segments), compactness=comp,
                   channel_axis=-1, start_label=0, enforce_connectivity=True)
    _, labels = np.unique(raw, return_inverse=True)
    return labels.reshape(raw.shape).astype(np.int32)


def region_adjacency(segments: np.ndarray) -> np.ndarray:
    """Edges (u, v), u < v, between superpixels that touch (4-connectivity), sorted, int32 (E, 2)."""
    s = np.asarray(segments)
    pairs = np.concatenate([
        np.stack([s[:, :-1].ravel(), s[:, 1:].ravel()], axis=1),   # left-right neighbours
        np.stack([s[:-1, :].ravel(), s[1:, :].ravel()], axis=1),   # up-down neighbours
    ])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.sort(pairs, axis=1)
    if len(pairs) == 0:
        return np.zeros((0, 2), np.int32)
    return np.unique(pairs, axis=0).astype(np.int32)


def node_features(image: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Features (V, F) of the superpixels of one float image (see the module docstring)."""
    h, w, c = image.shape
    n = int(segments.max()) + 1
    flat = segments.ravel()
    count = np.bincount(flat, minlength=n).astype(np.float64)
    pixels = image.reshape(-1, c).astype(np.float64)
    mean = np.stack([np.bincount(flat, pixels[:, k], n) / count for k in range(c)], axis=1)
    sq = np.stack([np.bincount(flat, pixels[:, k] ** 2, n) / count for k in range(c)], axis=1)
    std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    rows, cols = np.indices((h, w))
    y = np.bincount(flat, rows.ravel(), n) / count / max(h - 1, 1)
    x = np.bincount(flat, cols.ravel(), n) / count / max(w - 1, 1)
    area = count / (h * w)
    return np.concatenate([mean, std, y[:, None], x[:, None], area[:, None]], axis=1).astype(np.float32)


def _as_images(images: Any) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise GraphInputError(f"images must be (N, H, W, C) or (N, H, W), got shape {np.shape(images)}")
    if x.shape[-1] not in CHANNEL_NAMES:
        raise GraphInputError(f"images must have 1 (grey) or 3 (RGB) channels, got {x.shape[-1]}")
    if min(x.shape[1:3]) < 4:
        raise GraphInputError(f"images of {x.shape[1]}x{x.shape[2]} pixels are too small for superpixels "
                              "(at least 4x4)")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(x.dtype, np.floating):
        raise GraphInputError(f"images must be uint8 or float in [0, 1], got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise GraphInputError("images contain NaN or infinite values")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise GraphInputError(f"float images must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]"
                              " (divide uint8 images by 255)")
    return x.astype(np.float32, copy=False)


@dataclass
class SuperpixelGraphs:
    """A collection of region-adjacency graphs, one per image, padded to a common node count.

    Attributes
    ----------
    features : ndarray, float32, shape (N, V, F)
        Node features (see :data:`feature_names`); padded nodes are 0.
    mask : ndarray, bool, shape (N, V)
        True for the real nodes of each graph (the first ``n_nodes[i]`` slots).
    edges : ndarray, int32, shape (E, 2)
        All undirected edges ``(u, v)``, ``u < v``, graph after graph.
    edge_offsets : ndarray, int64, shape (N + 1,)
        Graph ``i``'s edges are ``edges[edge_offsets[i]:edge_offsets[i + 1]]``.
    segments : ndarray, int32, shape (N, H, W)
        The superpixel (node index) of every pixel.
    images : ndarray, float32, shape (N, H, W, C)
        The images in [0, 1].
    labels : ndarray, int64, shape (N,) or None
    feature_names : tuple of str
    label_names : list of str or None
    task : str or None
        ``"binary"``, ``"multiclass"`` or ``"ordinal"`` (from the dataset).
    name : str
        Where the images came from (a dataset name and split).
    settings : dict
        The SLIC settings used (``n_segments``, ``compactness``).
    seconds : float
        Wall time of the superpixel and graph construction.
    """

    features: np.ndarray
    mask: np.ndarray
    edges: np.ndarray
    edge_offsets: np.ndarray
    segments: np.ndarray
    images: np.ndarray
    labels: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()
    label_names: list[str] | None = None
    task: str | None = None
    name: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.features)
        if self.features.ndim != 3 or self.mask.shape != self.features.shape[:2]:
            raise ValueError(f"features (N, V, F) and mask (N, V) disagree: {self.features.shape}, {self.mask.shape}")
        if len(self.edge_offsets) != n + 1 or len(self.segments) != n or len(self.images) != n:
            raise ValueError("edge_offsets, segments and images must have one entry per graph")
        if self.labels is not None:
            self.labels = np.asarray(self.labels).reshape(-1).astype(np.int64)
            if len(self.labels) != n:
                raise ValueError(f"{n} graphs but {len(self.labels)} labels")

    # ------------------------------------------------------------------ sizes
    def __len__(self) -> int:
        return int(len(self.features))

    def __repr__(self) -> str:
        n = self.n_nodes
        nodes = f"{n.min()}-{n.max()}" if len(n) else "0"
        return (f"SuperpixelGraphs(name={self.name!r}, n={len(self)}, nodes={nodes}, "
                f"features={self.n_features}, image={self.images.shape[1:]})")

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> SuperpixelGraphs:
        """``g[3]`` is a collection of one graph, ``g[:8]`` of eight (see :meth:`subset`)."""
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= int(index) < len(self):
                raise IndexError(f"index {index} out of range for {len(self)} graphs")
            index = [int(index) % len(self)]
        return self.subset(index)

    @property
    def n_nodes(self) -> np.ndarray:
        """Number of real nodes (superpixels) of each graph, int64 (N,)."""
        return self.mask.sum(axis=1).astype(np.int64)

    @property
    def n_edges(self) -> np.ndarray:
        """Number of undirected edges of each graph, int64 (N,)."""
        return np.diff(self.edge_offsets).astype(np.int64)

    @property
    def max_nodes(self) -> int:
        return int(self.features.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[2])

    @property
    def n_classes(self) -> int | None:
        return None if self.label_names is None else len(self.label_names)

    def graph_edges(self, i: int) -> np.ndarray:
        """The edges (E_i, 2) of graph ``i``."""
        return self.edges[self.edge_offsets[i]:self.edge_offsets[i + 1]]

    # ------------------------------------------------------------------ batches
    def adjacency(self, indices: Any = None, max_nodes: int | None = None) -> np.ndarray:
        """Dense symmetric 0/1 adjacency (B, V, V), float32, of the chosen graphs (default all)."""
        idx = np.arange(len(self)) if indices is None else np.atleast_1d(np.arange(len(self))[indices])
        v = self.max_nodes if max_nodes is None else int(max_nodes)
        out = np.zeros((len(idx), v, v), np.float32)
        for b, i in enumerate(idx):
            e = self.graph_edges(int(i))
            out[b, e[:, 0], e[:, 1]] = 1.0
            out[b, e[:, 1], e[:, 0]] = 1.0
        return out

    def inputs(self, indices: Any = None) -> dict[str, np.ndarray]:
        """The network's inputs for the chosen graphs: ``features``, ``adjacency``, ``mask`` (float32)."""
        idx = np.arange(len(self)) if indices is None else np.atleast_1d(np.arange(len(self))[indices])
        return {
            "features": self.features[idx],
            "adjacency": self.adjacency(idx),
            "mask": self.mask[idx].astype(np.float32),
        }

    def subset(self, indices: Any) -> SuperpixelGraphs:
        """The chosen graphs (int array, slice or bool mask), in that order, same padding."""
        idx = np.atleast_1d(np.arange(len(self))[indices])
        parts = [self.graph_edges(int(i)) for i in idx]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        return replace(
            self,
            features=self.features[idx],
            mask=self.mask[idx],
            edges=np.concatenate(parts).astype(np.int32) if parts else np.zeros((0, 2), np.int32),
            edge_offsets=offsets,
            segments=self.segments[idx],
            images=self.images[idx],
            labels=None if self.labels is None else self.labels[idx],
        )

    def permute_nodes(self, i: int, order: np.ndarray) -> SuperpixelGraphs:
        """Graph ``i`` alone with its nodes renumbered: new node ``k`` is old node ``order[k]``.

        Features, edges and the segment labels move together, so the graph (and the image it
        describes) is the same; only the numbering changes. Used to test permutation invariance.
        """
        n = int(self.n_nodes[i])
        order = np.asarray(order)
        if sorted(order.tolist()) != list(range(n)):
            raise ValueError(f"order must be a permutation of 0..{n - 1}")
        one = self.subset([i])
        inverse = np.empty(n, np.int64)
        inverse[order] = np.arange(n)
        feats = one.features.copy()
        feats[0, :n] = one.features[0, order]
        e = np.sort(inverse[one.edges], axis=1)
        e = e[np.lexsort((e[:, 1], e[:, 0]))].astype(np.int32)
        return replace(one, features=feats, edges=e, segments=inverse[one.segments].astype(np.int32))

    def paint(self, scores: np.ndarray) -> np.ndarray:
        """Per-node scores (N, V) drawn back onto the pixels: (N, H, W) float32.

        Every pixel takes the score of its superpixel (NaN stays NaN).
        """
        s = np.asarray(scores, dtype=np.float32)
        if s.shape[0] != len(self) or s.ndim != 2 or s.shape[1] < int(self.n_nodes.max(initial=0)):
            raise ValueError(f"scores must be (N={len(self)}, V>={self.n_nodes.max(initial=0)}), got {s.shape}")
        return np.take_along_axis(s, self.segments.reshape(len(self), -1), axis=1).reshape(self.segments.shape)


def from_images(
    images: Any,
    labels: Any = None,
    *,
    n_segments: int = DEFAULT_SEGMENTS,
    compactness: float | None = None,
    label_names: list[str] | None = None,
    task: str | None = None,
    name: str = "",
) -> SuperpixelGraphs:
    """Superpixel graphs of a batch of images.

    Parameters
    ----------
    images : array-like
        (N, H, W, C) or (N, H, W), uint8 or float in [0, 1], 1 or 3 channels.
    labels : array-like, optional
        One class index per image.
    n_segments : int
        SLIC's target number of superpixels (it returns about as many; at 28 px the grid
        gives 64-85 for 75).
    compactness : float, optional
        SLIC's balance of colour against distance; default 0.1 for grey images in [0, 1] and 10
        for colour (SLIC works in CIELAB).
    label_names, task, name
        Kept with the graphs (a :class:`~xai_lab.data.Dataset` gives them; see :func:`from_dataset`).

    Returns
    -------
    SuperpixelGraphs
    """
    x = _as_images(images)
    if int(n_segments) < 2:
        raise GraphInputError(f"n_segments must be at least 2, got {n_segments}")
    if compactness is not None and not float(compactness) > 0:
        raise GraphInputError(f"compactness must be positive, got {compactness}")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(x):
            raise GraphInputError(f"{len(x)} images but {len(labels)} labels")
    start = time.perf_counter()
    segs, feats, edges = [], [], []
    for image in x:
        s = superpixels(image, n_segments, compactness)
        segs.append(s)
        feats.append(node_features(image, s))
        edges.append(region_adjacency(s))
    v = max((len(f) for f in feats), default=0)
    f = len(feature_names(x.shape[-1]))
    features = np.zeros((len(x), v, f), np.float32)
    mask = np.zeros((len(x), v), bool)
    for i, fe in enumerate(feats):
        features[i, : len(fe)] = fe
        mask[i, : len(fe)] = True
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in edges])]).astype(np.int64)
    return SuperpixelGraphs(
        features=features,
        mask=mask,
        edges=np.concatenate(edges).astype(np.int32) if edges else np.zeros((0, 2), np.int32),
        edge_offsets=offsets,
        segments=np.stack(segs) if segs else np.zeros((0, *x.shape[1:3]), np.int32),
        images=x,
        labels=labels,
        feature_names=feature_names(x.shape[-1]),
        label_names=None if label_names is None else list(label_names),
        task=task,
        name=name,
        settings={"n_segments": int(n_segments),
                  "compactness": DEFAULT_COMPACTNESS[x.shape[-1]] if compactness is None else float(compactness)},
        seconds=time.perf_counter() - start,
    )


def from_dataset(dataset: Any, *, n_segments: int = DEFAULT_SEGMENTS,
                 compactness: float | None = None) -> SuperpixelGraphs:
    """Superpixel graphs of an :class:`xai_lab.data.Dataset` (labels, class names and task kept)."""
    if not (hasattr(dataset, "images") and hasattr(dataset, "labels") and hasattr(dataset, "info")):
        raise GraphInputError(f"from_dataset needs an xai_lab.data.Dataset, got {type(dataset).__name__}; "
                              "use from_images for arrays")
    return from_images(
        dataset.images, dataset.labels, n_segments=n_segments, compactness=compactness,
        label_names=list(dataset.label_names), task=dataset.task,
        name=f"{dataset.name}/{dataset.split}",
    )
