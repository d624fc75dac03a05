"""Attention rollout for the package's vision transformer (``xai_lab.models`` ``vit``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _graph
from .base import Explainer, MapResult, UnsupportedModelError, register
from .info import MethodInfo


@register()
class AttentionRollout(Explainer):
    """Attention rollout: attention propagated through all blocks, residuals included.

    For each block the head-averaged attention ``A`` is mixed with the identity (the residual
    connection), ``0.5 A + 0.5 I``, rows renormalised to sum to 1; the blocks' matrices are
    multiplied from the first to the last. The map is the row of the CLS token over the patch
    tokens (or, for ``pool="mean"`` models without a CLS token, the mean of all rows), on the
    patch grid (``raw_maps``), upsampled bilinearly to the pixels the patches cover; a border
    the patch grid does not cover (image size not a multiple of the patch size) gets 0.

    The map does not depend on the target class (attention is class-agnostic); ``head_fusion``
    ``"mean"`` (the paper) or ``"max"``.

    References
    ----------
    Abnar, S., & Zuidema, W. (2020). Quantifying attention flow in transformers. ACL.
    https://arxiv.org/abs/2005.00928
    """

    name = "attention_rollout"
    info = MethodInfo(
        "Attention rollout", signed=False,
        meaning="where the classifier token attends through all transformer blocks "
                "(the same map for every class, {target} included)",
        high="most attended", low="ignored",
    )
    reference = "Abnar & Zuidema (2020), Quantifying attention flow in transformers, ACL"

    def __init__(self, head_fusion: str = "mean", batch_size: int = 64) -> None:
        if head_fusion not in ("mean", "max"):
            raise ValueError(f"head_fusion must be 'mean' or 'max', got {head_fusion!r}")
        super().__init__(head_fusion=head_fusion, batch_size=batch_size)
        self.head_fusion, self.batch_size = head_fusion, int(batch_size)

    def check_model(self, model: Any) -> None:
        from ..models import vit

        if not vit.attention_layers(model):
            raise UnsupportedModelError(
                f"attention_rollout needs a vit model (xai_lab.models.build('vit', ...)); "
                f"model {model.name!r} has no SelfAttention layer"
            )

    def _scores_function(self, model: Any) -> Any:
        cache = _graph.model_cache(model)
        if "attention_scores" not in cache:
            import tensorflow as tf

            from ..models import vit

            attn = vit.attention_model(model)
            shape = _graph.input_shape(model)

            @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32)])
            def scores(x):
                out = attn(x, training=False)
                return list(out) if isinstance(out, (list, tuple)) else [out]

            cache["attention_scores"] = scores
        return cache["attention_scores"]

    def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
        import tensorflow as tf

        grid = tuple(int(d) for d in _graph.get_layer(model, "patch_embed").output.shape[1:3])
        gh, gw = grid
        height, width = x.shape[1:3]
        fn = self._scores_function(model)
        raws = []
        for s in _graph.batches(len(x), self.batch_size):
            blocks = [np.asarray(a, dtype=np.float64) for a in fn(x[s])]
            raws.append(rollout(blocks, self.head_fusion, gh * gw))
        raw = np.concatenate(raws).reshape(len(x), gh, gw).astype(np.float32)
        patch_h, patch_w = height // gh, width // gw
        up = tf.image.resize(raw[..., None], (gh * patch_h, gw * patch_w), method="bilinear")
        maps = np.zeros((len(x), height, width), np.float32)
        maps[:, : gh * patch_h, : gw * patch_w] = up.numpy()[..., 0]
        return MapResult(maps=maps, raw_maps=raw, layer="patch_embed")


def rollout(blocks: list[np.ndarray], head_fusion: str, n_patches: int) -> np.ndarray:
    """Rollout of per-block attention (N, heads, T, T) -> (N, n_patches) patch relevance."""
    fused = [a.mean(axis=1) if head_fusion == "mean" else a.max(axis=1) for a in blocks]
    n, t, _ = fused[0].shape
    result = np.broadcast_to(np.eye(t), (n, t, t)).copy()
    for a in fused:
        a = 0.5 * a + 0.5 * np.eye(t)
        a = a / a.sum(axis=-1, keepdims=True)
        result = a @ result
    if t == n_patches + 1:  # CLS token first
        return result[:, 0, 1:]
    if t == n_patches:
        return result.mean(axis=1)
    raise UnsupportedModelError(
        f"attention over {t} tokens does not match a patch grid of {n_patches} patches"
    )
