"""A two-layer network in numpy: forward pass, backpropagation, gradient descent, and its Keras twin.

Notebook 02 writes the same forward and backward pass in a cell and asserts that its gradients
equal these and Keras' automatic differentiation (Rumelhart, Hinton & Williams, 1986).

The network: ``h = act(x W1 + b1)``, ``logits = h W2 + b2``, loss = mean softmax cross-entropy.

References
----------
.. [1] D. E. Rumelhart, G. E. Hinton and R. J. Williams, "Learning representations by
   back-propagating errors", Nature 323, 533-536, 1986.
.. [2] I. Goodfellow, Y. Bengio and A. Courville, *Deep Learning*, MIT Press 2016, ch. 6.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Params = dict[str, np.ndarray]
ACTIVATIONS = ("tanh", "sigmoid", "relu")


def two_moons(n: int = 200, noise: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (``n`` points each), a problem no single neuron solves."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, size=n)
    upper = np.c_[np.cos(t), np.sin(t)]
    lower = np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
    x = np.vstack([upper, lower]) + rng.normal(scale=noise, size=(2 * n, 2))
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(np.float64), np.r_[np.zeros(n, np.int64), np.ones(n, np.int64)]


def init_mlp(n_in: int = 2, n_hidden: int = 8, n_out: int = 2, seed: int = 0) -> Params:
    """Glorot-uniform weights and zero biases (Glorot & Bengio, 2010), float64."""
    rng = np.random.default_rng(seed)

    def glorot(a: int, b: int) -> np.ndarray:
        limit = np.sqrt(6.0 / (a + b))
        return rng.uniform(-limit, limit, size=(a, b))

    return {"W1": glorot(n_in, n_hidden), "b1": np.zeros(n_hidden),
            "W2": glorot(n_hidden, n_out), "b2": np.zeros(n_out)}  # fmt: skip


def _act(z: np.ndarray, activation: str) -> np.ndarray:
    if activation == "tanh":
        return np.tanh(z)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if activation == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")


def _act_grad(z: np.ndarray, h: np.ndarray, activation: str) -> np.ndarray:
    if activation == "tanh":
        return 1.0 - h**2
    if activation == "sigmoid":
        return h * (1.0 - h)
    return (z > 0).astype(z.dtype)


def forward(params: Params, x: np.ndarray, activation: str = "tanh") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Logits (N, K) and the intermediate values backpropagation needs."""
    z1 = x @ params["W1"] + params["b1"]
    h = _act(z1, activation)
    logits = h @ params["W2"] + params["b2"]
    return logits, {"x": x, "z1": z1, "h": h}


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient with respect to the logits: ``(p - onehot) / N``."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(y)
    loss = float(-logp[np.arange(n), y].mean())
    d = np.exp(logp)
    d[np.arange(n), y] -= 1.0
    return loss, d / n


def backward(params: Params, cache: dict[str, np.ndarray], dlogits: np.ndarray, activation: str = "tanh") -> Params:
    """Gradients of the loss for every parameter, by the chain rule, layer by layer backwards."""
    h = cache["h"]
    grads = {"W2": h.T @ dlogits, "b2": dlogits.sum(axis=0)}
    dh = dlogits @ params["W2"].T
    dz1 = dh * _act_grad(cache["z1"], h, activation)
    grads["W1"] = cache["x"].T @ dz1
    grads["b1"] = dz1.sum(axis=0)
    return grads


def loss_and_grads(params: Params, x: np.ndarray, y: np.ndarray, activation: str = "tanh") -> tuple[float, Params]:
    """The loss and its gradients (forward, loss, backward)."""
    logits, cache = forward(params, x, activation)
    loss, dlogits = cross_entropy(logits, y)
    return loss, backward(params, cache, dlogits, activation)


def numerical_grads(params: Params, x: np.ndarray, y: np.ndarray, activation: str = "tanh",
                    eps: float = 1e-6) -> Params:  # fmt: skip
    """Central finite differences of the loss (slow; for checking backpropagation)."""
    grads = {}
    for key, value in params.items():
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + eps
            up = cross_entropy(forward(params, x, activation)[0], y)[0]
            value[idx] = old - eps
            down = cross_entropy(forward(params, x, activation)[0], y)[0]
            value[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads[key] = g
    return grads


def gradient_descent(params: Params, x: np.ndarray, y: np.ndarray, lr: float = 0.5, steps: int = 200,
                     activation: str = "tanh") -> tuple[Params, np.ndarray]:  # fmt: skip
    """Full-batch gradient descent; returns the new parameters and the loss before each step.

    The input parameters are not changed. A diverging run stops at the first non-finite loss
    (the remaining losses are NaN).
    """
    p = {k: v.copy() for k, v in params.items()}
    losses = np.full(int(steps), np.nan)
    for t in range(int(steps)):
        loss, grads = loss_and_grads(p, x, y, activation)
        if not np.isfinite(loss):
            break
        losses[t] = loss
        for k in p:
            p[k] -= lr * grads[k]
    return p, losses


def accuracy(params: Params, x: np.ndarray, y: np.ndarray, activation: str = "tanh") -> float:
    return float(np.mean(forward(params, x, activation)[0].argmax(axis=1) == y))


# ------------------------------------------------------------------ the Keras twin
def keras_twin(params: Params, activation: str = "tanh") -> Any:
    """A new Keras model computing the same function, with copies of ``params`` as its weights."""
    import keras

    n_in, n_hidden = params["W1"].shape
    n_out = params["W2"].shape[1]
    inputs = keras.Input((n_in,), dtype="float64")
    h = keras.layers.Dense(n_hidden, activation=activation, dtype="float64", name="hidden")(inputs)
    logits = keras.layers.Dense(n_out, dtype="float64", name="logits")(h)
    model = keras.Model(inputs, logits, name="two_layer_net")
    model.get_layer("hidden").set_weights([params["W1"], params["b1"]])
    model.get_layer("logits").set_weights([params["W2"], params["b2"]])
    return model


def keras_loss_and_grads(model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
    """The loss and its gradients from automatic differentiation (``tf.GradientTape``), float64."""
    import tensorflow as tf

    xt = tf.constant(x, dtype=tf.float64)
    with tf.GradientTape() as tape:
        logits = model(xt, training=False)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(y), logits))
    hidden, out = model.get_layer("hidden"), model.get_layer("logits")
    variables = [hidden.kernel, hidden.bias, out.kernel, out.bias]
    grads = tape.gradient(loss, variables)
    return float(loss), {k: np.asarray(g) for k, g in zip(("W1", "b1", "W2", "b2"), grads, strict=True)}


def max_difference(a: Params, b: Params) -> float:
    """The largest absolute difference between two sets of gradients."""
    if set(a) != set(b):
        raise ValueError(f"different parameters: {sorted(a)} vs {sorted(b)}")
    return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)
