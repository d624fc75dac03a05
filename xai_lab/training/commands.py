"""``xai-lab train`` and ``xai-lab evaluate``.

``xai-lab train --dataset NAME --out DIR`` runs the dataset's default recipe and writes
``DIR/model.keras``, ``DIR/metrics.json`` (validation figures), ``DIR/history.json``,
``DIR/calibration.json`` (temperature and, for binary tasks, decision threshold) and
``DIR/recipe.json``, each atomically.

``xai-lab evaluate --model DIR/model.keras (--dataset NAME | --data FILE.npz | --images FOLDER)
--split test --json`` prints exactly one JSON object on stdout (anything else goes to stderr): ``n``,
``acc`` (argmax; MedMNIST's ACC), ``auc`` (MedMNIST's AUC), ``balanced_accuracy``, ``ece``,
``nll``, ``confusion_matrix``, for binary tasks ``sensitivity``, ``specificity``,
``acc_at_threshold`` and ``threshold`` (from ``calibration.json`` beside the model when
present, else 0.5), for ordinal tasks ``qwk``. Probabilities use the stored temperature.
Undefined values are ``null``. With ``--images FOLDER`` (one sub-folder per class, named as the
model's classes, case ignored: ``NORMAL/``, ``PNEUMONIA/``) the images are resized to the
model's input and ``skipped`` lists the files that could not be read.

Arguments are checked before any work (:func:`check_train_arguments`,
:func:`check_evaluate_arguments`, run by ``xai_lab.cli`` before TensorFlow is imported where
the check allows): a bad value ends with ``error: ...`` on stderr and exit status 2, and
nothing is written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from .. import _args

EXIT_ERROR = 2
SPLITS = ("train", "val", "test")


def _error(message: str | BaseException) -> int:
    """Print ``error: ...`` on stderr (a KeyError's message without its quotes)."""
    if isinstance(message, KeyError) and message.args:
        message = message.args[0]
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _known_errors() -> tuple[type[BaseException], ...]:
    from ..data import errors as data_errors
    from ..models.io import IncompatibleDataError, ModelFileError, ModelOutputError
    from .recipes import CalibrationFileError, OutputFolderError

    return (
        ModelFileError,
        ModelOutputError,
        IncompatibleDataError,
        CalibrationFileError,
        OutputFolderError,
        data_errors.DataError,
        KeyError,
        FileNotFoundError,
    )


def _check_dataset(name: str, *, with_recipe: bool) -> dict[str, Any]:
    """The INFO row of ``name`` (and its recipe must exist when ``with_recipe``)."""
    from ..data.info import INFO
    from .recipes import RECIPES

    if with_recipe and name not in RECIPES:
        raise _args.UsageError(
            f"no default recipe for --dataset {name!r}; recipes exist for {', '.join(RECIPES)}"
        )
    if name not in INFO:
        raise _args.UsageError(f"unknown --dataset {name!r}; the datasets are {', '.join(INFO)}")
    return INFO[name]


# ------------------------------------------------------------------------------------- train
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="pneumoniamnist, dermamnist or retinamnist")
    parser.add_argument("--out", required=True, type=_args.not_a_file,
                        help="output folder (model.keras, metrics.json, ...): new, empty, or a "
                             "previous run's, which is replaced as a whole when training ends")
    parser.add_argument("--size", type=_args.positive_int, default=None,
                        help="image size (default: the recipe's, 28; MedMNIST: 28, 64, 128 or 224)")
    parser.add_argument("--model", default=None, help="model family (default: the recipe's)")
    parser.add_argument("--epochs", type=_args.positive_int, default=None,
                        help="epochs, at least 1 (default: the recipe's)")
    parser.add_argument("--seed", type=_args.seed, default=None, help="random seed (default XAI_LAB_SEED or 0)")
    parser.add_argument("--data-dir", type=_args.existing_dir, default=None,
                        help="folder with the data files (default XAI_LAB_DATA_DIR)")
    parser.add_argument("--data", type=_args.existing_file, default=None,
                        help="a MedMNIST-style .npz with train_* and val_* arrays")
    parser.add_argument("--verbose", action="store_true", help="show Keras progress bars (on stderr)")


