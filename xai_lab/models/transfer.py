"""``transfer``: a keras.applications backbone (MobileNetV2 or EfficientNetB0) with a new head.

MobileNetV2: Sandler et al., CVPR 2018. EfficientNet: Tan & Le, ICML 2019. ImageNet weights
(Deng et al., CVPR 2009) are used when they can be obtained: already in the Keras cache, or
downloadable (not when ``XAI_LAB_OFFLINE=1``). Otherwise the backbone is randomly initialised
and a :class:`TransferWeightsWarning` says so: such a model is a plain (large) CNN trained
from scratch, not transfer learning.

The model takes float32 images in [0, 1] like every model here; the backbone's own input
scaling lives inside the model ("backbone_scale"), grey images are repeated to three
channels ("to_rgb") and images smaller than ``min_size`` (32 px, the backbones' minimum)
are upsampled ("upsample").
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Sequence
from pathlib import Path

import keras

from .. import config
from .heads import head as _head
from .registry import register

MIN_SIZE = 32
_BACKBONES = {
    # name: (constructor name, scale, offset) mapping [0, 1] to the backbone's expected input
    "mobilenetv2": ("MobileNetV2", 2.0, -1.0),  # expects [-1, 1]
    "efficientnetb0": ("EfficientNetB0", 255.0, 0.0),  # rescales [0, 255] itself
}
DOWNLOAD_TIMEOUT_S = 20.0


class TransferWeightsWarning(UserWarning):
    """ImageNet weights were not available: the backbone is randomly initialised."""


def _cached_weights(constructor: str) -> bool:
    """True when Keras' download cache (~/.keras/models) already holds the no-top weights."""
    folder = Path.home() / ".keras" / "models"
    prefix = {"MobileNetV2": "mobilenet_v2_weights", "EfficientNetB0": "efficientnetb0_notop"}[constructor]
    return folder.is_dir() and any(
        f.name.startswith(prefix) and ("no_top" in f.name or "notop" in f.name) for f in folder.iterdir()
    )


def _backbone(constructor: str, shape: tuple[int, int, int], weights: str | None, **kwargs):
    factory = getattr(keras.applications, constructor)
    if weights == "imagenet":
        reason = None
        if config.offline() and not _cached_weights(constructor):
            reason = "XAI_LAB_OFFLINE=1 forbids downloads and no cached copy was found"
        else:
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
            try:
                return factory(include_top=False, weights="imagenet", input_shape=shape, pooling="avg", **kwargs)
            except Exception as exc:  # noqa: BLE001  keras.utils.get_file raises a plain Exception
                reason = f"download failed ({type(exc).__name__}: {exc})"
            finally:
                socket.setdefaulttimeout(previous)
        warnings.warn(
            f"ImageNet weights for {constructor} are not available ({reason}); the backbone is "
            "randomly initialised, so this is NOT transfer learning. Run once with network access "
            "(unset XAI_LAB_OFFLINE) to cache the weights in ~/.keras/models.",
            TransferWeightsWarning,
            stacklevel=3,
        )
    elif weights is not None:
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    return factory(include_top=False, weights=None, input_shape=shape, pooling="avg", **kwargs)


@register("transfer")
def build(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    backbone: str = "mobilenetv2",
    weights: str | None = "imagenet",
    alpha: float = 0.35,
    min_size: int = MIN_SIZE,
    trainable: bool = True,
    dropout: float = 0.2,
    head: str = "softmax",
) -> keras.Model:
    """Backbone + Dropout + logits.

    Parameters
    ----------
    backbone : {"mobilenetv2", "efficientnetb0"}
        The keras.applications network.
    weights : {"imagenet", None}
        ImageNet weights when available (else a warning and random weights), or None.
    alpha : float
        MobileNetV2 width multiplier (ImageNet weights exist for 0.35, 0.5, 0.75, 1.0, 1.3, 1.4).
    min_size : int
        Images smaller than this are upsampled (bilinear) to it; at least 32.
    trainable : bool
        False freezes the backbone (only the head trains).
    dropout : float
        Dropout before the output layer.
    head : {"softmax", "coral"}
        Output head (see :mod:`xai_lab.models.heads`).
    """
    key = backbone.lower()
    if key not in _BACKBONES:
        raise ValueError(f"backbone must be one of {sorted(_BACKBONES)}, got {backbone!r}")
    constructor, scale, offset = _BACKBONES[key]
    h, w, c = (int(d) for d in input_shape)
    if c not in (1, 3):
        raise ValueError(f"transfer models need grey (1) or RGB (3) images, got {c} channels")
    size = max(int(min_size), MIN_SIZE)
    inputs = keras.Input(shape=(h, w, c), name="image")
    x = inputs
    if c == 1:
        x = keras.layers.Concatenate(axis=-1, name="to_rgb")([x, x, x])
    if h < size or w < size:
        x = keras.layers.Resizing(max(h, size), max(w, size), interpolation="bilinear", name="upsample")(x)
    x = keras.layers.Rescaling(scale, offset=offset, name="backbone_scale")(x)
    kwargs = {"alpha": alpha} if constructor == "MobileNetV2" else {}
    with warnings.catch_warnings():
        # keras warns that ImageNet weights for non-standard sizes use the 224 px weights
        warnings.filterwarnings("ignore", message=".*input_shape.*", category=UserWarning)
        base = _backbone(constructor, tuple(int(d) for d in x.shape[1:]), weights, **kwargs)
    base.trainable = bool(trainable)
    x = base(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = _head(x, n_classes, head)
    return keras.Model(inputs, outputs, name=f"transfer_{key}")
