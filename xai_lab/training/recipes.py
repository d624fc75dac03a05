"""The project's default training recipe per dataset, and ``train_default`` that runs one.

A recipe is a model family with its options and the training settings (epochs, batch size,
learning rate, augmentation, class weights, the validation metric that selects the epoch).
``train_default`` trains it, then calibrates on the validation split: a temperature
(Guo et al., ICML 2017) for the probabilities and, for binary tasks, a decision threshold on
the calibrated positive-class probability that maximises Youden's J (Youden, Cancer 1950)
on validation. Everything is chosen on ``val`` only (the official test splits are held out).

Each recipe is sized to train within 5 minutes on 2 CPU cores (``max_seconds`` stops a
slower machine before an epoch that would end past 300 s, keeping the best epoch so far). With
``XAI_LAB_FAST=1`` (:func:`xai_lab.config.fast_mode`) the data and the epochs shrink so that
notebooks and tests run in seconds.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_dir, atomic_path

FAST_TRAIN_SAMPLES = 600
FAST_EPOCHS = 2

#: The files a run folder holds (:func:`train_on`); ``xai-lab demo`` adds ``report.html``.
RUN_FILES = ("model.keras", "metrics.json", "history.json", "calibration.json", "recipe.json")
#: What an existing output folder may hold for a new run to replace it as a whole.
REPLACEABLE_FILES = (*RUN_FILES, "report.html")


TASKS = ("binary", "multiclass", "ordinal")


class OutputFolderError(ValueError):
    """An output folder cannot receive a run (a file, foreign contents, not writable)."""


class CalibrationFileError(ValueError):
    """A calibration.json that cannot be used: unreadable, malformed, or a value out of range."""


@dataclass(frozen=True)
class Recipe:
    """Settings for one dataset's default training run (see :func:`train_default`)."""

    dataset: str
    model: str = "cnn"
    options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    augment: str | None = "auto"
    class_weight: str | None = None
    monitor: str = "val_auc"
    patience: int | None = None
    size: int = 28
    max_seconds: float | None = 300.0
    ema_momentum: float | None = None
    notes: str = ""


RECIPES: dict[str, Recipe] = {
    "pneumoniamnist": Recipe(
        "pneumoniamnist",
        model="cnn",
        options={"filters": (32, 64, 128), "convs_per_block": 1, "dense": 128, "dropout": 0.3},
        epochs=12,
        batch_size=64,
        augment="xray",
        class_weight="balanced",
        monitor="val_auc",
        notes=(
            "Balanced class weights and a Youden threshold on validation: the test collection "
            "has relatively more normal images than train/val, so the decision must not lean "
            "on the training prior. X-ray augmentation (no flips) for robustness to the shift."
        ),
    ),
    "dermamnist": Recipe(
        "dermamnist",
        model="cnn",
        options={"filters": (32, 64, 128), "convs_per_block": 1, "dense": 128, "dropout": 0.3},
        epochs=16,
        batch_size=64,
        augment="dermoscopy",
        class_weight=None,
        monitor="val_acc",
        notes=(
            "No class weights: accuracy is the target and 'nv' is 67 % of the data. Measured on "
            "val (seed 0, 2 quiet cores): 16 epochs at batch 64 give ACC 0.771 / AUC 0.929 in "
            "253 s; 20 epochs 0.774 / 0.934 but need about 300 s; 10 epochs at batch 128 "
            "0.759 / 0.920; two convolutions per block 0.771 / 0.926 at twice the time."
        ),
    ),
    "retinamnist": Recipe(
        "retinamnist",
        model="cnn",
        options={"filters": (32, 64, 128), "convs_per_block": 1, "dense": 64, "dropout": 0.4},
        epochs=30,
        batch_size=32,
        augment="fundus",
        class_weight=None,
        monitor="val_auc",
        notes="Ordinal grades; softmax head (see benchmarks/accuracy.py for the CORAL comparison).",
    ),
}


