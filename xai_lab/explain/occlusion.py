"""Occlusion sensitivity: how much the target score drops when a patch is hidden."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _graph
from .base import Explainer, MapResult, register
from .info import MethodInfo


def _positions(size: int, patch: int, stride: int) -> list[int]:
    """Top-left offsets of patches covering ``range(size)``, the last one flush with the edge."""
    if patch >= size:
        return [0]
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


@register()
class Occlusion(Explainer):
    """Occlusion sensitivity.

    Each ``patch_size`` square (moved by ``stride``, the last row/column flush with the border
    so every pixel is covered) is set to ``fill`` in turn; the map at a pixel is the drop
    ``s(x) - s(x with the patch hidden)`` of the target score, averaged over all patches that
    cover the pixel. Positive values: hiding the region lowers the evidence for the class.
    All occluded copies go through one compiled forward pass in batches.

    Parameters
    ----------
    patch_size : int
        Side of the square patch in pixels.
    stride : int, optional
        Step between patches; default ``patch_size // 2`` (at least 1).
    fill : float or "mean"
        Value of the hidden pixels (inputs are in [0, 1]); ``"mean"`` uses each image's
        per-channel mean.
    score : {"logit", "probability"}
        The target's logit or its softmax probability.
    batch_size : int
        At most this many occluded images per forward pass; fewer for large images
        (:func:`~xai_lab.explain._graph.chunk_size`).

    References
    ----------
    Zeiler, M. D., & Fergus, R. (2014). Visualizing and understanding convolutional networks.
    ECCV. https://arxiv.org/abs/1311.2901
    """

    name = "occlusion"
    info = MethodInfo(
        "Occlusion", signed=True,
        meaning="how much the score of {target} drops when a patch around the pixel is hidden",
        high="hiding it lowers the score (evidence for {target})",
        low="hiding it raises the score (evidence against {target})",
    )
    reference = "Zeiler & Fergus (2014), Visualizing and understanding convolutional networks, ECCV"
    model_agnostic = True

    def __init__(
        self,
        patch_size: int = 8,
        stride: int | None = None,
        fill: float | str = 0.0,
        score: str = "logit",
        batch_size: int = 256,
    ) -> None:
        if patch_size < 1:
            raise ValueError(f"patch_size must be at least 1, got {patch_size}")
        if stride is not None and stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        if score not in ("logit", "probability"):
            raise ValueError(f"score must be 'logit' or 'probability', got {score!r}")
        if isinstance(fill, str) and fill != "mean":
            raise ValueError(f"fill must be a number or 'mean', got {fill!r}")
        super().__init__(
            patch_size=patch_size, stride=stride, fill=fill, score=score, batch_size=batch_size
        )
        self.patch_size = int(patch_size)
        self.stride = int(stride) if stride is not None else max(1, self.patch_size // 2)
        self.fill, self.score, self.batch_size = fill, score, int(batch_size)

    def _scores(self, forward: Any, images: np.ndarray, targets: np.ndarray,
                size: int) -> np.ndarray:
        out = []
        for s in _graph.batches(len(images), size):
            logits = forward(images[s]).numpy().astype(np.float64)
            if self.score == "probability":
                z = np.exp(logits - logits.max(axis=1, keepdims=True))
                logits = z / z.sum(axis=1, keepdims=True)
            out.append(logits[np.arange(len(logits)), targets[s]])
        return np.concatenate(out)

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        n, height, width, _ = x.shape
        p = self.patch_size
        boxes = [
            (r, c)
            for r in _positions(height, min(p, height), self.stride)
            for c in _positions(width, min(p, width), self.stride)
        ]
        forward = _graph.forward_function(model)
        size = _graph.chunk_size(model, x.shape[1:], self.batch_size)
        base = self._scores(forward, x, targets, size)
        fill = x.mean(axis=(1, 2), keepdims=True) if self.fill == "mean" else None
        drop = np.zeros((n, height, width))
        count = np.zeros((height, width))
        for r, c in boxes:
            count[r : r + p, c : c + p] += 1
        # Occluded copies ordered image-major, in chunks of whole images.
        per_chunk = max(1, size // len(boxes))
        for s in _graph.batches(n, per_chunk):
            xs = x[s]
            copies = np.repeat(xs[:, None], len(boxes), axis=1)
            for b, (r, c) in enumerate(boxes):
                copies[:, b, r : r + p, c : c + p, :] = (
                    float(self.fill) if fill is None else fill[s]
                )
            scores = self._scores(
                forward,
                copies.reshape(-1, *x.shape[1:]),
                np.repeat(targets[s], len(boxes)),
                size,
            ).reshape(len(xs), len(boxes))
            for b, (r, c) in enumerate(boxes):
                drop[s, r : r + p, c : c + p] += (base[s] - scores[:, b])[:, None, None]
        maps = drop / count
        return MapResult(maps=maps.astype(np.float32))
