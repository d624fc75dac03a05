"""Probabilities, prediction, and safe saving / loading of models.

The package's models output logits (N, n_classes). A model from elsewhere whose last layer is
a softmax (``Softmax``, ``Activation("softmax")``, ``Dense(..., activation="softmax")``) outputs
probabilities instead: :func:`outputs_probabilities` detects it, and :func:`predict_logits`
then returns the log-probabilities, which are its pre-softmax logits up to a constant per
image. Everything downstream (``probabilities``, ``predict_proba``, temperature scaling, the
argmax, evaluation, the explorer) therefore treats both kinds alike, with no softmax applied
twice. :func:`output_classes` refuses models with several outputs or an output that is not
(N, n_classes).

``save`` writes atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted save never leaves a half-written ``.keras`` file. ``load`` uses Keras'
``safe_mode=True`` by default: a file holding a ``Lambda`` layer (arbitrary Python code) is
refused with an explanation; pass ``safe_mode=False`` (CLI: ``--unsafe``) only for files you
trust.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from .working_set import chunk_size


class ModelFileError(ValueError):
    """A model file is missing, corrupt, unsafe, or not a Keras model."""


class IncompatibleDataError(ValueError):
    """The data's image shape or class count does not fit the model."""


class ModelOutputError(ValueError):
    """The model's output is not one (N, n_classes) tensor of class scores."""


def output_classes(model: Any) -> int:
    """The number of classes of ``model``'s one (N, n_classes) output; a clear error otherwise.

    Raises
    ------
    ModelOutputError
        The model has several outputs (or none), or its output is not 2-D with at least two
        classes (e.g. a segmentation map (N, H, W, K) or a single sigmoid unit).
    """
    outputs = list(getattr(model, "outputs", None) or [])
    shapes = [tuple(o.shape) for o in outputs]
    if not outputs:
        raise ModelOutputError(
            "the model has no defined outputs (a Sequential model without keras.Input that was "
            "never called, or a subclassed model): start it with keras.Input(shape) or wrap it "
            "as keras.Model(inputs, outputs)"
        )
    if len(outputs) != 1:
        raise ModelOutputError(
            f"the model has {len(outputs)} outputs {shapes}; xai-lab needs a classifier with one "
            "output of class scores, shape (N, n_classes)"
        )
    shape = shapes[0]
    if len(shape) != 2 or shape[-1] is None or int(shape[-1]) < 2:
        raise ModelOutputError(
            f"the model's output has shape {shape}; xai-lab needs class scores of shape "
            "(N, n_classes) with at least 2 classes (binary tasks use two outputs)"
        )
    return int(shape[-1])


def outputs_probabilities(model: Any) -> bool:
    """True when ``model`` ends in a softmax, so that its outputs are probabilities, not logits.

    A final ``Softmax`` layer, ``Activation("softmax")`` or a layer with
    ``activation="softmax"`` (``Dense``, ``Conv2D``), also as the last layer of a nested model.
    The package's own models output logits (CORAL heads log-probabilities): False for them.
    """
    layer = _output_layer(model)
    while layer is not None and hasattr(layer, "outputs") and hasattr(layer, "layers"):
        layer = _output_layer(layer)  # a nested model as the last layer: look inside
    if layer is None:
        return False
    if type(layer).__name__ == "Softmax":
        return True
    return _activation_name(getattr(layer, "activation", None)) == "softmax"


def _output_layer(model: Any) -> Any:
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1:
        return None
    history = getattr(outputs[0], "_keras_history", None)
    return history[0] if history else None


def _activation_name(activation: Any) -> str:
    if activation is None:
        return "linear"
    name = getattr(activation, "__name__", None)
    if isinstance(name, str):
        return name
    try:
        import keras

        return str(keras.activations.serialize(activation))
    except (ValueError, TypeError):
        return repr(activation)


def logits_from_outputs(model: Any, outputs: Any) -> np.ndarray:
    """``model``'s raw outputs as logits: log-probabilities for a softmax model, else as they are.

    softmax(log p) = p, and log p differs from the pre-softmax logits only by a constant per
    image, so argmax, softmax and temperature scaling give the same results as on the logits.
    Probabilities of exactly 0 become log of the smallest normal float32 (about -87.3).
    """
    z = np.asarray(outputs, dtype=np.float32)
    if not outputs_probabilities(model):
        return z
    tiny = np.finfo(np.float32).tiny
    return np.log(np.clip(z.astype(np.float64), tiny, None)).astype(np.float32)


