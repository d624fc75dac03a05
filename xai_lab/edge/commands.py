"""``xai-lab export``: a trained model as a TensorFlow Lite file for a device.

``xai-lab export --model DIR/model.keras --format tflite [--quantize int8|float16|dynamic]
[--calibration DATASET|FOLDER|FILE.npz] --out FILE.tflite`` writes ``FILE.tflite`` and its
sidecar ``FILE.json`` (calibration, class names, quantisation, provenance), each atomically,
and prints what it wrote and how closely the exported model follows the Keras model. Errors
(a missing or corrupt model, a layer the converter cannot take, no representative data for
int8) print one ``error: ...`` line and exit with status 2, leaving no file behind.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

EXIT_ERROR = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a .keras model file (from xai-lab train)")
    parser.add_argument("--format", default="tflite", choices=("tflite",),
                        help="output format (TensorFlow Lite, run by the LiteRT interpreter)")
    parser.add_argument("--quantize", default=None, choices=("float16", "dynamic", "int8"),
                        help="float16 weights, dynamic-range (int8 weights) or full-integer int8 "
                             "(default: none, float32)")
    parser.add_argument("--calibration", default=None, metavar="DATASET|FOLDER|FILE.npz",
                        help="training images for int8's representative set (default: the train "
                             "split of the dataset named in calibration.json beside the model)")
    parser.add_argument("--n-calibration", type=int, default=200,
                        help="images in the representative set (default 200)")
    parser.add_argument("--data-dir", default=None, help="folder with the data files (default XAI_LAB_DATA_DIR)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the representative set's draw")
    parser.add_argument("--out", required=True, help="the .tflite file to write (sidecar: same name, .json)")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow Lambda layers (Python code) in the model file: ONLY for files you trust")


def run(args: argparse.Namespace) -> int:
    from ..data import errors as data_errors
    from ..models.io import IncompatibleDataError, ModelFileError
    from .export import ConversionError, export_model_file

    known = (
        ModelFileError,
        IncompatibleDataError,
        ConversionError,
        data_errors.DatasetNotFoundError,
        data_errors.SplitNotFoundError,
        data_errors.CorruptFileError,
        data_errors.ImageReadError,
        FileNotFoundError,
        KeyError,
        ValueError,
    )
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = export_model_file(
                args.model,
                args.out,
                args.quantize,
                calibration_data=args.calibration,
                n_representative=args.n_calibration,
                seed=args.seed,
                data_dir=args.data_dir,
                safe_mode=not args.unsafe,
            )
    except known as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return EXIT_ERROR
    meta, check = result.metadata, result.check
    rep = meta.get("representative") or {}
    print(
        f"exported {args.model} -> {result.path} ({result.quantize}, {result.size_bytes / 1024:.1f} KiB"
        + (f"; representative set: {rep.get('n')} images of {rep.get('source')}" if rep else "")
        + ")"
    )
    print(
        f"check against the Keras model on {check['n']} images: top class agrees on "
        f"{100 * check['top_class_agreement']:.1f} %, largest logit difference "
        f"{check['max_abs_logit_difference']:.3g}"
    )
    print(f"wrote {result.path}, {result.sidecar}")
    return 0
