"""``xai-lab demo``: the main job, end to end in a few minutes on a laptop.

Trains the default small CNN on pneumonia (PneumoniaMNIST, 28 x 28), measures it on the
validation split, explains a handful of held-back validation images with every registered
explainer, and writes a self-contained HTML report (plotly figures, overlaid maps, metrics).

Data comes from the best place reachable, in this order: ``XAI_LAB_DATA_DIR``, the local
cache, a download of PneumoniaMNIST from its public source, and, offline, the built-in phantom
radiographs; one line says which was used.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import _args

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
    from .. import config, data, explain, models, training, viz
    from ..explain import UnsupportedModelError
    from .html import HtmlReport

    started = time.perf_counter()
    seed = config.seed() if seed is None else int(seed)
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
    model, history = trained["model"], trained["history"]
    log(
        f"trained {trained['fit']['model']} for {trained['fit']['epochs_run']} epochs in "
        f"{trained['fit']['seconds']:.0f} s"
    )
    scores = trained["metrics"]
    probs = models.predict_proba(model, val.images, temperature=trained["calibration"]["temperature"])

    idx = _pick_images(val.labels, n_images, seed)
    images = val.images[idx]
    explanations: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in explain.available():
        settings = DEMO_SETTINGS.get(name, {})
        if name == "shap":
            # Background: 16 training images (the expectation SHAP values are measured against).
            settings = {**settings, "background": train.images[:16]}
        try:
            explanations[name] = explain.get(name, **settings).explain(model, images)
        except UnsupportedModelError as exc:
            skipped[name] = str(exc)
    log(f"explained {len(idx)} images with {len(explanations)} methods ({len(skipped)} not applicable)")

    report = HtmlReport(
        "XAI Lab demo: pneumonia on chest X-rays",
        subtitle=f"data: {source}; model: {trained['fit']['model']}; seed {seed}",
    )
    report.banner("For education and research. Not a medical device.")
    report.heading("Validation metrics")
    report.table([{"metric": k, "value": v} for k, v in scores.items() if np.isscalar(v)])
    report.figure(viz.training_curves(history), caption="Training curves")
    report.figure(viz.roc_figure(val.labels, probs[:, 1]), caption="ROC on the validation split")
    report.heading("Explanations of held-back validation images")
    label_names = val.label_names
    for j, i in enumerate(idx):
        p = probs[i]
        caption = (
            f"#{int(i)}: label {label_names[val.labels[i]]}, predicted "
            f"{label_names[int(p.argmax())]} ({p.max():.2f})"
        )
        items = [(val.images[i], caption)]
        for name, e in explanations.items():
            items.append((viz.overlay(val.images[i], e.maps[j], alpha=0.5), name))
        report.image_grid(items, columns=min(len(items), 7), width=112)
    report.heading("Time per image")
    report.table(
        [{"method": n, "ms per image": 1000 * e.seconds / max(len(e), 1)} for n, e in explanations.items()]
    )
    if skipped:
        report.heading("Not applicable to this model")
        report.table([{"method": n, "reason": r} for n, r in skipped.items()])
    report.paragraph(f"Total run time {time.perf_counter() - started:.0f} s.")
    path = report.save(out / "report.html")
    return path
