"""``vit``: a small vision transformer (Dosovitskiy et al., "An image is worth 16x16 words",
ICLR 2021) whose attention weights can be read for attention rollout (Abnar & Zuidema,
"Quantifying attention flow in transformers", ACL 2020).

Layout: a strided Conv2D patch embedding ("patch_embed") -> flattened to T_p = (H/p) * (W/p)
patch tokens -> an optional learnt CLS token prepended (``pool="cls"``, the default) ->
learnt position embeddings -> ``depth`` pre-norm encoder blocks
(LayerNorm -> :class:`SelfAttention` -> Add -> LayerNorm -> MLP(gelu) -> Add) -> LayerNorm ->
the CLS token (or the mean of the tokens, ``pool="mean"``) -> logits.

Attention scores: :func:`attention_model` returns a model mapping the input images to a list
with one tensor per block, each of shape (N, heads, T, T), rows = queries, columns = keys,
softmax-normalised over the keys. T INCLUDES the CLS token when ``pool="cls"``: token 0 is
the CLS token and tokens 1..T_p are the patches in row-major order (patch (i, j) is token
1 + i * (W/p) + j). With ``pool="mean"`` there is no CLS token and T = T_p.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from .heads import head as _head
from .registry import register


@keras.saving.register_keras_serializable(package="xai_lab")
class SelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product self-attention (Vaswani et al., NeurIPS 2017).

    ``call(x)`` returns ``[output (N, T, D), scores (N, heads, T, T)]``; the scores are the
    softmax attention weights.
    """

    def __init__(self, num_heads: int, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        if dim % self.num_heads:
            raise ValueError(f"embedding size {dim} is not divisible by num_heads={self.num_heads}")
        self.dim = dim
        self.qkv_kernel = self.add_weight(name="qkv_kernel", shape=(dim, 3 * dim), initializer="glorot_uniform")
        self.qkv_bias = self.add_weight(name="qkv_bias", shape=(3 * dim,), initializer="zeros")
        self.out_kernel = self.add_weight(name="out_kernel", shape=(dim, dim), initializer="glorot_uniform")
        self.out_bias = self.add_weight(name="out_bias", shape=(dim,), initializer="zeros")

    def call(self, x):
        n, t = ops.shape(x)[0], ops.shape(x)[1]
        h, d = self.num_heads, self.dim // self.num_heads
        qkv = ops.matmul(x, self.qkv_kernel) + self.qkv_bias  # (N, T, 3D)
        qkv = ops.reshape(qkv, (n, t, 3, h, d))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, N, h, T, d)
        q, k, v = qkv[0], qkv[1], qkv[2]
        logits = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / (float(d) ** 0.5)
        scores = ops.softmax(logits, axis=-1)  # (N, h, T, T)
        out = ops.matmul(scores, v)  # (N, h, T, d)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (n, t, self.dim))
        out = ops.matmul(out, self.out_kernel) + self.out_bias
        return [out, scores]

    def compute_output_shape(self, input_shape):
        n, t = input_shape[0], input_shape[1]
        return [tuple(input_shape), (n, self.num_heads, t, t)]

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


@keras.saving.register_keras_serializable(package="xai_lab")
class ClassToken(keras.layers.Layer):
    """Prepend a learnt CLS token: (N, T, D) -> (N, T + 1, D)."""

    def build(self, input_shape):
        self.token = self.add_weight(
            name="token", shape=(1, 1, int(input_shape[-1])), initializer=keras.initializers.TruncatedNormal(stddev=0.02)
        )

    def call(self, x):
        n = ops.shape(x)[0]
        token = ops.broadcast_to(ops.cast(self.token, x.dtype), (n, 1, ops.shape(x)[-1]))
        return ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape):
        t = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], t, input_shape[2])


@keras.saving.register_keras_serializable(package="xai_lab")
class PositionEmbedding(keras.layers.Layer):
    """Add a learnt position embedding (one vector per token)."""

    def build(self, input_shape):
        self.embedding = self.add_weight(
            name="embedding",
            shape=(1, int(input_shape[1]), int(input_shape[2])),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )

    def call(self, x):
        return x + ops.cast(self.embedding, x.dtype)


@keras.saving.register_keras_serializable(package="xai_lab")
class TakeToken(keras.layers.Layer):
    """Select one token: (N, T, D) -> (N, D)."""

    def __init__(self, index: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, x):
        return x[:, self.index, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "index": self.index}