def get_recipe(dataset: str) -> Recipe:
    """The default recipe of ``dataset`` (KeyError listing the known ones)."""
    if dataset not in RECIPES:
        raise KeyError(f"no default recipe for {dataset!r}; recipes exist for {', '.join(RECIPES)}")
    return RECIPES[dataset]


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as JSON atomically (temporary file + rename); NaN becomes null."""
    path = Path(path)
    text = json.dumps(jsonable(obj), indent=2, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Check, before any work, that a run may be written to ``out_dir``; returns it as a Path.

    The folder is replaced as a whole when the run ends (:func:`xai_lab._atomic.atomic_dir`),
    so it must be missing, empty, or hold only what a run writes (:data:`REPLACEABLE_FILES`,
    and hidden temporary files of an interrupted write); anything else would be deleted with
    it, so it is refused. Its parent must exist as a writable folder or be creatable.

    Raises
    ------
    OutputFolderError
        Saying what is wrong with the folder and what to do.
    """
    out = Path(out_dir).expanduser()
    if str(out_dir).strip() == "":
        raise OutputFolderError("the output folder is empty: give a folder name")
    if out.is_symlink():
        raise OutputFolderError(
            f"output folder {out} is a symbolic link: give the folder it points to "
            f"({out.resolve()}) or another --out"
        )
    if out.exists():
        if not out.is_dir():
            raise OutputFolderError(
                f"output folder {out} exists and is not a folder: choose another --out"
            )
        if Path.cwd().resolve().is_relative_to(out.resolve()):
            raise OutputFolderError(
                f"output folder {out} is the current folder or holds it; a run replaces its "
                "folder as a whole: choose a subfolder, e.g. --out run1"
            )
        foreign = sorted(
            p.name + ("/" if p.is_dir() else "")
            for p in out.iterdir()
            if not _is_replaceable(p)
        )
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputFolderError(
                f"output folder {out} holds {shown}, which a run does not write; a new run "
                "replaces the folder as a whole, so choose a new or empty folder for --out"
            )
        if not os.access(out.parent.resolve(), os.W_OK):
            raise OutputFolderError(f"cannot write beside {out}: {out.parent} is not writable")
        return out
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputFolderError(f"cannot create output folder {out}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK):
        raise OutputFolderError(f"cannot create output folder {out}: {ancestor} is not writable")
    return out


def _is_replaceable(entry: Path) -> bool:
    if entry.is_dir() and not entry.is_symlink():
        return False
    name = entry.name
    return name in REPLACEABLE_FILES or any(name.startswith(f".{f}.") for f in REPLACEABLE_FILES)


def write_run(out_dir: str | os.PathLike, model: Any, files: dict[str, Any]) -> dict[str, str]:
    """Write a run folder as a whole: ``model.keras`` and one JSON file per ``files`` entry.

    Everything goes into a sibling temporary folder that then replaces ``out_dir`` (see
    :func:`xai_lab._atomic.atomic_dir`): a reader sees the previous run or this one, never the
    new model beside the old calibration; an interruption leaves the previous run as it was.
    Returns ``{"model": path, "<stem>": path, ...}`` (final paths).
    """
    from .. import models as zoo

    out = check_out_dir(out_dir)
    with atomic_dir(out) as tmp:
        zoo.save(model, tmp / "model.keras")
        for name, obj in files.items():
            write_json(tmp / name, obj)
    return {"model": str(out / "model.keras"), **{Path(n).stem: str(out / n) for n in files}}


def read_calibration(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a ``calibration.json`` (as :func:`train_on` writes it).

    Returns the file's object with ``temperature`` (a positive finite number; 1.0 when the
    key is absent) and ``threshold`` (a number in [0, 1], or None when absent or null) checked,
    and ``task`` (when present) one of :data:`TASKS`.

    Raises
    ------
    CalibrationFileError
        Naming the file and the field: unreadable, not JSON, not a JSON object, a temperature
        that is zero, negative, not a number or not finite (it would invert or break every
        probability), a threshold outside [0, 1], an unknown task.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CalibrationFileError(f"calibration file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationFileError(f"cannot read calibration file {path}: {exc}") from exc
    try:
        cal = json.loads(text)
    except ValueError as exc:  # json.JSONDecodeError, or a number too large for Python
        raise CalibrationFileError(
            f"calibration file {path} is not valid JSON ({exc}); re-create it with "
            "`xai-lab train` or pass another --calibration"
        ) from exc
    if not isinstance(cal, dict):
        raise CalibrationFileError(
            f"calibration file {path} holds a JSON {type(cal).__name__}, not an object "
            '({"temperature": ..., "threshold": ...})'
        )
    return check_calibration(cal, source=str(path))


def check_calibration(cal: dict[str, Any], source: str = "calibration") -> dict[str, Any]:
    """Check the fields of a calibration object (see :func:`read_calibration`); a checked copy."""
    out = dict(cal)
    temperature = cal.get("temperature", 1.0)
    value = _finite(temperature)
    if value is None or value <= 0:
        raise CalibrationFileError(
            f"{source}: field 'temperature' is {temperature!r}; it must be a positive finite "
            "number (probabilities are softmax(logits / temperature)): re-calibrate with "
            "`xai-lab train` or fix the file"
        )
    out["temperature"] = value
    threshold = cal.get("threshold")
    if threshold is not None:
        value = _finite(threshold)
        if value is None or not (0.0 <= value <= 1.0):
            raise CalibrationFileError(
                f"{source}: field 'threshold' is {threshold!r}; a decision threshold on "
                "P(positive) must be a number in [0, 1] (or null for none)"
            )
        out["threshold"] = value
    else:
        out["threshold"] = None
    task = cal.get("task")
    if task is not None and task not in TASKS:
        raise CalibrationFileError(
            f"{source}: field 'task' is {task!r}; it must be one of {', '.join(TASKS)}"
        )
    return out


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a (finite) JSON number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if np.isfinite(number) else None


def jsonable(obj: Any) -> Any:
    """Numpy scalars/arrays to Python, NaN/inf to None, tuples to lists (recursively)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if np.isfinite(value) else None
    return obj


def _fast_subset(ds: Any, n: int, seed: int) -> Any:
    """A class-stratified subset of at most ``n`` samples (every class kept)."""
    if len(ds) <= n:
        return ds
    rng = np.random.default_rng(seed)
    labels = ds.labels
    picked = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        take = max(1, int(round(n * len(idx) / len(labels))))
        picked.append(rng.choice(idx, size=min(take, len(idx)), replace=False))
    return ds.subset(np.sort(np.concatenate(picked)))


def calibrate(val_logits: np.ndarray, y_val: np.ndarray, task: str) -> dict[str, Any]:
    """Temperature (all tasks) and, for binary tasks, the Youden threshold on validation."""
    from . import calibration
    from . import metrics as M

    temperature = calibration.fit_temperature(val_logits, y_val)
    out: dict[str, Any] = {"temperature": temperature, "threshold": None, "fitted_on": "val"}
    if task == "binary":
        p = calibration.apply_temperature(val_logits, temperature)
        out["threshold"] = M.youden_threshold(y_val, p[:, 1])
        out["threshold_rule"] = "Youden J on calibrated P(positive) on val"
    return out


def train_default(
    dataset: str,
    out_dir: str | os.PathLike | None = None,
    *,
    model: str | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    size: int | None = None,
    data_dir: str | os.PathLike | None = None,
    data_file: str | os.PathLike | None = None,
    options: dict[str, Any] | None = None,
    callbacks: Any = (),
    verbose: int = 0,
) -> dict[str, Any]:
    """Load ``dataset`` and train its recipe with :func:`train_on` (calibrate, save).

    Parameters
    ----------
    dataset : str
        A key of :data:`RECIPES` (its INFO row gives the task and augmentation).
    out_dir : path, optional
        Receives ``model.keras``, ``metrics.json`` (validation figures), ``history.json``,
        ``calibration.json`` (temperature, threshold) and ``recipe.json``. The folder is
        replaced as a whole at the end (:func:`write_run`); it is checked before any work
        (:func:`check_out_dir`): missing, empty, or holding only a previous run.
    model : str, optional
        Another model family than the recipe's (then with default options plus ``options``).
    epochs, seed, size : optional
        Override the recipe (seed default ``config.seed()``).
    data_dir : path, optional
        Where the data files are (default ``XAI_LAB_DATA_DIR`` / cache / download).
    data_file : path, optional
        A MedMNIST-style npz with ``train_*`` and ``val_*`` arrays to use instead.
    callbacks : sequence of keras.callbacks.Callback
        Passed to :func:`~xai_lab.training.fit` (progress bars, dashboards).

    Returns
    -------
    dict
        See :func:`train_on`.
    """
    from .. import config, data

    recipe = get_recipe(dataset)
    if out_dir is not None:
        check_out_dir(out_dir)  # before any work
    seed = config.seed() if seed is None else int(seed)
    size = recipe.size if size is None else int(size)
    if data_file is not None:
        info = data.get_info(dataset)
        splits = {}
        for split in ("train", "val"):
            images, labels = data.read_npz_split(data_file, split, info["n_channels"])
            splits[split] = data.Dataset(images, labels, info, info["name"], split, str(data_file))
        train, val = splits["train"], splits["val"]
    else:
        train = data.load(dataset, "train", size=size, data_dir=data_dir)
        val = data.load(dataset, "val", size=size, data_dir=data_dir)
    if config.fast_mode():
        train = _fast_subset(train, FAST_TRAIN_SAMPLES, seed)
    return train_on(
        dataset, train, val, out_dir, model=model, epochs=epochs, seed=seed,
        options=options, callbacks=callbacks, verbose=verbose,
    )


def train_on(
    dataset: str,
    train: Any,
    val: Any,
    out_dir: str | os.PathLike | None = None,
    *,
    model: str | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    callbacks: Any = (),
    verbose: int = 0,
) -> dict[str, Any]:
    """Train ``dataset``'s recipe on given splits, calibrate on ``val``, and save.

    Parameters
    ----------
    dataset : str
        A key of :data:`RECIPES`: the recipe to follow.
    train, val : Dataset
        The training and validation splits (e.g. from :func:`xai_lab.data.load_best`).
    out_dir : path, optional
        Where to write the files (see :func:`train_default`); nothing is written when None.
    model, epochs, seed, options, callbacks, verbose
        As in :func:`train_default`. In fast mode epochs are capped at ``FAST_EPOCHS``.

    Returns
    -------
    dict
        ``recipe``, ``metrics`` (validation), ``calibration``, ``fit`` (epochs, seconds, ...),
        ``history``, ``model`` (the trained keras.Model) and ``paths``.
    """
    from .. import config
    from .. import models as zoo
    from . import calibration
    from . import metrics as M
    from .trainer import fit, set_seed

    recipe = get_recipe(dataset)
    if out_dir is not None:
        check_out_dir(out_dir)  # before any work
    seed = config.seed() if seed is None else int(seed)
    n_epochs = recipe.epochs if epochs is None else int(epochs)
    if n_epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {n_epochs}")
    if config.fast_mode():
        n_epochs = min(n_epochs, FAST_EPOCHS)
    size = int(train.images.shape[1])
    family = model or recipe.model
    opts = dict(recipe.options) if family == recipe.model else {}
    opts.update(options or {})
    set_seed(seed)
    net = zoo.build(family, train.images.shape[1:], train.n_classes, **opts)
    result = fit(
        net,
        train,
        val,
        epochs=n_epochs,
        batch_size=recipe.batch_size,
        seed=seed,
        augment=recipe.augment if recipe.augment != "auto" else "auto",
        class_weight=recipe.class_weight,
        monitor=recipe.monitor,
        patience=recipe.patience,
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        max_seconds=recipe.max_seconds,
        ema_momentum=recipe.ema_momentum,
        callbacks=callbacks,
        verbose=verbose,
    )
    task = train.task
    cal = calibrate(result.val_logits, val.labels, task)
    proba = calibration.apply_temperature(result.val_logits, cal["temperature"])
    val_metrics = M.summary(val.labels, proba, task, threshold=cal["threshold"])
    val_metrics.update(split="val", dataset=dataset, task=task, size=size)
    fit_info = {
        "model": family,
        "options": opts,
        "epochs": n_epochs,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "monitor": result.monitor,
        "best_value": result.best_value,
        "seconds": result.seconds,
        "stopped_by": result.stopped_by,
        "seed": seed,
        "n_train": len(train),
        "n_val": len(val),
        "fast_mode": config.fast_mode(),
    }
    cal.update(task=task, dataset=dataset, n_classes=train.n_classes, label_names=list(train.label_names))
    paths: dict[str, str] = {}
    if out_dir is not None:
        paths = write_run(out_dir, net, {
            "metrics.json": {**val_metrics, "fit": fit_info},
            "history.json": result.history,
            "calibration.json": cal,
            "recipe.json": asdict(recipe),
        })
    return {
        "recipe": recipe,
        "metrics": val_metrics,
        "calibration": cal,
        "fit": fit_info,
        "history": result.history,
        "model": net,
        "paths": paths,
    }
