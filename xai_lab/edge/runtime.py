"""Running a TensorFlow Lite model like a Keras model: :class:`TFLiteModel`.

A ``.tflite`` file (``xai-lab export``) runs in the LiteRT interpreter
(``ai_edge_litert.interpreter``, the ``ai-edge-litert`` package: ``tf.lite.Interpreter`` is
deprecated since TensorFlow 2.19 and points there). :class:`TFLiteModel` puts it behind the
part of the Keras model interface that the package's forward passes use, so that the same
code scores and explains it:

- ``inputs[0].shape`` / ``outputs[0].shape`` (``(None, H, W, C)`` and ``(None, n_classes)``),
  ``layers`` (none: the interpreter has no Keras layers) and ``name``;
- ``predict_on_batch(x)`` and ``model(x, training=False)``: logits (N, n_classes) for float32
  images in [0, 1]. Called with a TensorFlow tensor (inside a ``tf.function``, as the
  explainers' compiled forward passes do) it runs the interpreter as a ``tf.numpy_function``.

Integer (int8 / uint8) input and output tensors are quantised and de-quantised here with the
scales stored in the file, so a full-integer model takes the same float images as the
float model. The batch size is free: the interpreter's input is resized when it changes.

What it cannot do is give gradients: TensorFlow Lite has no gradient of its operations
(tensorflow issue 58468). Gradient and layer-reading explainers refuse the model (it carries
:attr:`TFLiteModel.forward_only_reason`, which ``xai_lab.explain`` reads); model-agnostic
ones (occlusion, SHAP partition) explain it through forward passes. A gradient asked for
anyway (a ``tf.GradientTape`` around ``model(x)``) raises :class:`NoGradientError`.

The *sidecar* ``NAME.json`` beside ``NAME.tflite`` (written by
:func:`xai_lab.edge.export.export_tflite`) carries what the file does not: the temperature and
decision threshold of the model's calibration, the class names, the task, the quantisation
and its representative set, the converter's version. It records the SHA-256 of the
``.tflite`` it belongs to; a sidecar of another file is refused (its calibration would be
silently wrong).

This module imports only ``models`` (and LiteRT / TensorFlow when used): the evaluate command
(``xai_lab.training.commands``) loads ``.tflite`` files through it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..models.io import IncompatibleDataError, ModelFileError, as_input

#: The interpreter package and the versions tested (see pyproject.toml).
INTERPRETER = "ai-edge-litert"

#: Why a TFLite model cannot be explained by gradient or layer-reading methods.
NO_GRADIENTS = (
    "a TensorFlow Lite interpreter runs forward passes only: TFLite has no gradients "
    "(tensorflow issue 58468, https://github.com/tensorflow/tensorflow/issues/58468) and no "
    "Keras layers to read. Explain it with a model-agnostic method (occlusion, or shap with "
    "algorithm='partition'), or explain the Keras model it was exported from"
)

_FLATBUFFER_ID = b"TFL3"


class NoGradientError(RuntimeError):
    """A gradient was asked of a :class:`TFLiteModel` (TFLite has none: tensorflow#58468)."""


@dataclass(frozen=True)
class TensorInfo:
    """Shape and dtype of a model input or output (what ``keras_tensor.shape`` gives)."""

    shape: tuple[int | None, ...]
    dtype: str


def sidecar_path(path: str | os.PathLike) -> Path:
    """The sidecar JSON of a ``.tflite`` file: same folder, same stem, ``.json``."""
    return Path(path).with_suffix(".json")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_sidecar(path: str | os.PathLike, content: bytes | None = None) -> dict[str, Any]:
    """The sidecar of the ``.tflite`` file ``path`` ({} when there is none).

    Raises
    ------
    ModelFileError
        The sidecar is not a JSON object, or it belongs to another ``.tflite`` file (its
        ``tflite_sha256`` differs from the file's).
    """
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read the sidecar {str(side)!r} of {str(path)!r}: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelFileError(f"the sidecar {str(side)!r} does not hold a JSON object")
    if content is None:
        content = Path(path).read_bytes()
    expected = meta.get("tflite_sha256")
    if expected is not None and expected != sha256(content):
        raise ModelFileError(
            f"the sidecar {str(side)!r} belongs to another .tflite file (its tflite_sha256 "
            f"differs from {Path(path).name}'s): the file was changed or damaged after export, or "
            "the sidecar is stale, and its calibration and class names may be wrong for this file. "
            "Export the model again (xai-lab export)"
        )
    return meta


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Keep the converter's and interpreter's log lines out of the caller's output: C++ lines
    written to file descriptors 1 and 2 (which Jupyter copies into cell outputs), Python prints,
    and TensorFlow's INFO log ("Assets written to ...")."""
    import logging

    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    saved = []
    with tempfile.TemporaryFile() as sink:
        try:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
        except OSError:  # pragma: no cover - no file descriptors to redirect
            pass
        try:
            for logger in loggers:
                logger.setLevel(logging.WARNING)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError(
            "running .tflite models needs the LiteRT interpreter: pip install ai-edge-litert"
        ) from exc
    return Interpreter


class TFLiteModel:
    """A ``.tflite`` image classifier that the package can score and explain like a Keras model.

    Parameters
    ----------
    path : path-like
        A ``.tflite`` file with one (N, H, W, C) image input and one (N, n_classes) output of
        logits (what ``xai-lab export`` writes for a model of the zoo).
    num_threads : int, optional
        Interpreter threads (default: LiteRT's choice). The latency benchmark uses 1.

    Raises
    ------
    ModelFileError
        Before any work: the file is missing, not a TFLite flatbuffer (corrupt, truncated,
        another format), refused by the interpreter (e.g. TensorFlow ops it cannot run), not an
        image classifier of that shape, or its sidecar belongs to another file.

    Attributes
    ----------
    metadata : dict
        The sidecar (empty when there is none): ``label_names``, ``temperature``,
        ``threshold``, ``task``, ``quantize``, ...
    forward_only_reason : str
        Why gradient and layer-reading explainers refuse this model (tensorflow issue 58468).
    """

    forward_only_reason = NO_GRADIENTS

    def __init__(self, path: str | os.PathLike, *, num_threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"model file {str(self.path)!r} does not exist")
        content = self.path.read_bytes()
        if len(content) < 8 or content[4:8] != _FLATBUFFER_ID:
            raise ModelFileError(
                f"{str(self.path)!r} is not a TensorFlow Lite model (no 'TFL3' flatbuffer "
                "identifier): it is corrupt, truncated or another kind of file. Export it again "
                "with xai-lab export --format tflite"
            )
        self.metadata = read_sidecar(self.path, content)
        self.size_bytes = len(content)
        self.sha256 = sha256(content)
        self.num_threads = num_threads
        Interpreter = _interpreter_class()
        try:
            with quiet_native_output():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
                self._interpreter = Interpreter(model_content=content, num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(
                f"the LiteRT interpreter cannot run {str(self.path)!r}: {_first_line(exc)}. The "
                "file may be truncated or corrupt, or hold operations this interpreter lacks "
                "(TensorFlow 'flex' ops): export it again with xai-lab export"
            ) from exc
        ins = self._interpreter.get_input_details()
        outs = self._interpreter.get_output_details()
        if len(ins) != 1 or len(outs) != 1:
            raise ModelFileError(
                f"{str(self.path)!r} has {len(ins)} inputs and {len(outs)} outputs; an image "
                "classifier here has one (N, H, W, C) input and one (N, n_classes) output"
            )
        self._in, self._out = ins[0], outs[0]
        in_shape = [int(d) for d in self._in.get("shape_signature", self._in["shape"])]
        out_shape = [int(d) for d in self._out.get("shape_signature", self._out["shape"])]
        if len(in_shape) != 4 or any(d < 1 for d in in_shape[1:]) or len(out_shape) != 2 or out_shape[1] < 1:
            raise ModelFileError(
                f"{str(self.path)!r} takes {tuple(in_shape)} and gives {tuple(out_shape)}; an image "
                "classifier here takes (N, H, W, C) images of a fixed size and gives (N, n_classes)"
            )
        self.inputs = [TensorInfo((None, *in_shape[1:]), np.dtype(self._in["dtype"]).name)]
        self.outputs = [TensorInfo((None, out_shape[1]), np.dtype(self._out["dtype"]).name)]
        self.name = self.path.stem
        self._batch = int(self._in["shape"][0])
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ description
    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.inputs[0].shape[1:])
        return (
            f"TFLiteModel({self.path.name!r}, {self.precision}, input {shape}, "
            f"{self.n_classes} classes, {self.size_bytes / 1024:.0f} KiB)"
        )

    @property
    def layers(self) -> list[Any]:
        """No Keras layers: the interpreter's graph is not a Keras model."""
        return []

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(H, W, C) of the images the model takes."""
        return tuple(int(d) for d in self.inputs[0].shape[1:])

    @property
    def n_classes(self) -> int:
        return int(self.outputs[0].shape[1])

    @property
    def label_names(self) -> list[str]:
        """Class names from the sidecar (``class 0``, ``class 1``, ... without one)."""
        names = self.metadata.get("label_names")
        if isinstance(names, list) and len(names) == self.n_classes:
            return [str(n) for n in names]
        return [f"class {k}" for k in range(self.n_classes)]

    @property
    def precision(self) -> str:
        """``float32``, ``float16``, ``dynamic`` or ``int8``: the sidecar's ``quantize``, else
        read from the tensor types (int8 input: ``int8``; float16 weights: ``float16``; int8
        weights with float input: ``dynamic``)."""
        recorded = self.metadata.get("quantize")
        if isinstance(recorded, str):
            return recorded
        if self.inputs[0].dtype in ("int8", "uint8"):
            return "int8"
        types = {np.dtype(t["dtype"]).name for t in self._interpreter.get_tensor_details()}
        if "float16" in types:
            return "float16"
        if "int8" in types:
            return "dynamic"
        return "float32"

    # ------------------------------------------------------------------ forward passes
    def predict_on_batch(self, images: Any) -> np.ndarray:
        """Logits (N, n_classes) float32 of ``images`` (float in [0, 1] or uint8 (N, H, W, C))."""
        x = as_input(images)
        if tuple(x.shape[1:]) != self.input_shape:
            raise IncompatibleDataError(
                f"images of shape {tuple(x.shape[1:])} do not fit the model's input "
                f"{self.input_shape} ({self.path.name}): use data of the size the model was "
                "exported for or resize it (xai_lab.data.resize)"
            )
        if len(x) == 0:
            return np.zeros((0, self.n_classes), np.float32)
        with self._lock:
            interpreter = self._interpreter
            if len(x) != self._batch:
                interpreter.resize_tensor_input(self._in["index"], [len(x), *self.input_shape])
                interpreter.allocate_tensors()
                self._batch = len(x)
            interpreter.set_tensor(self._in["index"], _quantise(x, self._in))
            interpreter.invoke()
            y = interpreter.get_tensor(self._out["index"])
            return _dequantise(y, self._out)

    def predict(self, images: Any, batch_size: int = 256, verbose: Any = 0) -> np.ndarray:
        """Logits of any number of images, ``batch_size`` per interpreter call."""
        x = as_input(images)
        outs = [self.predict_on_batch(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0, self.n_classes), np.float32)

    def __call__(self, x: Any, training: bool = False) -> Any:
        """Logits of ``x``: a NumPy array for NumPy input, a TensorFlow tensor for a tensor.

        For a tensor (inside a ``tf.function``) the interpreter runs as a ``tf.numpy_function``
        whose gradient raises :class:`NoGradientError` (tensorflow issue 58468).
        """
        import tensorflow as tf

        if not tf.is_tensor(x):
            return self.predict_on_batch(x)
        return _tensor_forward()(self, x)


@functools.cache
def _tensor_forward() -> Any:
    """``(model, tensor) -> logits tensor`` running the interpreter as a ``tf.numpy_function``
    with a gradient that raises :class:`NoGradientError` (eagerly as itself; inside a
    ``tf.function`` TensorFlow re-raises it as a ``StagingError`` whose message names it)."""
    import tensorflow as tf

    @tf.autograph.experimental.do_not_convert
    def forward(model: TFLiteModel, x: Any) -> Any:
        @tf.custom_gradient
        def run(t: Any) -> Any:
            y = tf.numpy_function(model.predict_on_batch, [t], tf.float32, stateful=True)
            y = tf.ensure_shape(y, (None, model.n_classes))

            def gradient(upstream: Any) -> Any:
                raise NoGradientError(model.forward_only_reason)

            return y, gradient

        return run(tf.cast(x, tf.float32))

    return forward


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _quantise(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float images as the input tensor's dtype (int8 / uint8 with its scale and zero point)."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return np.ascontiguousarray(x, np.float32)
    if dtype.kind in "iu":
        scale, zero = detail["quantization"]
        info = np.iinfo(dtype)
        q = np.round(x / float(scale)) + int(zero)
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _dequantise(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """The output tensor as float32 (integer outputs de-quantised with their scale)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "iu":
        scale, zero = detail["quantization"]
        return ((y.astype(np.float32) - float(zero)) * float(scale)).astype(np.float32)
    return np.array(y, dtype=np.float32)


def load_tflite(path: str | os.PathLike, num_threads: int | None = None) -> TFLiteModel:
    """Load a ``.tflite`` image classifier (see :class:`TFLiteModel`)."""
    return TFLiteModel(path, num_threads=num_threads)