def check_train_arguments(args: argparse.Namespace) -> None:
    """What ``xai-lab train`` checks before any work; raises :class:`~xai_lab._args.UsageError`.

    The dataset has a recipe, ``--size`` is one the dataset comes in, ``--data`` and
    ``--data-dir`` / ``--size`` are not mixed, ``--out`` may receive a run
    (:func:`~xai_lab.training.recipes.check_out_dir`), and, last (it imports TensorFlow),
    ``--model`` is a registered family.
    """
    from .recipes import OutputFolderError, check_out_dir

    info = _check_dataset(args.dataset, with_recipe=True)
    if args.data is not None and args.data_dir is not None:
        raise _args.UsageError("give --data (one .npz file) or --data-dir (a data folder), not both")
    if args.size is not None:
        if args.data is not None:
            raise _args.UsageError(
                "--size does not apply to --data: the file's images are used at their own size"
            )
        sizes = tuple(info.get("sizes") or ())
        if sizes and args.size not in sizes:
            raise _args.UsageError(
                f"--size {args.size} is not available for {args.dataset}: choose one of "
                f"{', '.join(map(str, sizes))}"
            )
    try:
        check_out_dir(args.out)
    except OutputFolderError as exc:
        raise _args.UsageError(f"--out: {exc}") from exc
    if args.model is not None:
        from .. import models

        if args.model not in models.available():
            raise _args.UsageError(
                f"--model {args.model!r} is not a model family; choose one of {', '.join(models.available())}"
            )


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
    parser.add_argument("--model", required=True, type=_args.existing_file,
                        help="a .keras model file (from xai-lab train)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a dataset name (see xai_lab.data.INFO)")
    source.add_argument("--data", type=_args.existing_file,
                        help="a MedMNIST-style .npz file with {split}_images/{split}_labels")
    source.add_argument("--images", type=_args.existing_dir,
                        help="a folder with one sub-folder of images per class, named as "
                        "the model's classes (case ignored), e.g. NORMAL/ and PNEUMONIA/")
    parser.add_argument("--data-dir", type=_args.existing_dir, default=None,
                        help="folder with the data files (with --dataset)")
    parser.add_argument("--split", choices=SPLITS, default="test", help="split to evaluate (default test)")
    parser.add_argument("--task", choices=("binary", "multiclass", "ordinal"), default=None,
                        help="task of --data files (default: from calibration.json or the model)")
    parser.add_argument("--calibration", type=_args.existing_file, default=None,
                        help="calibration.json (default: the one beside the model, if any)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow Lambda layers (Python code) in the model file: ONLY for files you trust")


def check_evaluate_arguments(args: argparse.Namespace) -> None:
    """What ``xai-lab evaluate`` checks before loading anything (no TensorFlow import).

    The model file is a ``.keras`` file, the dataset is known, ``--data-dir`` goes with
    ``--dataset``, and the calibration file (given, or the one beside the model) is valid
    (:func:`~xai_lab.training.recipes.read_calibration`).
    """
    from .recipes import CalibrationFileError

    if Path(args.model).suffix != ".keras":
        raise _args.UsageError(f"--model {args.model} is not a .keras model file (from xai-lab train)")
    if args.dataset is not None:
        _check_dataset(args.dataset, with_recipe=False)
    elif args.data_dir is not None:
        raise _args.UsageError("--data-dir goes with --dataset; --data names the file itself")
    try:
        _calibration_of(args.model, args.calibration)
    except CalibrationFileError as exc:
        raise _args.UsageError(str(exc)) from exc


def _calibration_of(model_path: str | Path, calibration_path: str | Path | None
                    ) -> tuple[dict[str, Any], Path | None]:
    """The checked calibration (given, or ``calibration.json`` beside the model) and its path.

    ``({}, None)`` when none is given and none lies beside the model.
    """
    from .recipes import read_calibration

    if calibration_path is not None:
        path = Path(calibration_path)
        return read_calibration(path), path
    path = Path(model_path).with_name("calibration.json")
    if not path.exists():
        return {}, None
    return read_calibration(path), path


