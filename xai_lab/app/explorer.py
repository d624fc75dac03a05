"""The clinician explorer: predictions and explanations without code.

:class:`ExplorerApp` keeps its logic in plain methods (find models, read an upload, analyse an
image, contrast two classes, write a report) so that tests drive it without a browser; its
ipywidgets user interface (:attr:`ExplorerApp.widget`) only calls those methods and shows
their results. ``xai-lab explorer`` serves it with Voila (see :mod:`xai_lab.app.serve`).

Uploaded files are never executed: their bytes are written to a temporary folder owned by
the app, decoded as an image (PNG, JPEG or DICOM, :func:`xai_lab.data.read_image`) and
deleted at once. Models are loaded with Keras' ``safe_mode=True``.

References
----------
Selvaraju, R. R., et al. (2017). Grad-CAM: Visual explanations from deep networks via
gradient-based localization. ICCV. https://arxiv.org/abs/1610.02391
Lundberg, S. M., Lee, S.-I. (2017). A unified approach to interpreting model predictions
(SHAP). NeurIPS. https://arxiv.org/abs/1705.07874
Montavon, G., et al. (2017). Explaining nonlinear classification decisions with deep Taylor
decomposition. Pattern Recognition 65, 211-222. doi:10.1016/j.patcog.2016.11.008
Guo, C., et al. (2017). On calibration of modern neural networks (temperature scaling).
ICML. https://arxiv.org/abs/1706.04599
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BANNER = (
    "For education and research — not a medical device. "
    "Do not use these predictions or maps to diagnose or treat patients."
)

#: Explanation methods shown side by side: registry name -> title.
METHODS: dict[str, str] = {"gradcam": "Grad-CAM", "shap": "SHAP", "deep_taylor": "Deep Taylor"}

#: The three tasks: their datasets (first = default recipe), phantom task and title.
TASKS: dict[str, dict[str, Any]] = {
    "pneumonia": {
        "title": "Pneumonia (chest X-ray)",
        "datasets": ("pneumoniamnist", "chest_xray"),
        "phantom": "pneumonia",
    },
    "skin": {
        "title": "Skin lesion (dermoscopy)",
        "datasets": ("dermamnist", "ham10000"),
        "phantom": "skin",
    },
    "retinopathy": {
        "title": "Diabetic retinopathy (fundus)",
        "datasets": ("retinamnist",),
        "phantom": "retina",
    },
}

UPLOAD_EXTENSIONS = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")
DEFAULT_MAX_UPLOAD_BYTES = 20 * 2**20
#: An upload is refused when the model would have to enlarge it more than this factor.
MAX_UPSCALE = 2.0
DISPLAY_SIZE = 224
SAMPLE_SOURCES = {"dataset": "Validation image (dataset)", "phantom": "Synthetic phantom"}

_CSS = """
<style>
.xai-app {max-width: 1000px; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;}
.xai-banner {background: #fff4d6; border: 1px solid #f0c36d; border-radius: 6px;
  padding: 8px 12px; font-weight: 600; color: #5a4300; margin-bottom: 8px;}
.xai-error {background: #fde8e8; border: 1px solid #e99; border-radius: 6px;
  padding: 8px 12px; color: #8a1c1c;}
.xai-note {color: #44505c; font-size: 0.92em;}
.xai-prob-table td {padding: 2px 8px;}
.xai-bar {display: inline-block; height: 10px; background: #3b7dd8; border-radius: 2px;}
.xai-map-title {font-weight: 600; text-align: center;}
.xai-predicted {font-size: 1.15em; font-weight: 700;}
.xai-rule {font-size: 0.8em; font-weight: 400; color: #44505c;}
.xai-model-info table {border-collapse: collapse; margin: 4px 0; font-size: 0.9em;}
.xai-model-info th, .xai-model-info td {padding: 1px 8px; text-align: right;}
</style>
"""


class ExplorerError(ValueError):
    """A problem to show to the user in the page (bad upload, no model, ...)."""


# ------------------------------------------------------------------------------- models
@dataclass
class ModelEntry:
    """A model folder written by ``xai-lab train``: ``model.keras`` plus its JSON files."""

    name: str
    path: Path
    dataset: str | None
    task: str | None
    label_names: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    threshold: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def model_file(self) -> Path:
        return self.path / "model.keras"

    def label(self) -> str:
        """A one-line description for the model menu."""
        score = headline_metric(self.metrics)
        extra = f", {score[0]} {score[1]:.3f}" if score else ""
        return f"{self.name} ({self.dataset or 'unknown dataset'}{extra})"

    def summary_html(self) -> str:
        scores = scalar_metrics(self.metrics)
        rows = (
            "<tr><td>validation</td>" + "".join(f"<th>{html.escape(k)}</th>" for k in scores)
            + "</tr><tr><td></td>" + "".join(f"<td>{v:.3f}</td>" for v in scores.values())
            + "</tr>"
        ) if scores else ""
        calib = (
            f"temperature {self.temperature:.3g}" if self.temperature else "none (raw softmax)"
        )
        if self.threshold is not None:
            calib += f", decision threshold {self.threshold:.3g}"
        notes = "".join(f"<div class='xai-note'>{html.escape(n)}</div>" for n in self.notes)
        table = f"<table>{rows}</table>" if rows else ""
        return (
            f"<div class='xai-model-info'><b>Model</b> {html.escape(self.name)} — dataset "
            f"<b>{html.escape(self.dataset or 'unknown')}</b>, classes: "
            f"{html.escape(', '.join(self.label_names))}; calibration: {html.escape(calib)}"
            f"{table}{notes}</div>"
        )


def _read_json(path: Path, notes: list[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        notes.append(f"{path.name} could not be read ({exc}); ignored")
        return {}
    if not isinstance(value, dict):
        notes.append(f"{path.name} does not hold a JSON object; ignored")
        return {}
    return value


_NOT_SCORES = {"n", "size", "epochs", "seed", "best_epoch", "n_train", "n_val", "threshold"}


def scalar_metrics(metrics: dict[str, Any], limit: int = 6) -> dict[str, float]:
    """Validation scores of a metrics.json: its top-level numbers (or those under ``val``)."""
    source = metrics.get("val") if isinstance(metrics.get("val"), dict) else metrics
    flat: dict[str, float] = {}
    for k, v in source.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or k in _NOT_SCORES:
            continue
        if np.isfinite(v):
            flat[k] = float(v)
    return dict(itertools.islice(flat.items(), limit))


def headline_metric(metrics: dict[str, Any]) -> tuple[str, float] | None:
    """The model's most telling validation score, for the model menu."""
    scores = scalar_metrics(metrics, limit=100)
    for wanted in ("auc", "roc_auc", "balanced_accuracy", "accuracy", "acc", "kappa"):
        if wanted in scores:
            return f"val {wanted}", scores[wanted]
    return None


def _task_of(dataset: str | None) -> str | None:
    for task, spec in TASKS.items():
        if dataset in spec["datasets"]:
            return task
    return None


def read_model_entry(folder: Path) -> ModelEntry:
    """Describe the model in ``folder`` from its metrics.json and calibration.json."""
    from xai_lab.data import INFO

    notes: list[str] = []
    metrics = _read_json(folder / "metrics.json", notes)
    calibration = _read_json(folder / "calibration.json", notes)
    dataset = None
    for source in (metrics, calibration):
        for key in ("dataset", "dataset_name"):
            if isinstance(source.get(key), str):
                dataset = dataset or source[key]
    labels = (metrics.get("label_names") or calibration.get("label_names")
              or metrics.get("classes"))
    if not (isinstance(labels, list) and all(isinstance(s, str) for s in labels)):
        labels = list(INFO[dataset]["label_names"]) if dataset in INFO else []
    if dataset is None:
        notes.append("metrics.json does not name the dataset: the task is unknown")

    from xai_lab.training.recipes import CalibrationFileError, check_calibration

    temperature = threshold = None
    if calibration:
        try:  # the one check of calibration files (also used by `xai-lab evaluate`)
            checked = check_calibration(calibration, source="calibration.json")
        except CalibrationFileError as exc:
            notes.append(f"{exc}; the calibration is ignored")
        else:
            temperature = checked["temperature"] if "temperature" in calibration else None
            threshold = checked["threshold"]
    if not calibration:
        notes.append("no calibration.json: probabilities are the raw softmax")
    return ModelEntry(
        name=folder.name,
        path=folder,
        dataset=dataset,
        task=_task_of(dataset),
        label_names=[str(s) for s in labels],
        metrics=metrics,
        temperature=temperature,
        threshold=threshold,
        notes=notes,
    )


def find_models(models_dir: Path | None, task: str | None = None) -> list[ModelEntry]:
    """Model folders (holding ``model.keras``) in ``models_dir`` and its subfolders, by name.

    With ``task``, only the models trained on one of that task's datasets (or on an unknown
    dataset) are returned.
    """
    if models_dir is None or not Path(models_dir).is_dir():
        return []
    root = Path(models_dir)
    folders = [root] if (root / "model.keras").is_file() else []
    folders += sorted(p.parent for p in root.glob("*/model.keras") if p.is_file())
    entries = [read_model_entry(f) for f in folders]
    if task is not None:
        entries = [e for e in entries if e.task in (task, None)]
    return entries


# ------------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One analysed image: what the model saw, what it said and why."""

    name: str
    original: np.ndarray  # uint8 (H, W, C) as read
    image: np.ndarray  # float32 (h, w, c) model input in [0, 1]
    logits: np.ndarray  # (K,)
    probabilities: np.ndarray  # calibrated (K,)
    predicted: int
    label_names: list[str]
    explanations: dict[str, Any] = field(default_factory=dict)  # method -> Explanation
    failures: dict[str, str] = field(default_factory=dict)  # method -> why it failed
    notes: list[str] = field(default_factory=list)
    true_label: int | None = None
    _class_maps: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)

    def class_name(self, k: int) -> str:
        return self.label_names[k] if 0 <= k < len(self.label_names) else f"class {k}"

    def ranked(self) -> list[int]:
        return [int(k) for k in np.argsort(-self.probabilities, kind="stable")]


def softmax(z: np.ndarray) -> np.ndarray:
    """Class probabilities of one image's (K,) logits (:func:`xai_lab.models.probabilities`)."""
    from xai_lab.models import probabilities

    z = np.asarray(z)
    return probabilities(z.reshape(1, -1))[0] if z.ndim == 1 else probabilities(z)


def _resize_float(m: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.asarray(m, dtype=np.float32), mode="F")
    return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def display_image(case: Case, size: int = DISPLAY_SIZE) -> np.ndarray:
    """The image the model saw, enlarged for display (uint8 RGB)."""
    from xai_lab.data import resize
    from xai_lab.viz import as_rgb_uint8

    channels = case.image.shape[-1]
    base = resize(case.original, (size, size), channels=channels)
    return as_rgb_uint8(base)


def map_overlay(case: Case, heatmap: np.ndarray, alpha: float, size: int = DISPLAY_SIZE,
                cmap: str | None = None) -> np.ndarray:
    """A map (at model resolution) upsampled and blended over the displayed image."""
    from xai_lab.viz import overlay

    heat = _resize_float(heatmap, size)
    if cmap is None:
        cmap = "RdBu_r" if float(np.min(heatmap)) < 0 else "jet"
    return overlay(display_image(case, size), heat, alpha=float(alpha), cmap=cmap)


def _safe_filename(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem)[:60].strip("._")
    return stem or "case"


# ------------------------------------------------------------------------------- the app
class ExplorerApp:
    """Predictions and explanations of medical images for clinicians, without code.

    Parameters
    ----------
    models_dir : path-like or None
        The folder searched for models written by ``xai-lab train`` (``*/model.keras``);
        the default recipe trains into it when it holds none.
    max_upload_bytes : int
        Uploads larger than this are refused before decoding.
    methods : sequence of str
        Explainer registry names shown side by side.
    explainer_settings : dict, optional
        Settings per method passed to :func:`xai_lab.explain.get`.
    train_epochs : int, optional
        Epochs for the "train the default model" button (default: the recipe's).
    """

    def __init__(
        self,
        models_dir: str | Path | None,
        *,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        methods: tuple[str, ...] | list[str] = tuple(METHODS),
        explainer_settings: dict[str, dict[str, Any]] | None = None,
        train_epochs: int | None = None,
    ) -> None:
        self.models_dir = Path(models_dir).expanduser() if models_dir else None
        self.max_upload_bytes = int(max_upload_bytes)
        self.methods = list(methods)
        self.explainer_settings = dict(explainer_settings or {})
        self.train_epochs = train_epochs
        self.entry: ModelEntry | None = None
        self.model: Any = None
        self.case: Case | None = None
        self._explainers: dict[str, Any] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="xai-lab-uploads-")
        self._counter = itertools.count()
        self._samples: dict[tuple[str, str, int], Any] = {}
        self._widget: Any = None

    # -------------------------------------------------------------- construction / cleanup
    @classmethod
    def from_environment(cls, **kwargs: Any) -> ExplorerApp:
        """The app for the models folder given by ``xai-lab explorer --models``."""
        from .serve import models_dir_from_environment

        return cls(models_dir_from_environment(), **kwargs)

    @property
    def upload_dir(self) -> Path:
        """The temporary folder that holds an upload while it is decoded."""
        return Path(self._tmp.name)

    def close(self) -> None:
        """Remove the temporary folder (also done when the app is garbage collected)."""
        self._tmp.cleanup()

    def __enter__(self) -> ExplorerApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- models
    def find_models(self, task: str | None = None) -> list[ModelEntry]:
        """Models in the models folder, for ``task`` (or all)."""
        return find_models(self.models_dir, task)

    def select_model(self, entry: ModelEntry | str | Path) -> ModelEntry:
        """Load a model (safe mode) and make it the current one."""
        from xai_lab import models

        if not isinstance(entry, ModelEntry):
            entry = read_model_entry(Path(entry))
        try:
            model = models.load(entry.model_file)
        except (models.ModelFileError, OSError) as exc:
            raise ExplorerError(f"Cannot load the model {entry.name!r}: {exc}") from exc
        try:
            n_out = models.output_classes(model)
        except models.ModelOutputError as exc:
            raise ExplorerError(f"Cannot use the model {entry.name!r}: {exc}") from exc
        if not entry.label_names or len(entry.label_names) != n_out:
            if entry.label_names:
                entry.notes.append(
                    f"the dataset has {len(entry.label_names)} classes but the model outputs {n_out}"
                )
            entry.label_names = [f"class {k}" for k in range(n_out)]
        self.entry, self.model, self.case = entry, model, None
        self._explainers.clear()
        return entry

    def default_dataset(self, task: str) -> str:
        return TASKS[task]["datasets"][0]

    def train_default_model(
        self, task: str, on_epoch: Callable[[int, int, dict[str, Any]], None] | None = None
    ) -> ModelEntry:
        """Train the default recipe for ``task`` into the models folder, then select it.

        ``on_epoch(epoch, epochs, logs)`` is called after every epoch (a progress bar).
        """
        import keras

        from xai_lab.training import recipes

        if self.models_dir is None:
            raise ExplorerError("No models folder was given (xai-lab explorer --models DIR).")
        dataset = self.default_dataset(task)
        out_dir = self.models_dir / f"{dataset}-default"
        epochs = self.train_epochs

        class Progress(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                if on_epoch is not None:
                    total = int(self.params.get("epochs") or epochs or epoch + 1)
                    on_epoch(epoch + 1, total, dict(logs or {}))

        recipes.train_default(
            dataset, out_dir, epochs=None if epochs is None else int(epochs), callbacks=[Progress()]
        )
        if not (out_dir / "model.keras").is_file():
            raise ExplorerError(f"training finished but wrote no model into {out_dir}")
        return self.select_model(read_model_entry(out_dir))

    def _require_model(self) -> None:
        if self.model is None or self.entry is None:
            raise ExplorerError("Choose a model first (or train the default one).")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        self._require_model()
        h, w, c = (int(d) if d is not None else 0 for d in self.model.inputs[0].shape[1:])
        return h, w, c

    # -------------------------------------------------------------- inputs
    def read_upload(self, name: str, content: bytes | memoryview) -> np.ndarray:
        """Decode an uploaded file as a uint8 (H, W, C) image, or raise :class:`ExplorerError`.

        The bytes go to a file in the app's temporary folder, which is deleted right after
        decoding; nothing uploaded is ever executed.
        """
        from xai_lab.data import ImageReadError, read_image

        name = str(name or "upload")
        size = len(content)
        if size > self.max_upload_bytes:
            raise ExplorerError(
                f"{name!r} is too large: {size / 2**20:.1f} MiB; the limit is "
                f"{self.max_upload_bytes / 2**20:.1f} MiB. Upload a smaller PNG, JPEG or DICOM file."
            )
        suffix = Path(name).suffix.lower()
        if suffix and suffix not in UPLOAD_EXTENSIONS:
            raise ExplorerError(
                f"{name!r} is not a PNG, JPEG or DICOM file (extension {suffix!r}); "
                f"accepted: {', '.join(UPLOAD_EXTENSIONS)}."
            )
        path = self.upload_dir / f"upload-{next(self._counter)}{suffix or '.bin'}"
        try:
            path.write_bytes(bytes(content))
            return read_image(path, max_bytes=self.max_upload_bytes, name=name)
        except ImageReadError as exc:  # its message names the file and what is wrong
            raise ExplorerError(str(exc)) from exc
        finally:
            path.unlink(missing_ok=True)

    def sample(self, source: str = "dataset", index: int = 0) -> tuple[np.ndarray, str, int | None]:
        """A sample image for the current model's task: (uint8 image, name, true label).

        ``source`` is ``"dataset"`` (the validation split of the model's dataset, found by
        :func:`xai_lab.data.load_best`, which falls back to phantoms) or ``"phantom"``.
        """
        from xai_lab import data

        self._require_model()
        h, _, _ = self.input_shape
        task = self.entry.task or "pneumonia"
        if source == "phantom":
            key = ("phantom", task, h)
            if key not in self._samples:
                ds = data.phantoms.make(TASKS[task]["phantom"], 32, size=h, seed=0)
                self._samples[key] = (ds, "synthetic phantom")
        elif source == "dataset":
            dataset = self.entry.dataset or self.default_dataset(task)
            key = ("dataset", dataset, h)
            if key not in self._samples:
                try:
                    self._samples[key] = data.load_best(dataset, split="val", size=h)
                except (OSError, ValueError) as exc:
                    raise ExplorerError(f"Cannot load samples of {dataset!r}: {exc}") from exc
        else:
            raise ExplorerError(f"unknown sample source {source!r}; choose dataset or phantom")
        ds, description = self._samples[key]
        if len(ds) == 0:
            raise ExplorerError(f"no samples in {description}")
        i = int(index) % len(ds)
        label = int(ds.labels[i])
        return ds.images[i], f"{ds.name} {ds.split} #{i} ({description})", label

    # -------------------------------------------------------------- analysis
    def _explainer(self, method: str) -> Any:
        if method not in self._explainers:
            from xai_lab import explain

            settings = dict(self.explainer_settings.get(method, {}))
            self._explainers[method] = explain.get(method, **settings)
        return self._explainers[method]

    def prepare(self, image: np.ndarray, name: str = "image") -> tuple[np.ndarray, list[str]]:
        """The model input (float32 (h, w, c) in [0, 1]) for an image, with notes on changes.

        Raises :class:`ExplorerError` when the image is too far from the model's input size
        (it would be enlarged more than :data:`MAX_UPSCALE` times, or is tiny or oddly shaped).
        """
        from xai_lab.data import ImageReadError, prepare_for_model

        h, w, c = self.input_shape
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = arr[..., None]
        h0, w0 = arr.shape[:2]
        if h0 * MAX_UPSCALE < h or w0 * MAX_UPSCALE < w:
            raise ExplorerError(
                f"{name!r} is {h0} x {w0} pixels: too small for this model, whose input is "
                f"{h} x {w}; it would have to be enlarged more than {MAX_UPSCALE:g} times. "
                "Upload the original, full-resolution image."
            )
        try:
            x = prepare_for_model(arr, (h, w, c))[0]
        except ImageReadError as exc:
            raise ExplorerError(f"Cannot use {name!r}: {exc}") from exc
        notes = []
        if (h0, w0) != (h, w):
            notes.append(f"resized from {h0} x {w0} to the model's {h} x {w} pixels")
            ratio = max(h0, w0) / max(1, min(h0, w0))
            if ratio > 1.5:
                notes.append(f"the image is not square (aspect ratio {ratio:.1f}:1) and was stretched")
        if arr.shape[-1] != c:
            kinds = {1: "grey", 3: "colour", 4: "colour with transparency"}
            notes.append(f"converted from {kinds.get(arr.shape[-1], '?')} to "
                         f"{kinds.get(c, '?')} for this model")
        return x, notes

    def analyse(self, image: np.ndarray, name: str = "image", true_label: int | None = None) -> Case:
        """Predict (calibrated probabilities) and explain the predicted class with each method."""
        from xai_lab.explain import UnsupportedModelError
        from xai_lab.explain.base import predict_logits

        self._require_model()
        x, notes = self.prepare(image, name)
        logits = predict_logits(self.model, x[None])[0]  # log-probabilities for a softmax model
        temperature = self.entry.temperature or 1.0
        probs = softmax(logits / temperature)
        predicted = int(np.argmax(probs))
        if self.entry.threshold is not None and len(probs) == 2:
            predicted = int(probs[1] >= self.entry.threshold)
        original = np.asarray(image)
        if original.ndim == 2:
            original = original[..., None]
        case = Case(
            name=name, original=original, image=x, logits=logits, probabilities=probs,
            predicted=predicted, label_names=list(self.entry.label_names), notes=notes,
            true_label=true_label,
        )
        for method in self.methods:
            try:
                e = self._explainer(method).explain(self.model, x[None], target=predicted)
            except (UnsupportedModelError, ValueError, KeyError, TypeError) as exc:
                case.failures[method] = f"{type(exc).__name__}: {exc}"
                continue
            case.explanations[method] = e
            case._class_maps[(method, predicted)] = e.maps[0]
        self.case = case
        return case

    def handle_upload(self, name: str, content: bytes | memoryview) -> Case:
        """Read and analyse an uploaded file (the upload widget's handler)."""
        self._require_model()
        image = self.read_upload(name, content)
        return self.analyse(image, name)

    def class_map(self, case: Case, method: str, target: int) -> np.ndarray:
        """The map of ``method`` explaining class ``target`` (cached per case)."""
        key = (method, int(target))
        if key not in case._class_maps:
            self._require_model()
            e = self._explainer(method).explain(self.model, case.image[None], target=int(target))
            case._class_maps[key] = e.maps[0]
        return case._class_maps[key]

    def contrast(self, case: Case, class_a: int, class_b: int, method: str = "gradcam") -> np.ndarray:
        """Why ``class_a`` rather than ``class_b``: the difference of the two class maps.

        Positive where the image holds more evidence for ``class_a`` than for ``class_b``
        (Grad-CAM's counterfactual reading, Selvaraju et al. 2017, section 5.4; contrastive
        explanations, Prabhushankar et al. 2020, https://arxiv.org/abs/2008.00178).
        Both maps are divided by the larger of their absolute maxima, so the difference lies in
        [-1, 1] for non-negative maps (Grad-CAM, deep Taylor) and in [-2, 2] for signed ones
        (SHAP), and is comparable between cases.
        """
        n = len(case.probabilities)
        for k in (class_a, class_b):
            if not 0 <= int(k) < n:
                raise ExplorerError(f"class {k} is outside 0..{n - 1}")
        if int(class_a) == int(class_b):
            raise ExplorerError("choose two different classes to contrast")
        a = self.class_map(case, method, class_a).astype(np.float64)
        b = self.class_map(case, method, class_b).astype(np.float64)
        scale = max(float(np.abs(a).max()), float(np.abs(b).max()))
        diff = (a - b) / scale if scale > 0 else np.zeros_like(a)
        return diff.astype(np.float32)

    # -------------------------------------------------------------- output
    def overlays(self, case: Case, alpha: float = 0.5) -> dict[str, np.ndarray]:
        """Each method's map over the displayed image (uint8 RGB, DISPLAY_SIZE square)."""
        return {m: map_overlay(case, e.maps[0], alpha) for m, e in case.explanations.items()}

    def prediction_html(self, case: Case) -> str:
        rows = []
        for k in case.ranked():
            p = float(case.probabilities[k])
            mark = " ◀ predicted" if k == case.predicted else ""
            rows.append(
                f"<tr><td>{html.escape(case.class_name(k))}</td><td>{p:.3f}</td>"
                f"<td><span class='xai-bar' style='width:{max(1, round(160 * p))}px'></span>"
                f"{mark}</td></tr>"
            )
        calib = (
            f"calibrated with temperature {self.entry.temperature:.3g}"
            if self.entry and self.entry.temperature else "uncalibrated softmax"
        )
        truth = (
            f"<div class='xai-note'>Known label: {html.escape(case.class_name(case.true_label))}</div>"
            if case.true_label is not None else ""
        )
        notes = "".join(f"<div class='xai-note'>Note: {html.escape(n)}</div>" for n in case.notes)
        failures = "".join(
            f"<div class='xai-note'>{html.escape(METHODS.get(m, m))} unavailable: "
            f"{html.escape(msg)}</div>" for m, msg in case.failures.items()
        )
        threshold = self.entry.threshold if self.entry else None
        if threshold is not None and len(case.probabilities) == 2:
            p1 = float(case.probabilities[1])
            rule = (f"P({case.class_name(1)}) = {p1:.3f} "
                    f"{'≥' if p1 >= threshold else '<'} decision threshold {threshold:.3f}")
        else:
            rule = f"probability {float(case.probabilities[case.predicted]):.1%}"
        return (
            f"<div class='xai-prediction-box'><div class='xai-predicted'>Prediction: "
            f"{html.escape(case.class_name(case.predicted))} "
            f"<span class='xai-rule'>({html.escape(rule)})</span></div>"
            f"<div class='xai-note'>{html.escape(case.name)} — probabilities {calib}</div>"
            f"<table class='xai-prob-table'>{''.join(rows)}</table>{truth}{notes}{failures}</div>"
        )

    def report_html(self, case: Case, alpha: float = 0.5,
                    contrast: tuple[int, int, str] | None = None) -> str:
        """The case as one self-contained HTML document (images embedded)."""
        from xai_lab.report.html import HtmlReport

        self._require_model()
        entry = self.entry
        report = HtmlReport(
            f"XAI Lab case: {case.name}",
            f"Model {entry.name} trained on {entry.dataset or 'an unknown dataset'}",
        )
        report.banner(BANNER, "warning")
        report.heading("Prediction")
        report.paragraph(
            f"Predicted class: {case.class_name(case.predicted)} "
            f"(probability {float(case.probabilities[case.predicted]):.3f}"
            + (f"; binary decision threshold {entry.threshold:.3f} on "
               f"P({case.class_name(1)})" if entry.threshold is not None
               and len(case.probabilities) == 2 else "")
            + ")."
        )
        report.table(
            [{"class": case.class_name(k), "probability": float(case.probabilities[k])}
             for k in case.ranked()],
            caption="Calibrated probabilities" if entry.temperature else "Softmax probabilities",
        )
        for note in case.notes:
            report.paragraph(f"Note: {note}")
        report.heading("Explanations of the predicted class")
        items = [(display_image(case), "image as the model saw it")]
        items += [(img, METHODS.get(m, m)) for m, img in self.overlays(case, alpha).items()]
        report.image_grid(items, columns=len(items), width=200)
        for method, msg in case.failures.items():
            report.paragraph(f"{METHODS.get(method, method)} unavailable: {msg}")
        if contrast is not None:
            a, b, method = contrast
            diff = self.contrast(case, a, b, method)
            report.heading("Contrast")
            report.image(
                map_overlay(case, diff, alpha, cmap="RdBu_r"),
                f"{METHODS.get(method, method)}: why {case.class_name(a)} rather than "
                f"{case.class_name(b)} (red: evidence for {case.class_name(a)}, blue: for "
                f"{case.class_name(b)})",
                width=260,
            )
        metrics = scalar_metrics(entry.metrics)
        if metrics:
            report.heading("Model")
            report.table([{"metric": k, "value": v} for k, v in metrics.items()])
        return report.render()

    def report_link_html(self, case: Case, alpha: float = 0.5,
                         contrast: tuple[int, int, str] | None = None) -> str:
        """An ``<a download>`` link holding the report as a data: URI."""
        doc = self.report_html(case, alpha, contrast)
        uri = "data:text/html;base64," + base64.b64encode(doc.encode("utf-8")).decode("ascii")
        filename = f"xai-lab-{_safe_filename(case.name)}.html"
        return (
            f"<a class='xai-download-link' download='{html.escape(filename)}' href='{uri}'>"
            f"⬇ Download this case as an HTML report ({len(doc) // 1024} KiB)</a>"
        )

    # -------------------------------------------------------------- user interface
    @property
    def widget(self) -> Any:
        """The ipywidgets user interface (built on first use)."""
        if self._widget is None:
            from .ui import ExplorerUI

            self._widget = ExplorerUI(self)
        return self._widget.root

    @property
    def ui(self) -> Any:
        """The :class:`~xai_lab.app.ui.ExplorerUI` (its widgets, for tests)."""
        _ = self.widget
        return self._widget

    def show(self) -> None:
        """Display the app (in a notebook or a Voila page)."""
        import plotly.io as pio
        from IPython.display import display

        pio.renderers.default = "plotly_mimetype"  # renders offline, see ../shared/notes
        display(self.widget)
