"""Classification heads: plain softmax logits and the CORAL ordinal head.

CORAL (Cao, Mirjalili & Raschka, "Rank consistent ordinal regression for neural networks",
Pattern Recognition Letters 140, 2020) shares one weight vector across the K - 1 binary tasks
"grade > k" and gives each task its own bias. Here the biases are kept ordered by construction
(b_k = b_0 - sum of softplus steps), so P(y > k) decreases with k and the class probabilities
P(y = k) = P(y > k - 1) - P(y > k) are never negative. The head returns their logarithms,
so ``softmax(output)`` is the class probability and every explainer can treat the model like
any classifier. Trained with the usual cross-entropy on these outputs, the model is the
cumulative-logit (proportional odds) model of McCullagh (JRSS B 42, 1980) on learnt features.
"""

from __future__ import annotations

import keras
from keras import ops

HEADS = ("softmax", "coral")


@keras.saving.register_keras_serializable(package="xai_lab")
class CoralHead(keras.layers.Layer):
    """CORAL ordinal head returning log class probabilities (N, n_classes).

    Parameters
    ----------
    n_classes : int
        Number of ordered classes K (>= 2).
    """

    def __init__(self, n_classes: int, **kwargs):
        super().__init__(**kwargs)
        if int(n_classes) < 2:
            raise ValueError("CoralHead needs at least 2 classes")
        self.n_classes = int(n_classes)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(dim, 1), initializer="glorot_uniform", trainable=True
        )
        self.bias0 = self.add_weight(name="bias0", shape=(1,), initializer="zeros")
        # softplus(0.5413) = 1: the initial thresholds are one logit apart.
        self.steps = self.add_weight(
            name="steps",
            shape=(max(self.n_classes - 2, 1),),
            initializer=keras.initializers.Constant(0.5413),
        )

    def cumulative_logits(self, x):
        """The K - 1 logits of P(y > k), k = 0..K-2, non-increasing in k."""
        score = ops.matmul(x, self.kernel)  # (N, 1)
        offsets = ops.cumsum(ops.softplus(self.steps))[: self.n_classes - 2]
        biases = ops.concatenate([self.bias0, self.bias0 - offsets], axis=0)
        return score + biases[None, :]

    def call(self, x):
        p_gt = ops.sigmoid(self.cumulative_logits(x))  # (N, K-1), P(y > k)
        n = ops.shape(p_gt)[0]
        ones = ops.ones((n, 1), dtype=p_gt.dtype)
        zeros = ops.zeros((n, 1), dtype=p_gt.dtype)
        upper = ops.concatenate([ones, p_gt], axis=1)  # P(y > k - 1)
        lower = ops.concatenate([p_gt, zeros], axis=1)  # P(y > k)
        return ops.log(ops.maximum(upper - lower, 1e-7))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_classes)

    def get_config(self):
        return {**super().get_config(), "n_classes": self.n_classes}


def head(features, n_classes: int, kind: str = "softmax", name: str = "logits"):
    """Attach the output layer: ``softmax`` (a Dense of logits) or ``coral`` (ordinal)."""
    if kind == "softmax":
        return keras.layers.Dense(n_classes, name=name)(features)
    if kind == "coral":
        return CoralHead(n_classes, name=name)(features)
    raise ValueError(f"unknown head {kind!r}; choose one of {HEADS}")
