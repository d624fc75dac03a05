"""``xai-lab demo``: the main job, end to end in a few minutes on a laptop.

Trains the default small CNN on pneumonia (PneumoniaMNIST, 28 x 28), measures it on the
validation split, explains a handful of held-back validation images with every registered
explainer, and writes one self-contained HTML report that tells the story in order: a model
card (sensitivity and specificity at the decision threshold with counts, AUC, calibration in
a sentence), what the training curves show, the ROC curve, then the images with the four main
methods (Grad-CAM, SHAP, deep Taylor, integrated gradients) drawn at the model's resolution
with colour bars and one-line meanings, every registered method in a collapsed section, and
the time per image measured after each method's warm-up (reported apart).

Data comes from the best place reachable, in this order: ``XAI_LAB_DATA_DIR``, the local
cache, a download of PneumoniaMNIST from its public source, and, offline, the built-in phantom
radiographs; one line says which was used.
"""

from __future__ import annotations

import argparse
import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _args
from .html import HtmlReport, image_tile, map_tile

#: Settings that keep the slow methods to seconds on 28 x 28 images (the demo's budget).
#: Epochs of the pneumonia recipe's CNN in the demo: about 90 s on 2 cores, so that the whole
#: demo stays under 3 minutes (``xai-lab train --dataset pneumoniamnist`` runs the full recipe).
DEMO_EPOCHS = 8

DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "smoothgrad": {"n_samples": 16},
    "integrated_gradients": {"steps": 32},
    "occlusion": {"patch_size": 6, "stride": 3},
    "shap": {"algorithm": "gradient", "nsamples": 32},
    "tfexplain.smoothgrad": {"num_samples": 16},
    "tfexplain.integrated_gradients": {"n_steps": 32},
    "tfexplain.occlusion": {"patch_size": 6},
}


#: The methods shown for every image (the others are in the collapsed full grid).
MAIN_METHODS = ("gradcam", "shap", "deep_taylor", "integrated_gradients")
#: Images shown with the main methods (the full grid shows all explained images).
MAIN_IMAGES = 4
#: Display size of a tile in pixels (images are enlarged by whole factors towards it).
TILE = 168
SMALL_TILE = 96


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=_args.not_a_file, default="xai-lab-output",
                        help="output folder (default: %(default)s)")
    parser.add_argument("--images", type=_args.positive_int, default=6, help="validation images to explain")
    parser.add_argument(
        "--epochs", type=_args.positive_int, default=DEMO_EPOCHS, help="training epochs (default: %(default)s)"
    )
    parser.add_argument("--seed", type=_args.seed, default=None, help="random seed (default: XAI_LAB_SEED or 0)")
    parser.add_argument("--data-dir", type=_args.existing_dir, default=None,
                        help="folder with the dataset files (else XAI_LAB_DATA_DIR)")


def check_demo_arguments(args: argparse.Namespace) -> None:
    """Before any work: ``--out`` may receive a run (new, empty, or a previous demo's)."""
    from ..training.recipes import OutputFolderError, check_out_dir

    try:
        check_out_dir(args.out)
    except OutputFolderError as exc:
        raise _args.UsageError(f"--out: {exc}") from exc


def run_demo(args: argparse.Namespace) -> int:
    path = demo(
        out_dir=args.out,
        n_images=args.images,
        epochs=args.epochs,
        seed=args.seed,
        data_dir=args.data_dir,
    )
    print(f"report: {path.resolve()}")
    return 0


