"""``xai-lab train`` and ``xai-lab evaluate``.

``xai-lab train --dataset NAME --out DIR`` runs the dataset's default recipe and writes
``DIR/model.keras``, ``DIR/metrics.json`` (validation figures), ``DIR/history.json``,
``DIR/calibration.json`` (temperature and, for binary tasks, decision threshold) and
``DIR/recipe.json``, each atomically.

``xai-lab evaluate --model DIR/model.keras (--dataset NAME | --data FILE.npz) --split test
--json`` prints exactly one JSON object on stdout (anything else goes to stderr): ``n``,
``acc`` (argmax; MedMNIST's ACC), ``auc`` (MedMNIST's AUC), ``balanced_accuracy``, ``ece``,
``nll``, ``confusion_matrix``, ``acc_at_threshold``, ``balanced_accuracy_at_threshold``,
``recall_per_class`` (and ``recall_by_class`` by name), for binary tasks ``sensitivity``,
``specificity`` and ``threshold`` (from ``calibration.json`` beside the model when present,
else 0.5), for multi-class tasks the ``class_offsets`` of the stored decision rule when
present, for ordinal tasks ``qwk``. Probabilities use the stored temperature. Undefined
values are ``null``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

EXIT_ERROR = 2


def _error(message: str | BaseException) -> int:
    """Print ``error: ...`` on stderr (a KeyError's message without its quotes)."""
    if isinstance(message, KeyError) and message.args:
        message = message.args[0]
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _known_errors() -> tuple[type[BaseException], ...]:
    from ..data import errors as data_errors
    from ..models.io import IncompatibleDataError, ModelFileError

    return (
        ModelFileError,
        IncompatibleDataError,
        data_errors.DatasetNotFoundError,
        data_errors.SplitNotFoundError,
        data_errors.CorruptFileError,
        KeyError,
        FileNotFoundError,
    )


# ------------------------------------------------------------------------------------- train
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="pneumoniamnist, dermamnist, retinamnist, chest_xray or ham10000")
    parser.add_argument("--out", required=True, help="output folder (model.keras, metrics.json, ...)")
    parser.add_argument("--size", type=int, default=None,
                        help="image size (default: the dataset's, 28 for MedMNIST, 128 for chest_xray and ham10000)")
    parser.add_argument("--model", default=None, help="model family (default: the recipe's)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default XAI_LAB_SEED or 0)")
    parser.add_argument("--data-dir", default=None, help="folder with the data files (default XAI_LAB_DATA_DIR)")
    parser.add_argument("--data", default=None, help="a MedMNIST-style .npz with train_* and val_* arrays")
    parser.add_argument("--verbose", action="store_true", help="show Keras progress bars (on stderr)")


def run_train(args: argparse.Namespace) -> int:
    from .recipes import jsonable, train_default

    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = train_default(
                args.dataset,
                args.out,
                model=args.model,
                epochs=args.epochs,
                seed=args.seed,
                size=args.size,
                data_dir=args.data_dir,
                data_file=args.data,
                verbose=2 if args.verbose else 0,
            )
    except _known_errors() as exc:
        return _error(exc)
    m, f = result["metrics"], result["fit"]
    keys = ("acc", "auc", "qwk", "sensitivity", "specificity", "threshold")
    shown = {k: m[k] for k in keys if k in m}
    print(
        f"trained {f['model']} on {args.dataset} ({f['n_train']} images, {f['epochs_run']} epochs, "
        f"best epoch {f['best_epoch']}, {f['seconds']:.0f} s); validation: "
        + json.dumps(jsonable(shown))
    )
    print(f"wrote {', '.join(result['paths'].values())}")
    return 0


# ---------------------------------------------------------------------------------- evaluate
def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a .keras model file (from xai-lab train)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a dataset name (see xai_lab.data.INFO)")
    source.add_argument("--data", help="a MedMNIST-style .npz file with {split}_images/{split}_labels")
    parser.add_argument("--data-dir", default=None, help="folder with the data files (with --dataset)")
    parser.add_argument("--split", default="test", help="split to evaluate (default test)")
    parser.add_argument("--task", choices=("binary", "multiclass", "ordinal"), default=None,
                        help="task of --data files (default: from calibration.json or the model)")
    parser.add_argument("--calibration", default=None,
                        help="calibration.json (default: the one beside the model, if any)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow Lambda layers (Python code) in the model file: ONLY for files you trust")


def _read_calibration(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        cal = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"cannot read calibration file {path}: {exc}") from exc
    if not isinstance(cal, dict):
        raise FileNotFoundError(f"calibration file {path} does not hold a JSON object")
    return cal


def evaluate_model(
    model_path: str,
    *,
    dataset: str | None = None,
    data_file: str | None = None,
    data_dir: str | None = None,
    split: str = "test",
    task: str | None = None,
    calibration_path: str | None = None,
    safe_mode: bool = True,
) -> dict[str, Any]:
    """Metrics of a saved model on a dataset split (what ``xai-lab evaluate`` prints)."""
    from .. import data
    from .. import models as zoo
    from . import metrics as M

    model = zoo.load(model_path, safe_mode=safe_mode)
    cal_path = Path(calibration_path) if calibration_path else Path(model_path).with_name("calibration.json")
    if calibration_path and not cal_path.is_file():
        raise FileNotFoundError(f"calibration file {cal_path} does not exist")
    cal = _read_calibration(cal_path)
    n_out = int(model.outputs[0].shape[-1])
    height = model.inputs[0].shape[1]
    if dataset is not None:
        ds = data.load(dataset, split, size=int(height) if height else 28, data_dir=data_dir)
        images, labels, n_classes, task = ds.images, ds.labels, ds.n_classes, task or ds.task
    else:
        images, labels = data.read_npz_split(data_file, split)
        n_classes = int(labels.max()) + 1 if len(labels) else n_out
        task = task or cal.get("task") or ("binary" if n_out == 2 else "multiclass")
    zoo.check_fits(model, image_shape=images.shape[1:], n_classes=n_classes)
    if n_out != n_classes and dataset is not None:
        raise zoo.IncompatibleDataError(
            f"{dataset} has {n_classes} classes but the model outputs {n_out}: it was trained for another task"
        )
    temperature = float(cal.get("temperature") or 1.0)
    proba = zoo.predict_proba(model, images, temperature=temperature)
    threshold = cal.get("threshold") if task == "binary" else None
    offsets = cal.get("class_offsets") if task == "multiclass" else None
    names = cal.get("label_names") if len(cal.get("label_names") or ()) == n_out else None
    out = M.summary(labels, proba, task, threshold=threshold, class_offsets=offsets, label_names=names)
    out.update(
        split=split,
        dataset=dataset or str(data_file),
        task=task,
        model=str(model_path),
        temperature=temperature,
        calibration=str(cal_path) if cal else None,
    )
    return out


def run_evaluate(args: argparse.Namespace) -> int:
    from .recipes import jsonable

    try:
        # keep stdout for the one JSON object: anything printed while working goes to stderr
        with contextlib.redirect_stdout(sys.stderr):
            result = evaluate_model(
                args.model,
                dataset=args.dataset,
                data_file=args.data,
                data_dir=args.data_dir,
                split=args.split,
                task=args.task,
                calibration_path=args.calibration,
                safe_mode=not args.unsafe,
            )
    except _known_errors() as exc:
        return _error(exc)
    result = jsonable(result)
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        for key, value in result.items():
            if key != "confusion_matrix":
                print(f"{key:>18}: {value}")
        print(f"{'confusion_matrix':>18}: {result['confusion_matrix']}")
    return 0