def images_folder_split(model: Any, folder: str, cal: dict[str, Any]) -> Any:
    """The images of ``folder`` (one sub-folder per class) labelled with the model's classes.

    The class names come from ``calibration.json`` (``label_names``, else its dataset's
    ``INFO`` row); a dataset's short codes (HAM10000's ``mel``, ...) also match. Images are
    resized to the model's input; unreadable files are skipped (``Dataset.skipped``).
    """
    from .. import data

    row = data.INFO.get(str(cal.get("dataset", "")).lower())
    names = cal.get("label_names") or (row["label_names"] if row else None)
    if not names:
        raise data.FolderLayoutError(
            f"cannot match the sub-folders of {folder} to classes: the model's class names are "
            "unknown (no calibration.json with label_names beside the model); pass "
            "--calibration with the file xai-lab train wrote"
        )
    aliases = {k: [code] for k, code in enumerate(row.get("label_codes", ()))} if row else {}
    height, width, channels = (int(d) if d else 0 for d in model.inputs[0].shape[1:])
    if not height or height != width:
        raise data.FolderLayoutError(f"the model's input {height} x {width} is not a fixed square size")
    task = cal.get("task") or (row or {}).get("task") or ("binary" if len(names) == 2 else "multiclass")
    info = {"name": Path(folder).name, "title": str(folder), "task": task,
            "label_names": tuple(names), "n_classes": len(names), "n_channels": channels}
    return data.load_labelled_folder(folder, names, height, channels, aliases=aliases, info=info)


def evaluate_model(
    model_path: str,
    *,
    dataset: str | None = None,
    data_file: str | None = None,
    images_dir: str | None = None,
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

    cal, cal_path = _calibration_of(model_path, calibration_path)  # checked before the model loads
    model = zoo.load(model_path, safe_mode=safe_mode)
    n_out = zoo.output_classes(model)
    height = model.inputs[0].shape[1]
    skipped = None
    if dataset is not None:
        ds = data.load(dataset, split, size=int(height) if height else 28, data_dir=data_dir)
        images, labels, n_classes, task = ds.images, ds.labels, ds.n_classes, task or ds.task
    elif images_dir is not None:
        ds = images_folder_split(model, images_dir, cal)
        images, labels, n_classes, task = ds.images, ds.labels, ds.n_classes, task or ds.task
        skipped = [{"file": f, "reason": r} for f, r in ds.skipped or []]
    else:
        images, labels = data.read_npz_split(data_file, split)
        n_classes = int(labels.max()) + 1 if len(labels) else n_out
        task = task or cal.get("task") or ("binary" if n_out == 2 else "multiclass")
    zoo.check_fits(model, image_shape=images.shape[1:], n_classes=n_classes)
    if n_out != n_classes and dataset is not None:
        raise zoo.IncompatibleDataError(
            f"{dataset} has {n_classes} classes but the model outputs {n_out}: it was trained for another task"
        )
    temperature = float(cal.get("temperature", 1.0))
    proba = zoo.predict_proba(model, images, temperature=temperature)
    threshold = cal.get("threshold") if task == "binary" else None
    out = M.summary(labels, proba, task, threshold=threshold)
    if skipped is not None:
        out.update(images=str(images_dir), skipped=skipped)
    out.update(
        split=split if images_dir is None else None,
        dataset=dataset or str(data_file or images_dir),
        task=task,
        model=str(model_path),
        temperature=temperature,
        calibration=str(cal_path) if cal_path is not None else None,
        model_outputs="probabilities" if zoo.outputs_probabilities(model) else "logits",
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
                images_dir=args.images,
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
            if key not in ("confusion_matrix", "skipped"):
                print(f"{key:>18}: {value}")
        print(f"{'confusion_matrix':>18}: {result['confusion_matrix']}")
        for item in result.get("skipped") or []:
            print(f"{'skipped':>18}: {item['file']}: {item['reason']}")
    return 0