def probabilities(logits: Any) -> np.ndarray:
    """Softmax over the last axis (float64-stable), returned as float32 (N, n_classes).

    ``logits`` as :func:`predict_logits` returns them: logits, CORAL log-probabilities, or the
    log-probabilities of a model that ends in a softmax; so this is the class probability for
    all of them (never a second softmax over probabilities).
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, n_classes), got shape {z.shape}")
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def as_input(images: Any) -> np.ndarray:
    """Images as float32 (N, H, W, C) in [0, 1]: uint8 is divided by 255, grey gains an axis."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32, copy=False)
    else:
        raise TypeError(f"images must be uint8 or floating point, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C) or (N, H, W), got shape {np.shape(images)}")
    return x


def predict_logits(model: Any, images: Any, batch_size: int = 256) -> np.ndarray:
    """The model's logits for ``images`` (uint8 or float in [0, 1]), batch by batch, silently.

    A call takes at most ``batch_size`` images, and fewer where the model's largest activation
    would exceed :data:`~xai_lab.models.working_set.WORKING_SET_BYTES` (2 images of 224x224
    under the zoo's cnn), so that memory stays bounded on large images. For a model that ends in
    a softmax these are its log-probabilities (:func:`logits_from_outputs`).
    """
    x = as_input(images)
    n_out = output_classes(model)
    check_fits(model, image_shape=x.shape[1:])
    step = chunk_size(model, x.shape[1:], batch_size)
    outs = [
        np.asarray(model.predict_on_batch(x[i : i + step]), dtype=np.float32)
        for i in range(0, len(x), step)
    ]
    out = np.concatenate(outs) if outs else np.zeros((0, n_out), np.float32)
    return logits_from_outputs(model, out)


def predict_proba(model: Any, images: Any, batch_size: int = 256, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities (N, n_classes) = softmax(logits / temperature).

    For a model that ends in a softmax, its own probabilities (temperature 1) or their
    temperature-scaled version: never a second softmax.
    """
    temperature = float(temperature)
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    return probabilities(predict_logits(model, images, batch_size) / temperature)


def check_fits(model: Any, image_shape: Any = None, n_classes: int | None = None) -> None:
    """Raise :class:`IncompatibleDataError` when images or labels do not fit ``model``.

    Parameters
    ----------
    image_shape : tuple, optional
        (H, W, C) of the data's images.
    n_classes : int, optional
        Number of classes of the data (e.g. ``dataset.n_classes`` or ``labels.max() + 1``).
    """
    expected = tuple(model.inputs[0].shape[1:])
    if image_shape is not None:
        got = tuple(int(d) for d in image_shape)
        if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got, strict=True)):
            raise IncompatibleDataError(
                f"images of shape {got} do not fit the model's input {expected}: use data of the "
                "size the model was trained on (e.g. --size) or resize it (xai_lab.data.resize)"
            )
    if n_classes is not None:
        outputs = output_classes(model)
        if int(n_classes) > outputs:
            raise IncompatibleDataError(
                f"the data has {int(n_classes)} classes but the model outputs {outputs}: "
                "it was trained for another task"
            )


def save(model: Any, path: str | os.PathLike) -> Path:
    """Save ``model`` to a ``.keras`` file atomically; returns the path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model files must end in .keras, got {path.name!r}")
    with atomic_path(path, suffix=".tmp.keras") as tmp:  # Keras insists on the .keras suffix
        model.save(tmp)
    return path


def load(path: str | os.PathLike, safe_mode: bool = True):
    """Load a ``.keras`` model (without its optimizer state).

    Parameters
    ----------
    path : path-like
        A file written by :func:`save` (or ``model.save``).
    safe_mode : bool
        Keep True for files from elsewhere: Keras then refuses to deserialise ``Lambda``
        layers, which can run arbitrary code. Set False (CLI ``--unsafe``) only for files you
        trust.

    Raises
    ------
    ModelFileError
        The file is missing, not a Keras archive, corrupt, or refused by safe mode.
    """
    import keras

    from . import heads, vit  # noqa: F401  (registers the custom layers for deserialisation)

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{str(path)!r} is not a Keras 3 model file (.keras zip archive); it may be corrupt "
            "or truncated: re-save or re-train the model"
        )
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise ModelFileError(
                f"refused to load {str(path)!r}: it contains a Lambda layer, i.e. Python code that "
                "would run on loading, and safe mode is on. Load it with safe_mode=False "
                "(CLI: --unsafe) only if you trust where the file comes from."
            ) from exc
        raise ModelFileError(f"cannot load {str(path)!r}: {text}") from exc
    except (OSError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(
            f"cannot load {str(path)!r}: the file is corrupt or not a Keras model ({type(exc).__name__}: {exc})"
        ) from exc
