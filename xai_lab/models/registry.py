"""The model registry: ``build(name, input_shape, n_classes, **options)``.

Every family module registers a builder with :func:`register`. All builders return a
functional Keras 3 model with an explicit ``keras.Input`` of ``input_shape`` (float32 images in
[0, 1]) and one output of LOGITS, shape (N, n_classes). Binary tasks have two logits (softmax),
ordinal ones too output ``n_classes`` scores whose softmax is the class probability.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

_BUILDERS: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: make ``builder(input_shape, n_classes, **options)`` available as ``name``."""

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"a model named {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return decorator


def available() -> list[str]:
    """Names of the registered model families, in registration order."""
    return list(_BUILDERS)


def build(name: str, input_shape: Sequence[int], n_classes: int, **options: Any):
    """Build a fresh model of family ``name``.

    Parameters
    ----------
    name : str
        One of :func:`available` (``dnn``, ``cnn``, ``resnet``, ``rnn``, ``stem_resnet``, ``vit``,
        ``transfer``).
    input_shape : sequence of int
        (H, W, C) of one image; grey images have C = 1.
    n_classes : int
        Number of classes (2 for binary tasks: two logits).
    **options
        Family-specific settings (see each module), e.g. ``head="coral"`` for ordinal tasks.

    Returns
    -------
    keras.Model
        A functional model mapping float32 images in [0, 1] to (N, n_classes) logits.
    """
    if name not in _BUILDERS:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(available())}")
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (H, W, C) with positive sizes, got {tuple(input_shape)}")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be at least 2 (binary tasks use 2 logits), got {n_classes}")
    return _BUILDERS[name](shape, int(n_classes), **options)