@register("vit")
def build(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    patch_size: int = 4,
    dim: int = 64,
    depth: int = 4,
    num_heads: int = 4,
    mlp_ratio: int = 2,
    dropout: float = 0.1,
    pool: str = "cls",
    head: str = "softmax",
) -> keras.Model:
    """A small ViT; see the module docstring for the layout and the attention convention.

    Parameters
    ----------
    patch_size : int
        Side of the square patches (the image size need not be a multiple: the border is cut).
    dim : int
        Token embedding size (divisible by ``num_heads``).
    depth : int
        Number of encoder blocks (each has one :class:`SelfAttention` named ``attention_{i}``).
    num_heads : int
        Attention heads per block.
    mlp_ratio : int
        Hidden width of the MLP as a multiple of ``dim``.
    dropout : float
        Dropout in the MLP and before the logits.
    pool : {"cls", "mean"}
        Classify from the CLS token or from the mean of the patch tokens.
    head : {"softmax", "coral"}
        Output head (see :mod:`xai_lab.models.heads`).
    """
    h, w, c = (int(d) for d in input_shape)
    p = int(patch_size)
    if p > min(h, w):
        raise ValueError(f"patch_size {p} is larger than the image ({h}x{w})")
    if pool not in ("cls", "mean"):
        raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
    inputs = keras.Input(shape=(h, w, c), name="image")
    x = keras.layers.Conv2D(dim, p, strides=p, padding="valid", name="patch_embed")(inputs)
    x = keras.layers.Reshape(((h // p) * (w // p), dim), name="tokens")(x)
    if pool == "cls":
        x = ClassToken(name="cls_token")(x)
    x = PositionEmbedding(name="pos_embed")(x)
    for i in range(1, depth + 1):
        y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"ln{i}_1")(x)
        y, _ = SelfAttention(num_heads, name=f"attention_{i}")(y)
        x = keras.layers.Add(name=f"add{i}_1")([x, y])
        y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"ln{i}_2")(x)
        y = keras.layers.Dense(dim * mlp_ratio, activation="gelu", name=f"mlp{i}_1")(y)
        if dropout:
            y = keras.layers.Dropout(dropout, name=f"mlp{i}_dropout")(y)
        y = keras.layers.Dense(dim, name=f"mlp{i}_2")(y)
        x = keras.layers.Add(name=f"add{i}_2")([x, y])
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="ln_final")(x)
    if pool == "cls":
        x = TakeToken(0, name="cls")(x)
    else:
        x = keras.layers.GlobalAveragePooling1D(name="mean_tokens")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = _head(x, n_classes, head)
    return keras.Model(inputs, outputs, name="vit")


def attention_layers(model: keras.Model) -> list[SelfAttention]:
    """The model's :class:`SelfAttention` layers, in block order."""
    return [layer for layer in model.layers if isinstance(layer, SelfAttention)]


def attention_model(model: keras.Model) -> keras.Model:
    """A model mapping ``model``'s input to the list of per-block attention scores.

    Each output has shape (N, heads, T, T) (queries x keys, rows sum to 1); T includes the
    CLS token (index 0) when the model was built with ``pool="cls"``. The returned model
    shares the layers (and weights) of ``model``; ``model`` itself is not modified.

    Raises
    ------
    ValueError
        When ``model`` has no :class:`SelfAttention` layer (not a ``vit`` model).
    """
    layers = attention_layers(model)
    if not layers:
        raise ValueError(
            f"model {model.name!r} has no SelfAttention layer: attention scores exist only "
            "for models built with xai_lab.models.build('vit', ...)"
        )
    # model.inputs[0] (not the list): the attention model is then called with a plain array
    return keras.Model(
        model.inputs[0], [layer.output[1] for layer in layers], name=f"{model.name}_attention"
    )


def attention_scores(model: keras.Model, images) -> list:
    """Per-block attention scores of ``images`` as a list of numpy arrays (N, heads, T, T).

    Unlike ``attention_model(model).predict_on_batch``, which Keras unwraps to a single array
    for a one-block model, this always returns a list (one entry per block).
    """
    import numpy as np

    from .io import as_input

    out = attention_model(model)(as_input(images), training=False)
    if not isinstance(out, (list, tuple)):
        out = [out]
    return [np.asarray(t) for t in out]
