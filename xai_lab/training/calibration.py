"""Temperature scaling (Guo, Pleiss, Sun & Weinberger, "On calibration of modern neural
networks", ICML 2017): one scalar T > 0 fitted on validation logits by minimising the negative
log-likelihood; calibrated probabilities are softmax(logits / T). It never changes the argmax.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

T_BOUNDS = (0.05, 20.0)


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def fit_temperature(logits: Any, y: Any) -> float:
    """The temperature T minimising the validation NLL of softmax(logits / T).

    Searched on log T in [log 0.05, log 20] (bounded Brent). Returns 1.0 for empty input.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y).astype(np.int64).ravel()
    if z.ndim != 2 or len(z) != len(y):
        raise ValueError(f"logits (N, K) and labels (N,) must match, got {z.shape} and {y.shape}")
    if not len(y):
        return 1.0
    res = minimize_scalar(
        lambda log_t: _nll(z, y, float(np.exp(log_t))),
        bounds=tuple(np.log(T_BOUNDS)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(res.x))


def apply_temperature(logits: Any, temperature: float) -> np.ndarray:
    """Calibrated probabilities softmax(logits / temperature)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
