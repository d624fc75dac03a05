"""Exporting a trained Keras model to TensorFlow Lite, optionally quantised, with a sidecar.

The converter is TensorFlow's own ``tf.lite.TFLiteConverter`` (maintained in TensorFlow 2.21,
whose release notes list new ``tf.lite`` converter and kernel features); the files run in the
LiteRT interpreter of ``ai-edge-litert`` (:mod:`xai_lab.edge.runtime`), which has replaced the
deprecated ``tf.lite.Interpreter``. Only TFLite builtin operations are allowed: the LiteRT
interpreter runs no TensorFlow ("flex") ops, so a model using one is refused here with the
layer named, not later on the device.

Quantisation (``quantize``):

``None`` / ``"float32"``
    Float32 weights and activations: the Keras model's numbers, about 4 bytes per weight.
``"float16"``
    Float16 weights (half the file); computed in float32 on CPUs without float16 arithmetic.
``"dynamic"``
    Int8 weights, float activations quantised on the fly (dynamic-range quantisation).
``"int8"``
    Full-integer quantisation (Jacob et al. 2018): int8 weights (per channel) and activations,
    int8 input and output tensors. Activation ranges come from a *representative set* of
    training images (never validation or test images: those would leak into the model);
    ``xai-lab export`` draws it from the training split of the model's dataset. For uint8
    images the int8 input (scale 1/255, zero point -128 when the set spans black to white)
    is exact; :class:`~xai_lab.edge.runtime.TFLiteModel` quantises float inputs and
    de-quantises the logits with the scales stored in the file.

The sidecar ``NAME.json`` (written after ``NAME.tflite``, both atomically) holds the keys of
``calibration.json`` (``temperature``, ``threshold``, ``task``, ``dataset``, ``n_classes``,
``label_names``), so that ``xai-lab evaluate --model NAME.tflite`` applies the same
calibration as for the Keras model, plus ``quantize``, ``input`` / ``output`` (dtype, scale,
zero point), ``representative`` (where the set came from, how many images, the seed),
``check`` (the exported model against the Keras model on those images: largest logit
difference and top-class agreement), ``source_model`` (path and SHA-256), ``converter``,
``interpreter``, ``tflite_sha256`` and ``size_bytes``.

References
----------
Jacob, B., Kligys, S., Chen, B., Zhu, M., Tang, M., Howard, A., Adam, H. & Kalenichenko, D.
(2018). Quantization and training of neural networks for efficient integer-arithmetic-only
inference. CVPR. https://arxiv.org/abs/1712.05877
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..models.io import IncompatibleDataError, ModelFileError
from .runtime import INTERPRETER, TFLiteModel, quiet_native_output, sha256, sidecar_path

#: Accepted values of ``quantize`` (``None`` means ``"float32"``).
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
#: Images in the representative set by default (TFLite's guide suggests a few hundred).
N_REPRESENTATIVE = 200
#: Images the exported file is checked on when no representative set is given.
N_CHECK = 32
#: Keys of ``calibration.json`` copied into the sidecar.
CALIBRATION_KEYS = ("temperature", "threshold", "threshold_rule", "fitted_on", "task", "dataset",
                    "n_classes", "label_names")


class ConversionError(ValueError):
    """The TFLite converter cannot take the model (the message names the layer and the op)."""


@dataclass
class ExportResult:
    """What :func:`export_tflite` wrote and measured.

    Attributes
    ----------
    path, sidecar : Path
        The ``.tflite`` file and its JSON sidecar.
    quantize : str
        ``float32``, ``float16``, ``dynamic`` or ``int8``.
    size_bytes : int
        Size of the ``.tflite`` file.
    n_representative : int
        Images in the representative set (0 unless ``int8``).
    check : dict
        ``n`` images, ``max_abs_logit_difference`` and ``top_class_agreement`` of the
        exported model against the Keras model.
    seconds : float
        Conversion and check time.
    metadata : dict
        The sidecar's content.
    """

    path: Path
    sidecar: Path
    quantize: str
    size_bytes: int
    n_representative: int
    check: dict[str, Any]
    seconds: float
    metadata: dict[str, Any] = field(repr=False, default_factory=dict)


def normalise_quantize(quantize: str | None) -> str:
    """``None`` / ``"none"`` -> ``"float32"``; other values must be in :data:`QUANTIZATIONS`."""
    q = "float32" if quantize in (None, "none") else str(quantize)
    if q not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)} (or None), got {quantize!r}")
    return q


def _tensorflow_version() -> str:
    import tensorflow as tf

    return str(tf.__version__)


def _version(package: str) -> str:
    try:
        return importlib_metadata.version(package)
    except importlib_metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


# ------------------------------------------------------------------------------ conversion
def convert(model: Any, quantize: str | None = None, representative: Any = None) -> bytes:
    """The ``.tflite`` flatbuffer of a Keras ``model`` (nothing is written).

    Parameters
    ----------
    model : keras.Model
        One (N, H, W, C) image input, one (N, n_classes) output. It is not modified.
    quantize : {None, "float32", "float16", "dynamic", "int8"}
    representative : array, optional
        uint8 or [0, 1] float images (N, H, W, C) from the *training* split; required for
        ``int8``.

    Raises
    ------
    ConversionError
        The converter cannot take a layer (named in the message with its TensorFlow op).
    ValueError
        ``int8`` without representative images.
    """
    import tensorflow as tf

    from ..models.io import as_input

    q = normalise_quantize(quantize)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if q != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if q == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if q == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError(
                "int8 quantisation needs a representative set of training images (their "
                "activation ranges set the int8 scales): pass representative=..."
            )
        images = spanning_input_range(as_input(representative))

        def dataset() -> Iterator[list[np.ndarray]]:
            for image in images:
                yield [image[None]]

        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with quiet_native_output(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Statistics for quantized inputs")
            return converter.convert()
    except Exception as exc:  # the converter raises ConverterError and assorted others
        if type(exc).__name__ not in ("ConverterError", "ValueError", "RuntimeError"):
            raise
        raise ConversionError(_explain_conversion_error(model, str(exc))) from exc


def spanning_input_range(images: np.ndarray) -> np.ndarray:
    """The representative images with one pixel of the first set to 0 and one to 1.

    The converter takes the int8 input's scale from the smallest and largest pixel of the
    representative set; a set without a pure black or white pixel would give a scale that
    clips brighter inputs on the device. With the set spanning [0, 1] the input scale is 1/255
    and the zero point -128: every uint8 grey level has its own int8 code. Two pixels of one
    image barely move the ranges of the layers inside.
    """
    out = np.array(images, dtype=np.float32, copy=True)
    flat = out[0].reshape(-1)
    flat[0], flat[-1] = 0.0, 1.0
    return out


_OP_PATTERN = re.compile(r"'(tf\.[A-Za-z0-9_]+)' op is neither a custom op nor a flex op")


def _explain_conversion_error(model: Any, text: str) -> str:
    """Name the layers and TensorFlow ops of a converter error (from its MLIR locations)."""
    from ..models.working_set import leaf_layers

    ops = sorted(set(_OP_PATTERN.findall(text)))
    culprits = []
    for layer in leaf_layers(model):
        pattern = rf"/{re.escape(layer.name)}(_\d+)?/"
        if re.search(pattern, text) and layer.name not in [n for n, _ in culprits]:
            culprits.append((layer.name, type(layer).__name__))
    first = next((line.strip() for line in text.splitlines() if "error" in line.lower()), "")
    if culprits:
        named = ", ".join(f"{name!r} ({kind})" for name, kind in culprits)
        what = f" uses TensorFlow op(s) {', '.join(ops)}," if ops else ""
        return (
            f"the TFLite converter cannot take layer {named} of model {model.name!r}: it{what} "
            "which TFLite has no builtin kernel for (and the LiteRT interpreter runs no "
            "TensorFlow 'flex' ops). Replace that layer with TFLite-compatible operations, or "
            "keep this model in Keras"
        )
    if ops:
        return (
            f"the TFLite converter cannot take model {model.name!r}: TensorFlow op(s) "
            f"{', '.join(ops)} have no TFLite builtin kernel (and the LiteRT interpreter runs no "
            "'flex' ops)"
        )
    return f"the TFLite converter failed on model {model.name!r}: {first or text[:500]}"


# ------------------------------------------------------------------------------ export
def export_tflite(
    model: Any,
    out: str | os.PathLike,
    quantize: str | None = None,
    *,
    representative: Any = None,
    check_images: Any = None,
    calibration: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    seed: int = 0,
) -> ExportResult:
    """Convert ``model``, check the result against it, write ``out`` and its sidecar atomically.

    Parameters
    ----------
    model : keras.Model
        The float model (not modified).
    out : path-like
        The ``.tflite`` file to write; the sidecar is ``out`` with ``.json``.
    quantize : {None, "float32", "float16", "dynamic", "int8"}
    representative : array, optional
        Training images for ``int8`` (see :func:`convert`); also the check images.
    check_images : array, optional
        Images to compare the exported model with the Keras model on (default: the
        representative set, else :data:`N_CHECK` seeded uniform-noise images).
    calibration : dict, optional
        The model's ``calibration.json`` (temperature, threshold, task, class names, ...).
    provenance : dict, optional
        Extra sidecar entries (``source_model``, ``representative`` description).
    seed : int
        Seed of the noise check images.

    Returns
    -------
    ExportResult
    """
    from .. import models as zoo

    out = Path(out)
    if out.suffix != ".tflite":
        raise ValueError(f"the output file must end in .tflite, got {out.name!r}")
    q = normalise_quantize(quantize)
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4 or len(model.outputs) != 1:
        raise ModelFileError(
            f"model {model.name!r} is not an image classifier with one (N, H, W, C) input and one "
            "(N, n_classes) output; only those are exported"
        )
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    if representative is not None:
        representative = zoo.as_input(representative)
        zoo.check_fits(model, image_shape=representative.shape[1:])
    if check_images is not None:
        check_images = zoo.as_input(check_images)
        zoo.check_fits(model, image_shape=check_images.shape[1:])
    start = time.perf_counter()
    content = convert(model, q, representative if q == "int8" else None)
    if check_images is None:
        check_images = representative
    if check_images is None:
        rng = np.random.default_rng(seed)
        check_images = rng.random((N_CHECK, *shape), dtype=np.float32)
    with atomic_path(out, suffix=".tmp.tflite") as tmp:
        tmp.write_bytes(content)
        with quiet_native_output():
            exported = TFLiteModel(tmp)
        check = _check(model, exported, check_images)
        side = sidecar_path(out)
        meta = _sidecar(content, q, exported, calibration, provenance, check, representative)
        # the sidecar is written after the model is in place; it names the model's hash, so a
        # sidecar left from an earlier export is recognised as another file's
    with atomic_path(side) as tmp_side:
        tmp_side.write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return ExportResult(
        path=out,
        sidecar=side,
        quantize=q,
        size_bytes=len(content),
        n_representative=0 if q != "int8" else len(representative),
        check=check,
        seconds=time.perf_counter() - start,
        metadata=meta,
    )


def _check(model: Any, exported: TFLiteModel, images: Any) -> dict[str, Any]:
    from .. import models as zoo

    reference = zoo.predict_logits(model, images)
    got = zoo.predict_logits(exported, images)
    return {
        "n": int(len(reference)),
        "max_abs_logit_difference": float(np.max(np.abs(got - reference))) if len(got) else None,
        "top_class_agreement": float(np.mean(got.argmax(1) == reference.argmax(1))) if len(got) else None,
    }


def _tensor(detail: dict[str, Any]) -> dict[str, Any]:
    scale, zero = detail["quantization"]
    quantised = np.dtype(detail["dtype"]).kind in "iu"
    return {
        "dtype": np.dtype(detail["dtype"]).name,
        "scale": float(scale) if quantised else None,
        "zero_point": int(zero) if quantised else None,
    }


def _sidecar(
    content: bytes,
    quantize: str,
    exported: TFLiteModel,
    calibration: dict[str, Any] | None,
    provenance: dict[str, Any] | None,
    check: dict[str, Any],
    representative: Any,
) -> dict[str, Any]:
    from ..training.recipes import jsonable

    cal = {k: calibration[k] for k in CALIBRATION_KEYS if calibration and k in calibration}
    meta: dict[str, Any] = {
        "format": "tflite",
        "quantize": quantize,
        **cal,
        "n_classes": exported.n_classes,
        "input_shape": list(exported.input_shape),
        "input": _tensor(exported._in),
        "output": {**_tensor(exported._out), "meaning": "logits"},
        "representative": None,
        "check": check,
        "converter": f"tf.lite.TFLiteConverter (tensorflow {_tensorflow_version()})",
        "interpreter": f"{INTERPRETER} {_version(INTERPRETER)}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "size_bytes": len(content),
        "tflite_sha256": sha256(content),
    }
    if quantize == "int8":
        meta["representative"] = {"n": int(len(representative))}
    for key, value in (provenance or {}).items():
        if key == "representative" and meta["representative"] is not None:
            meta["representative"].update(value)
        elif key != "representative":
            meta[key] = value
    return jsonable(meta)


# ------------------------------------------------------------------------------ from files
def representative_images(
    source: str | os.PathLike,
    image_shape: tuple[int, ...],
    n: int = N_REPRESENTATIVE,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, str]:
    """``n`` training images for int8 calibration and a description of where they came from.

    ``source`` is a dataset name (its ``train`` split, at the model's size), a MedMNIST-style
    ``.npz`` file (its ``train_images``), or a folder of class sub-folders (its ``train/``
    sub-folder when it has one, as in the Kaggle chest X-ray layout). ``n`` images are drawn at
    random (``seed``) when there are more.
    """
    from .. import data

    height, width, channels = image_shape
    path = Path(source)
    rng = np.random.default_rng(seed)
    if path.is_dir():
        root = path / "train" if (path / "train").is_dir() else path
        ds = data.load_image_folder(root, size=height, channels=channels, limit=n, seed=seed,
                                    split="train", cache=False)
        images, where = ds.images, f"image folder {root}"
    elif path.suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"calibration file {path} does not exist")
        images, _ = data.read_npz_split(path, "train")
        where = f"{path} train split"
    else:
        ds = data.load(str(source), "train", size=height, data_dir=data_dir)
        images, where = ds.images, f"{source} train split ({ds.source})"
    if len(images) == 0:
        raise ValueError(f"no images for the representative set in {where}")
    if images.shape[1:3] != (height, width):
        images = data.resize(images, (height, width))
    if images.shape[-1] != channels:
        raise IncompatibleDataError(
            f"the representative images from {where} have {images.shape[-1]} channels but the "
            f"model takes {channels}"
        )
    if len(images) > n:
        images = images[np.sort(rng.choice(len(images), n, replace=False))]
    return images, where


def export_model_file(
    model_path: str | os.PathLike,
    out: str | os.PathLike,
    quantize: str | None = None,
    *,
    calibration_data: str | os.PathLike | None = None,
    n_representative: int = N_REPRESENTATIVE,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    safe_mode: bool = True,
) -> ExportResult:
    """What ``xai-lab export`` does: load ``DIR/model.keras`` and export it (see :func:`export_tflite`).

    The calibration (``calibration.json`` beside the model) goes into the sidecar. For
    ``int8`` the representative set comes from ``calibration_data`` (dataset name, ``.npz``
    or folder; see :func:`representative_images`), by default the ``train`` split of the
    dataset named in ``calibration.json``.
    """
    from .. import models as zoo

    q = normalise_quantize(quantize)
    out = Path(out)
    if out.suffix != ".tflite":
        raise ValueError(f"the output file must end in .tflite, got {out.name!r}")
    if n_representative < 1:
        raise ValueError(f"the representative set needs at least one image, got {n_representative}")
    model_path = Path(model_path)
    model = zoo.load(model_path, safe_mode=safe_mode)
    calibration = _read_json(model_path.with_name("calibration.json"))
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    source = calibration_data or (calibration.get("dataset") if q == "int8" else None)
    if q == "int8" and not source:
        raise ValueError(
            f"int8 quantisation needs representative training images and {model_path.parent} has "
            "no calibration.json naming the dataset: pass --calibration DATASET|FOLDER|FILE.npz"
        )
    representative, where = (None, None)
    if source:
        representative, where = representative_images(source, shape, n_representative, seed, data_dir)
    provenance: dict[str, Any] = {
        "source_model": {"path": str(model_path), "sha256": sha256(model_path.read_bytes())},
    }
    if where:
        provenance["representative"] = {"source": where, "split": "train", "seed": seed}
    return export_tflite(
        model,
        out,
        q,
        representative=representative,
        calibration=calibration,
        provenance=provenance,
        seed=seed,
    )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise ModelFileError(f"{path} does not hold a JSON object")
    return value