def _pick_images(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` validation indices, alternating classes so both are shown."""
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    picked: list[int] = []
    i = 0
    while len(picked) < min(n, len(labels)):
        group = by_class[i % len(by_class)]
        k = i // len(by_class)
        if k < len(group):
            picked.append(int(group[k]))
        i += 1
        if i > 10 * n + len(labels):
            break
    return np.array(picked, dtype=np.int64)


def demo(
    out_dir: str | Path = "xai-lab-output",
    n_images: int = 6,
    epochs: int | None = DEMO_EPOCHS,
    seed: int | None = None,
    data_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the demo and return the path of the HTML report.

    Parameters
    ----------
    out_dir : path-like
        Folder for ``report.html``, ``model.keras`` and ``metrics.json``.
    n_images : int
        Number of validation images to explain (classes alternate).
    epochs : int, optional
        Training epochs (``None``: the pneumonia recipe's; fewer in fast mode).
    seed : int, optional
        Random seed (default ``XAI_LAB_SEED`` or 0).
    data_dir : path-like, optional
        A folder holding ``pneumoniamnist.npz`` (else ``XAI_LAB_DATA_DIR``, cache, download,
        phantoms).
    """
    from .. import config, data, models, training

    started = time.perf_counter()
    seed = config.seed() if seed is None else int(seed)
    if int(n_images) < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    train, source = data.load_best("pneumoniamnist", "train", data_dir=data_dir)
    val, _ = data.load_best("pneumoniamnist", "val", data_dir=data_dir)
    log(f"data: {source}")

    if config.fast_mode():
        train = train.subset(np.random.default_rng(seed).permutation(len(train))[:600])
    trained = training.recipes.train_on(
        "pneumoniamnist", train, val, out_dir=out, epochs=epochs, seed=seed
    )
    model = trained["model"]
    log(
        f"trained {trained['fit']['model']} for {trained['fit']['epochs_run']} epochs in "
        f"{trained['fit']['seconds']:.0f} s"
    )
    calibration = trained["calibration"]
    probs = models.predict_proba(model, val.images, temperature=calibration["temperature"])
    decided = decisions(probs, calibration.get("threshold"))

    idx = _pick_images(val.labels, n_images, seed)
    run = explain_all(model, val.images[idx], decided[idx], background=train.images[:16])
    log(f"explained {len(idx)} images with {len(run.explanations)} methods "
        f"({len(run.skipped)} not applicable)")
    report = build_report(
        run,
        images=val.images[idx],
        indices=idx,
        labels=val.labels[idx],
        probabilities=probs[idx],
        label_names=list(val.label_names),
        metrics=trained["metrics"],
        calibration=calibration,
        history=trained["history"],
        fit=trained["fit"],
        roc=(val.labels, probs),
        source=source,
        seed=seed,
    )
    report.paragraph(f"Total run time {time.perf_counter() - started:.0f} s (training, "
                     "explanations and this report, on this machine).", "note")
    return report.save(out / "report.html")


def decisions(probabilities: np.ndarray, threshold: float | None) -> np.ndarray:
    """The class the model decides on: ``P(class 1) >= threshold`` for a binary model with a
    threshold, else the most probable class."""
    p = np.asarray(probabilities, dtype=np.float64)
    if threshold is not None and p.shape[1] == 2:
        return (p[:, 1] >= float(threshold)).astype(np.int64)
    return p.argmax(axis=1).astype(np.int64)


@dataclass
class ExplainedImages:
    """Every method's explanation of the same images, its warm-up time, and what it refused."""

    explanations: dict[str, Any] = field(default_factory=dict)
    warmup_seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def explain_all(model: Any, images: np.ndarray, targets: np.ndarray,
                background: np.ndarray | None = None,
                methods: Sequence[str] | None = None) -> ExplainedImages:
    """Explain ``images`` for ``targets`` with every registered method (or ``methods``).

    Each method is first called once on one image, untimed for the table (its "warm-up": it
    builds and compiles the method's graph, and the very first call also pays for starting
    TensorFlow's kernels); that time is kept apart in ``warmup_seconds``. The explanation's
    own ``seconds`` are then the time of the method alone on all images.
    """
    from .. import explain
    from ..explain import UnsupportedModelError

    run = ExplainedImages()
    for name in methods or explain.available():
        settings = dict(DEMO_SETTINGS.get(name, {}))
        if name == "shap" and background is not None:
            # Background: training images (the expectation SHAP values are measured against).
            settings["background"] = background
        explainer = explain.get(name, **settings)
        try:
            start = time.perf_counter()
            explainer.explain(model, images[:1], target=targets[:1])
            run.warmup_seconds[name] = time.perf_counter() - start
            run.explanations[name] = explainer.explain(model, images, target=targets)
        except UnsupportedModelError as exc:
            run.skipped[name] = str(exc)
    return run


def build_report(
    run: ExplainedImages,
    *,
    images: np.ndarray,
    indices: Sequence[int],
    labels: Sequence[int],
    probabilities: np.ndarray,
    label_names: Sequence[str],
    metrics: dict[str, Any],
    calibration: dict[str, Any],
    history: dict[str, Sequence[float]],
    fit: dict[str, Any],
    roc: tuple[np.ndarray, np.ndarray] | None = None,
    source: str = "",
    seed: int | None = None,
) -> HtmlReport:
    """The demo's story as an :class:`HtmlReport` (see the module docstring for its order)."""
    from .. import viz

    threshold = calibration.get("threshold")
    h, w = (int(d) for d in images.shape[1:3])
    report = HtmlReport(
        "XAI Lab demo: pneumonia on chest X-rays",
        subtitle=f"{source}" if source else None,
    )
    report.banner("For education and research. Not a medical device.")

    # ------------------------------------------------------------------ the model card
    report.heading("The model")
    report.paragraph(
        f"A small convolutional network ({fit.get('model', 'cnn')}) trained on "
        f"{fit.get('n_train', '?')} images of {h} x {w} pixels and measured on "
        f"{fit.get('n_val', metrics.get('n', '?'))} validation images it never trained on "
        "(the test images are held back)."
    )
    rows, sentences = model_card(metrics, threshold, label_names)
    report.table(rows, columns=["measure", "value", "what it counts"])
    for sentence in sentences:
        report.paragraph(sentence)
    report.heading("How it was trained", level=3)
    report.table(run_rows(fit, source, seed, (h, w)), columns=["", "value"])
    report.figure(viz.training_curves(history, title="training curves"),
                  caption=curves_sentence(history, fit))
    if roc is not None and threshold is not None and len(label_names) == 2:
        y, p = roc
        report.figure(
            viz.roc_figure(y, p[:, 1], name="model", threshold=threshold),
            caption=("ROC curve on the validation images: every threshold on the probability of "
                     f"{label_names[1]} gives one point (sensitivity against 1 - specificity); "
                     "the red dot is the decision threshold the model uses."),
        )

    # ------------------------------------------------------------------ the maps
    main = [m for m in MAIN_METHODS if m in run.explanations]
    report.heading("What the model looked at")
    report.paragraph(
        "Each row is one validation image, as the model saw it "
        f"({h} x {w} pixels, enlarged without smoothing: every block is one pixel of the "
        "model's input), followed by maps that explain the class the model decided on. Each "
        "map is drawn at the resolution it has (Grad-CAM's map is the coarse grid of the "
        "layer it explains), and its colour bar says what its colours mean; where a map is "
        "zero everywhere the tile says why. Maps of different methods measure different "
        "things and are each scaled on their own."
    )
    if main:
        first = run.explanations[main[0]]
        legend = "".join(
            f"<div><b>{html.escape(run.explanations[m].title)}</b>: "
            f"{html.escape(run.explanations[m].meaning.replace('the explained class', 'the decided class'))}"
            "</div>" for m in main
        )
        report.raw_html(f'<div class="xai-legend">{legend}</div>')
        for j in range(min(MAIN_IMAGES, len(first))):
            tiles = [image_tile(images[j], _image_caption(j, indices, labels, probabilities,
                                                          run.explanations[main[0]], label_names,
                                                          threshold), TILE)]
            tiles += [map_tile(run.explanations[m], j, label_names, TILE) for m in main]
            report.row(tiles)
    report.details(
        f"All {len(run.explanations)} methods that apply to this model, on the same "
        f"{len(images)} images (click to open)",
        full_grid(run, images, indices, labels, label_names),
    )

    # ------------------------------------------------------------------ time
    report.heading("Time per image")
    report.paragraph(
        "Measured in this run on this machine, for the images above. Each method was first "
        "called once on one image, timed apart as its warm-up: that call builds and compiles "
        "the method's graph (and the very first call also starts TensorFlow's kernels). "
        "Time per image is the method alone on all images after that (without the forward "
        "pass that gives the prediction, except for deep Taylor and LRP, whose own pass "
        "gives it)."
    )
    order = main + [m for m in run.explanations if m not in main]
    report.table(
        [{"method": run.explanations[m].title,
          "ms per image": 1000 * run.explanations[m].seconds / max(len(run.explanations[m]), 1),
          "warm-up (first call, 1 image), ms": 1000 * run.warmup_seconds.get(m, float("nan"))}
         for m in order],
        columns=["method", "ms per image", "warm-up (first call, 1 image), ms"],
    )
    return report


def model_card(metrics: dict[str, Any], threshold: float | None,
               label_names: Sequence[str]) -> tuple[list[dict[str, str]], list[str]]:
    """Rows (measure, value, what it counts) and plain sentences for a model's validation
    figures: sensitivity and specificity at the decision threshold with their counts, the
    AUC, accuracy, and calibration in one sentence (no unexplained abbreviations)."""
    rows: list[dict[str, str]] = []
    sentences: list[str] = []
    n = int(metrics.get("n", 0))
    cm = np.asarray(metrics.get("confusion_matrix", []))
    binary = len(label_names) == 2 and cm.shape == (2, 2)
    if binary:
        neg, pos = label_names[0], label_names[1]
        tn, fp, fn, tp = (int(v) for v in cm.ravel())
        rows.append({"measure": "Sensitivity",
                     "value": _percent(tp, tp + fn),
                     "what it counts": f"{tp} of {tp + fn} {pos} images called {pos}"})
        rows.append({"measure": "Specificity",
                     "value": _percent(tn, tn + fp),
                     "what it counts": f"{tn} of {tn + fp} {neg} images called {neg}"})
    if isinstance(metrics.get("auc"), (int, float)) and np.isfinite(metrics["auc"]):
        rows.append({"measure": "Area under the ROC curve (AUC)", "value": f"{metrics['auc']:.3f}",
                     "what it counts": "how well the probability ranks the images: 0.5 is chance, "
                                       "1 is a perfect ranking" + (
                                           f" (the chance that a random {label_names[1]} image "
                                           f"scores higher than a random {label_names[0]} one)"
                                           if binary else "")})
    if binary:
        rows.append({"measure": "Accuracy at the threshold",
                     "value": _percent(tp + tn, n),
                     "what it counts": f"{tp + tn} of {n} images called correctly"})
        if threshold is not None:
            sentences.append(
                f"The model calls an image {pos} when its probability of {pos} is at least "
                f"{float(threshold):.2f}. This decision threshold was chosen on the same "
                "validation images to balance sensitivity and specificity (Youden's index), "
                "so these figures are somewhat optimistic."
            )
    elif "acc" in metrics:
        rows.append({"measure": "Accuracy", "value": f"{100 * float(metrics['acc']):.1f}\u00a0%",
                     "what it counts": f"share of {n} images whose most probable class is right"})
    ece = metrics.get("ece")
    if isinstance(ece, (int, float)) and np.isfinite(ece):
        sentences.append(
            "Calibration: when the model gives its answer a probability, it is right about that "
            f"often; on the validation images the stated probability and the observed share of "
            f"right answers differ by {100 * float(ece):.1f} percentage points on average "
            "(the probabilities were rescaled on these same images, which flatters this figure)."
        )
    return rows, sentences


def run_rows(fit: dict[str, Any], source: str, seed: int | None,
             size: tuple[int, int]) -> list[dict[str, Any]]:
    """What was run (metadata, kept apart from the measured figures)."""
    rows = [{"": "data", "value": source or "?"},
            {"": "image size", "value": f"{size[0]} x {size[1]} pixels"},
            {"": "training images", "value": str(fit.get("n_train", "?"))},
            {"": "validation images", "value": str(fit.get("n_val", "?"))}]
    if "epochs_run" in fit:
        kept = (f"; kept the model of epoch {fit['best_epoch']} (best validation "
                f"{_monitor_name(fit.get('monitor'))} {fit['best_value']:.3f})"
                if fit.get("best_epoch") and isinstance(fit.get("best_value"), (int, float)) else "")
        rows.append({"": "training", "value": f"{fit['epochs_run']} epochs in "
                                              f"{fit.get('seconds', float('nan')):.0f} s{kept}"})
    if fit.get("fast_mode"):
        rows.append({"": "mode", "value": "fast (XAI_LAB_FAST=1: fewer images and epochs)"})
    if seed is not None:
        rows.append({"": "random seed", "value": str(seed)})
    return rows


def curves_sentence(history: dict[str, Sequence[float]], fit: dict[str, Any]) -> str:
    """One line on what the training curves show, with the run's own numbers."""
    loss = np.asarray(history.get("loss", []), dtype=np.float64)
    val_loss = np.asarray(history.get("val_loss", []), dtype=np.float64)
    text = ("What the curves show: the loss (left) measures how wrong the model's probabilities "
            "are, on the training images (solid) and on the validation images it never trained "
            "on (dashed); the right panel shows validation accuracy and AUC per epoch.")
    if len(loss) > 1:
        text += f" The training loss went from {loss[0]:.2f} to {loss[-1]:.2f}."
    if fit.get("best_epoch") and isinstance(fit.get("best_value"), (int, float)):
        text += (f" The model kept is that of epoch {fit['best_epoch']}, with the best validation "
                 f"{_monitor_name(fit.get('monitor'))} ({fit['best_value']:.3f}).")
    if len(val_loss) > 1 and np.all(np.isfinite(val_loss)):
        jumps = val_loss[1:] / np.maximum(val_loss[:-1], 1e-12)
        k = int(np.argmax(jumps))
        if jumps[k] > 1.5:
            text += (f" The validation loss jumps at epoch {k + 2} ({val_loss[k]:.2f} to "
                     f"{val_loss[k + 1]:.2f}): the loss weighs a few confidently wrong answers "
                     "heavily, so it can rise while the ranking of images (AUC) holds; the "
                     "probabilities are rescaled on the validation images after training.")
    return text


def full_grid(run: ExplainedImages, images: np.ndarray, indices: Sequence[int],
              labels: Sequence[int], label_names: Sequence[str]) -> str:
    """Every method (columns, under display names) on every image (rows), as HTML."""
    names = list(run.explanations)
    head = "<tr><th>image</th>" + "".join(
        f"<th>{html.escape(run.explanations[m].title)}<br>"
        f"<span class='note'>{html.escape(_ends(run.explanations[m]))}</span></th>" for m in names
    ) + "</tr>"
    body = []
    for j in range(len(images)):
        cells = [f"<td>{image_tile(images[j], f'#{int(indices[j])}', SMALL_TILE)}</td>"]
        cells += [f"<td>{map_tile(run.explanations[m], j, label_names, SMALL_TILE, words=False, title=False, caption='')}</td>"
                  for m in names]
        body.append("<tr>" + "".join(cells) + "</tr>")
    table = f'<div class="xai-row"><table class="xai-grid">{head}{"".join(body)}</table></div>'
    if run.skipped:
        items = "".join(f"<li><b>{html.escape(m)}</b>: {html.escape(r)}</li>"
                        for m, r in run.skipped.items())
        table += f"<p>Not applicable to this model:</p><ul>{items}</ul>"
    return table


def _ends(e: Any) -> str:
    info = e.method_info
    low = info.low.replace("{target}", "the class")
    high = info.high.replace("{target}", "the class")
    return f"\u25c0 {low} \u00b7 {high} \u25b6"


def _image_caption(j: int, indices: Sequence[int], labels: Sequence[int], probabilities: np.ndarray,
                   e: Any, label_names: Sequence[str], threshold: float | None) -> str:
    t = int(e.targets[j])
    p = np.asarray(probabilities[j], dtype=np.float64)
    truth = label_names[int(labels[j])]
    if threshold is not None and len(p) == 2:
        rule = f"P({label_names[1]}) = {p[1]:.2f}, threshold {float(threshold):.2f}"
    else:
        rule = f"probability {p[t]:.2f}"
    return f"validation image #{int(indices[j])}; true: {truth}; model: {label_names[t]} ({rule})"


def _percent(k: int, n: int) -> str:
    return f"{100.0 * k / n:.1f}\u00a0%" if n else "n/a"


def _monitor_name(monitor: Any) -> str:
    names = {"val_auc": "AUC", "val_acc": "accuracy", "val_loss": "loss"}
    return names.get(str(monitor), str(monitor))
