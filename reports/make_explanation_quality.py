"""Generate ``reports/explanation_quality.md``: how good are our explanations, measured.

Two runs, every number computed here and now (nothing is hard-coded):

(a) Phantom chest X-rays (``xai_lab.data.phantoms``, task "pneumonia") whose lesion masks are
    known pixel by pixel: a small CNN is trained on phantoms, then every available explainer
    is scored on correctly classified pneumonia phantoms with all four metric families
    (faithfulness, localisation against the masks, randomisation, robustness).
(b) Real PneumoniaMNIST validation images (``xai_lab.data.load_best``): a CNN trained on the
    training split, scored with faithfulness, model-parameter randomisation and robustness
    (there are no lesion masks).

Two control "explainers" that ignore the model (a Sobel edge map of the image, and a random
map seeded by the image's bytes) show what failing each test looks like.

Usage::

    python reports/make_explanation_quality.py          # the full run (a few minutes, 2 cores)
    python reports/make_explanation_quality.py --fast   # a smaller run (about a minute or two)

Figures: PNG files when ``kaleido`` is installed, else one HTML file of plotly figures that
loads plotly.js from its CDN (tables in the Markdown carry every number either way).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import os
import platform
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

HERE = Path(__file__).resolve().parent

PREFERRED = [
    "gradcam",
    "gradcam++",
    "saliency",
    "smoothgrad",
    "integrated_gradients",
    "occlusion",
    "shap",
    "deep_taylor",
    "deep_taylor.bounded",
    "lrp.epsilon",
]
#: Thresholds of the randomisation verdicts (mean Spearman rank correlation of |maps| between
#: the trained and the fully randomised model).
PASS_BELOW = 0.3
FAIL_ABOVE = 0.6


# ------------------------------------------------------------------------------ controls
def _controls() -> dict[str, Any]:
    from scipy import ndimage

    from xai_lab.explain import Explainer, MapResult

    class SobelEdges(Explainer):
        """Control: the gradient magnitude of the image; it never looks at the model."""

        name = "control: edges"

        def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
            gx = ndimage.sobel(x, axis=1, mode="nearest")
            gy = ndimage.sobel(x, axis=2, mode="nearest")
            return MapResult(maps=np.sqrt(gx**2 + gy**2).sum(axis=-1))

    class RandomMap(Explainer):
        """Control: uniform noise seeded by the image's bytes; it never looks at the model."""

        name = "control: random"

        def _explain(self, model: Any, x: np.ndarray, targets: np.ndarray) -> MapResult:
            maps = [
                np.random.default_rng(zlib.crc32(xi.tobytes())).random(xi.shape[:2]) for xi in x
            ]
            return MapResult(maps=np.stack(maps).astype(np.float32))

    return {"control: edges": SobelEdges(), "control: random": RandomMap()}


def _explainers(fast: bool) -> tuple[dict[str, Any], list[str]]:
    from xai_lab import explain

    available = set(explain.available())
    settings = {
        "smoothgrad": {"n_samples": 8 if fast else 16},
        "integrated_gradients": {"steps": 16 if fast else 32},
        "occlusion": {"patch_size": 4},
        "shap": {"algorithm": "gradient", "nsamples": 16 if fast else 32},
    }
    out: dict[str, Any] = {}
    missing = []
    for name in PREFERRED:
        if name not in available:
            missing.append(name)
            continue
        # keyed by the method's display name: every table and figure shows that name
        out[explain.method_info(name).title] = explain.get(name, **settings.get(name, {}))
    out.update(_controls())
    return out, missing


# ------------------------------------------------------------------------------ training
def _train(model: Any, train: Any, val: Any, epochs: int, seed: int) -> tuple[Any, str]:
    """Train with ``xai_lab.training.fit`` when it exists, else plain ``model.fit``."""
    import keras

    keras.utils.set_random_seed(seed)
    fit = None
    if importlib.util.find_spec("xai_lab.training") is not None:
        import xai_lab.training as training

        fit = getattr(training, "fit", None)
    if fit is not None:
        fit(model, train, val, epochs=epochs, batch_size=32, seed=seed)
        return model, "xai_lab.training.fit"
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(train.x(), train.labels, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
    return model, "keras Model.fit (Adam 2e-3, cross-entropy on logits)"


def _build(input_shape: tuple[int, ...], n_classes: int) -> Any:
    from xai_lab import models

    return models.build(
        "cnn", input_shape, n_classes, filters=(16, 32, 32), convs_per_block=1, dense=64,
        batchnorm=True,
    )


def _accuracy(model: Any, ds: Any) -> float:
    from xai_lab import models

    return float((models.predict_logits(model, ds.images).argmax(axis=1) == ds.labels).mean())


def _balanced(labels: np.ndarray, n: int, seed: int, classes: list[int] | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels.tolist())) if classes is None else classes
    per = int(np.ceil(n / len(classes)))
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per] for c in classes]
    return np.sort(np.concatenate(picks))[:n]


# ------------------------------------------------------------------------------ formatting
def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _pm(mean: float, sem: float) -> str:
    if not np.isfinite(mean):
        return "NaN"
    return f"{mean:.3f} ± {sem:.3f}" if np.isfinite(sem) else f"{mean:.3f}"


def _score_table(summary: Any, metrics: list[str], explainers: list[str]) -> list[str]:
    """A Markdown table: explainers as rows, metrics as columns, mean ± s.e. (NaN count)."""
    head = "| explainer | " + " | ".join(metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 1)]
    for ex in explainers:
        cells = []
        for m in metrics:
            row = summary[(summary["explainer"] == ex) & (summary["metric"] == m)]
            if not len(row):
                cells.append("–")
                continue
            r = row.iloc[0]
            cell = _pm(r["mean"], r["sem"])
            if r["n_nan"]:
                cell += f" ({int(r['n_nan'])} NaN)"
            cells.append(cell)
        lines.append(f"| {ex} | " + " | ".join(cells) + " |")
    return lines


def _layer_table(layers: Any, metric: str, explainers: list[str]) -> list[str]:
    part = layers[layers["metric"] == metric]
    if not len(part):
        return []
    steps = part.groupby("step")["layer"].first()
    lines = [
        "| explainer | " + " | ".join(f"{s}: {name}" for s, name in steps.items()) + " |",
        "|" + "---|" * (len(steps) + 1),
    ]
    for ex in explainers:
        rows = part[part["explainer"] == ex]
        if not len(rows):
            continue
        means = rows.groupby("step")["similarity"].mean()
        lines.append(f"| {ex} | " + " | ".join(_fmt(means.get(s, np.nan), 2) for s in steps.index) + " |")
    return lines


def _metric_mean(summary: Any, explainer: str, metric: str) -> tuple[float, float, int, int]:
    row = summary[(summary["explainer"] == explainer) & (summary["metric"] == metric)]
    if not len(row):
        return float("nan"), float("nan"), 0, 0
    r = row.iloc[0]
    return float(r["mean"]), float(r["sem"]), int(r["n"]), int(r["n_nan"])


def _verdict(summary: Any, explainer: str, spearman_metric: str, ssim_metric: str) -> str:
    mean, sem, n, n_nan = _metric_mean(summary, explainer, spearman_metric)
    s_mean, _, _, _ = _metric_mean(summary, explainer, ssim_metric)
    if n == 0 and n_nan == 0:
        return f"**{explainer}**: not evaluated in this run (see the skipped list under Run details)."
    if n == 0:
        if np.isfinite(s_mean):
            word = "passes" if s_mean < PASS_BELOW else "fails" if s_mean > FAIL_ABOVE else "is inconclusive on"
            return (
                f"**{explainer}**: rank correlation is undefined (all {n_nan} maps of the fully "
                f"randomised model are constant, e.g. all zero: the map vanished); by SSIM "
                f"({s_mean:.2f}, same thresholds) it {word} the cascading randomisation test."
            )
        return f"**{explainer}**: undefined (all {n_nan} maps of the randomised model are constant)."
    note = f" ({n_nan} of {n + n_nan} maps undefined)" if n_nan else ""
    if mean < PASS_BELOW:
        word = "passes"
    elif mean > FAIL_ABOVE:
        word = "fails"
    else:
        word = "is inconclusive on"
    return (
        f"**{explainer}** {word} the cascading randomisation test: mean Spearman rank correlation "
        f"{mean:.2f} ± {sem:.2f}{note} after all layers are randomised, SSIM {_fmt(s_mean, 2)}."
    )


def _baseline_note(model: Any, images: np.ndarray, targets: np.ndarray) -> str:
    """How the model scores the start and end points of the curves (measured here)."""
    from xai_lab.evaluate.base import class_scores
    from xai_lab.evaluate.faithfulness import baseline_images
    from xai_lab.explain.base import as_model_input

    x = as_model_input(images)
    full = class_scores(model, x, targets)
    mean = class_scores(model, baseline_images(x, "mean"), targets)
    blur = class_scores(model, baseline_images(x, "blur"), targets)
    note = (
        f"For these images the explained class has probability {full.mean():.3f} on the intact "
        f"image, {mean.mean():.3f} on the mean-filled image (end of every deletion curve) and "
        f"{blur.mean():.3f} on the blurred image (start of every insertion curve)."
    )
    if abs(full.mean() - mean.mean()) < 0.1:
        note += (
            " The deletion end point is within 0.1 of the start: removing everything hardly "
            "changes the decision, so deletion AUCs barely separate the methods here."
        )
    if abs(full.mean() - blur.mean()) < 0.1:
        note += (
            " The blurred start image already scores within 0.1 of the intact one, so insertion "
            "AUCs barely separate the methods here."
        )
    return note


def _short(message: str, limit: int = 300) -> str:
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _top_down(table: Any, explainer: str, metric: str) -> str:
    """How many cascading steps, from the top layer, leave the maps similar (above FAIL_ABOVE)."""
    from xai_lab import evaluate as ev

    layers = ev.layer_frame(table)
    part = layers[(layers["metric"] == metric) & (layers["explainer"] == explainer)]
    if not len(part):
        return ""
    steps = part.groupby("step").agg(layer=("layer", "first"), mean=("similarity", "mean"),
                                     undefined=("similarity", lambda v: int(v.isna().sum())))
    k = 0
    for _, row in steps.iterrows():
        if np.isfinite(row["mean"]) and row["mean"] > FAIL_ABOVE:
            k += 1
        else:
            break
    first = steps.iloc[0]
    text = (
        f" Top-down view: with only `{first['layer']}` randomised the similarity is "
        f"{_fmt(first['mean'], 2)}; the maps stay above {FAIL_ABOVE} for the first {k} of "
        f"{len(steps)} cascading steps"
    )
    vanished = steps[steps["undefined"] == steps["undefined"].max()]
    if steps["undefined"].max() == part["image"].nunique():
        text += f", and every map is constant (vanished) from `{vanished.iloc[0]['layer']}` on"
    return text + "."


def _best(table: Any, metric: str, explainers: list[str]) -> str:
    """Which explainer has the highest mean on ``metric``, and by how much (paired s.e.)."""
    part = table[(table["metric"] == metric) & (table["explainer"].isin(explainers))]
    wide = part.pivot_table(index="image", columns="explainer", values="score", dropna=False)
    means = wide.mean().dropna().sort_values(ascending=False)
    if len(means) < 2:
        return f"fewer than two methods have a defined {metric}."
    first, second = means.index[0], means.index[1]
    diff = (wide[first] - wide[second]).dropna()
    se = float(diff.std() / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    clear = np.isfinite(se) and diff.mean() > 2 * se
    how = (
        f"ahead of the runner-up **{second}** ({means.iloc[1]:.3f}) by {diff.mean():.3f} "
        f"(paired s.e. {se:.3f}): "
        + ("a clear lead (more than 2 s.e.)." if clear else "not a clear lead (2 s.e. or less).")
    )
    return f"**{first}** ({means.iloc[0]:.3f}) {how}"


# ------------------------------------------------------------------------------ runs
def _metrics(masks: bool, fast: bool, label_data: tuple[np.ndarray, np.ndarray] | None, epochs: int) -> list[Any]:
    from xai_lab import evaluate as ev

    steps = 10 if fast else 20
    out: list[Any] = [ev.Deletion(n_steps=steps, baseline="mean"), ev.Insertion(n_steps=steps, baseline="blur")]
    if masks:
        out += [ev.PointingGame(), ev.RelevanceMassAccuracy(), ev.RelevanceRankAccuracy(), ev.TopKIoU(fraction=0.1)]
    out += [
        ev.ModelParameterRandomisation(mode="cascading", measure="spearman"),
        ev.ModelParameterRandomisation(mode="cascading", measure="ssim"),
    ]
    if not fast and masks:
        out.append(ev.ModelParameterRandomisation(mode="independent", measure="spearman"))
    out.append(ev.MaxSensitivity(radius=0.02, n_samples=3 if fast else 5))
    if label_data is not None:
        out.append(ev.LabelRandomisation(*label_data, epochs=epochs, batch_size=64))
    return out


def _evaluate(name: str, model: Any, explainers: dict[str, Any], images: np.ndarray, masks: Any,
              metrics: list[Any], target: np.ndarray, log: Any) -> Any:
    from xai_lab import evaluate as ev

    start = time.perf_counter()
    table = ev.run({name: model}, explainers, (images, None, masks), metrics, target=target,
                   progress=lambda m: log(f"  {m}"), on_error="skip")
    table.attrs["total_seconds"] = time.perf_counter() - start
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="a smaller run (fewer images, epochs, steps)")
    parser.add_argument("--out", type=Path, default=HERE / "explanation_quality.md")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    import keras
    import pandas as pd

    from xai_lab import data, explain, models
    from xai_lab import evaluate as ev

    t0 = time.perf_counter()
    fast = args.fast
    n_train = 2000
    n_eval = 8 if fast else 24
    epochs = 3 if fast else 6
    explainers, missing = _explainers(fast)
    log(f"explainers: {', '.join(explainers)}" + (f" (not available: {', '.join(missing)})" if missing else ""))

    # ------------------------------------------------------------- (a) phantoms
    log("phantoms: generating and training")
    ph_train = data.phantoms.make("pneumonia", n_train, size=28, seed=args.seed + 1)
    ph_val = data.phantoms.make("pneumonia", 400, size=28, seed=args.seed + 2)
    ph_model, trainer = _train(_build(ph_train.images.shape[1:], 2), ph_train, ph_val, epochs, args.seed)
    ph_acc = _accuracy(ph_model, ph_val)
    pred = ph_model.predict_on_batch(ph_val.x()).argmax(axis=1)
    pool = np.flatnonzero((ph_val.labels == 1) & (pred == 1) & ph_val.masks.reshape(len(ph_val), -1).any(axis=1))
    idx = np.random.default_rng(args.seed).permutation(pool)[:n_eval]
    idx.sort()
    ph_images, ph_masks = ph_val.images[idx], ph_val.masks[idx]
    mask_share = float(ph_masks.mean())
    log(f"phantom model val accuracy {ph_acc:.3f}; explaining {len(idx)} correctly classified pneumonia phantoms")
    label_idx = np.random.default_rng(args.seed).permutation(len(ph_train))[: min(len(ph_train), 800)]
    ph_metrics = _metrics(True, fast, (ph_train.images[label_idx], ph_train.labels[label_idx]), epochs)
    ph_table = _evaluate("cnn (phantoms)", ph_model, explainers, ph_images, ph_masks, ph_metrics,
                         np.ones(len(idx), np.int64), log)
    label_metric = ph_metrics[-1]

    # ------------------------------------------------------------- (b) real PneumoniaMNIST
    log("PneumoniaMNIST: loading and training")
    real_train, train_source = data.load_best("pneumoniamnist", "train", size=28)
    real_val, val_source = data.load_best("pneumoniamnist", "val", size=28)
    real_is_phantom = "phantom" in str(real_val.source).lower()
    sub = _balanced(real_train.labels, n_train, args.seed)
    real_model, _ = _train(_build(real_train.images.shape[1:], 2), real_train.subset(sub), real_val,
                           epochs, args.seed)
    real_acc = _accuracy(real_model, real_val)
    r_idx = _balanced(real_val.labels, n_eval, args.seed)
    log(f"real model val accuracy {real_acc:.3f}; explaining {len(r_idx)} validation images")
    real_metrics = _metrics(False, fast, None, epochs)
    real_table = _evaluate("cnn (PneumoniaMNIST)", real_model, explainers, real_val.images[r_idx], None,
                           real_metrics, None, log)

    # ------------------------------------------------------------- the report
    log("writing the report")
    names = list(explainers)
    methods = [n for n in names if not n.startswith("control")]
    ph_sum, real_sum = ev.summary(ph_table), ev.summary(real_table)
    sp, ss = "model_randomisation.cascading.spearman", "model_randomisation.cascading.ssim"
    total = time.perf_counter() - t0

    md: list[str] = []
    md += [
        "# Explanation quality, measured",
        "",
        f"Generated by `reports/make_explanation_quality.py{' --fast' if fast else ''}` on "
        f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} "
        f"(Python {platform.python_version()}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
        f"{total / 60:.1f} min in all). Every number below comes from this run; the sentences are "
        "written from the numbers with the thresholds stated next to them.",
        "",
        "Scores are means over images ± standard error; *(k NaN)* counts images where the score is "
        "undefined (an all-constant map ranks nothing; see `xai_lab.evaluate`). "
        "Arrows: ↑ higher is better, ↓ lower is better.",
        "",
        "Controls: **control: edges** is a Sobel edge map of the image and **control: random** "
        "uniform noise seeded by the image; neither looks at the model, so they show what a failed "
        "randomisation test and an uninformative map score.",
        "",
    ]
    if missing:
        md += [f"Explainers not registered in this build and therefore not evaluated: {', '.join(missing)}.", ""]
    failed = sorted(
        {s.split(" / ")[1].split(":")[0] for t in (ph_table, real_table) for s in t.attrs["skipped"]}
    )
    if failed:
        md += [
            f"**Explainers or metrics that raised an error in this run** (details under Run details): "
            f"{', '.join(failed)}.",
            "",
        ]

    # (a)
    md += [
        "## (a) Phantom chest X-rays with known lesion masks",
        "",
        f"A CNN (`models.build('cnn', filters=(16, 32, 32), convs_per_block=1, dense=64)`, with BatchNorm) was trained "
        f"on {len(ph_train)} phantoms for {epochs} epochs ({trainer}); accuracy on 400 fresh phantoms: "
        f"**{ph_acc:.3f}**. Evaluated: {len(idx)} correctly classified pneumonia phantoms, each map "
        f"explaining class 1 (pneumonia). The lesion masks cover {100 * mask_share:.1f}% of the pixels "
        "on average, which is the chance level of relevance mass and rank accuracy for a map that "
        "ignores the lesions.",
        "",
        "### Localisation (↑) and faithfulness",
        "",
    ]
    loc = ["pointing_game", "relevance_mass_accuracy", "relevance_rank_accuracy", "top_k_iou",
           "deletion", "insertion"]
    md += _score_table(ph_sum, loc, names) + [""]
    md += [
        "Deletion ↓ and insertion ↑ are areas under the curve of the softmax probability of the "
        "explained class as pixels are removed (set to the image's mean) or inserted (into a blurred "
        "copy) in the map's order. Top-k IoU uses the top 10% of pixels. "
        + _baseline_note(ph_model, ph_images, np.ones(len(idx), np.int64)),
        "",
        "**Which method localises the phantom lesions best** (highest mean, lead over the runner-up "
        "against two standard errors of the paired per-image difference):",
        "",
        f"- relevance mass accuracy: {_best(ph_table, 'relevance_mass_accuracy', methods)}",
        f"- relevance rank accuracy: {_best(ph_table, 'relevance_rank_accuracy', methods)}",
        f"- pointing game: {_best(ph_table, 'pointing_game', methods)}",
        "",
    ]
    md += ["### Randomisation and robustness", ""]
    rob = [sp, ss, "max_sensitivity"]
    if "label_randomisation" in set(ph_table["metric"]):
        rob.insert(2, "label_randomisation")
    if "model_randomisation.independent.spearman" in set(ph_table["metric"]):
        rob.insert(2, "model_randomisation.independent.spearman")
    md += _score_table(ph_sum, rob, names) + [""]
    md += [
        "All randomisation columns are similarities to the original maps (↓: a map that changes "
        "when the model's knowledge is destroyed passes). Spearman is the rank correlation of the "
        "absolute maps, SSIM (Wang et al. 2004) that of the maps scaled to [0, 1]. "
        "Max-sensitivity ↓ is the largest relative change of the map under 5 (fast: 3) uniform "
        "perturbations of radius 0.02.",
        "",
    ]
    if np.isfinite(label_metric.train_accuracy):
        md += [
            f"Label randomisation: a fresh copy was trained for {epochs} epochs on {len(label_idx)} "
            f"phantoms with shuffled labels and reached {label_metric.train_accuracy:.3f} accuracy "
            "on those shuffled labels. Adebayo et al. train until the random labels are memorised; "
            "a copy that has not memorised them is closer to an untrained network, so this column "
            "tests a weaker claim.",
            "",
        ]
    md += ["Mean Spearman similarity after each cascading step (top layer first):", ""]
    md += _layer_table(ev.layer_frame(ph_table), sp, names) + [""]

    # (b)
    md += [
        "## (b) PneumoniaMNIST validation images",
        "",
        f"Data: {train_source} / {val_source}.",
    ]
    if real_is_phantom:
        md += ["", "**The real data was not reachable: this part ran on phantoms, not on PneumoniaMNIST.**"]
    md += [
        "",
        f"The same CNN architecture trained on {len(sub)} class-balanced training images for {epochs} "
        f"epochs; validation accuracy (all {len(real_val)} images) **{real_acc:.3f}**. Evaluated: "
        f"{len(r_idx)} class-balanced validation images, each explained for the predicted class. "
        "No lesion masks exist, so only faithfulness, randomisation and robustness are scored.",
        "",
    ]
    md += _score_table(real_sum, ["deletion", "insertion", sp, ss, "max_sensitivity"], names) + [""]
    real_targets = models.predict_logits(real_model, real_val.images[r_idx]).argmax(axis=1)
    md += [_baseline_note(real_model, real_val.images[r_idx], real_targets), ""]
    md += ["Mean Spearman similarity after each cascading step (top layer first):", ""]
    md += _layer_table(ev.layer_frame(real_table), sp, names) + [""]

    # Verdicts
    md += [
        "## What the numbers say",
        "",
        f"Randomisation verdicts use the mean Spearman rank correlation between the maps of the "
        f"trained model and of the fully randomised model (cascading, all layers): a method "
        f"**passes** below {PASS_BELOW}, **fails** above {FAIL_ABOVE}, and is **inconclusive** in "
        "between.",
        "",
    ]
    for label, summ, table in (("phantoms", ph_sum, ph_table), ("PneumoniaMNIST", real_sum, real_table)):
        md += [f"On {label}:", ""]
        verdicts = [explain.method_info(n).title for n in ("gradcam", "deep_taylor", "deep_taylor.bounded")]
        for ex in [n for n in verdicts if n in names]:
            md.append(f"- {_verdict(summ, ex, sp, ss)}{_top_down(table, ex, sp)}")
        md.append(f"- Control (ignores the model, must fail): {_verdict(summ, 'control: edges', sp, ss)}")
        md.append("")
    md += [
        "Adebayo et al. (2018) report that Grad-CAM passes the cascading randomisation test; "
        "Sixt, Granz & Landgraf (2020) prove that deep Taylor decomposition / the z+ rule converges "
        "to a map that is almost independent of the upper layers' weights and predict that it fails. "
        "The verdicts above (after full randomisation) and the top-down views (a map that stays "
        "similar while the upper layers are randomised is what Sixt et al. predict for z+) are what "
        "this run measured on our models; compare them with those claims.",
        "",
    ]
    faithful = []
    for label, table in (("phantoms", ph_table), ("PneumoniaMNIST", real_table)):
        d = table[(table["metric"] == "deletion") & table["explainer"].isin(methods)]
        i = table[(table["metric"] == "insertion") & table["explainer"].isin(methods)]
        rnd_d = _metric_mean(ev.summary(table), "control: random", "deletion")[0]
        if len(d):
            dm = d.groupby("explainer")["score"].mean().dropna().sort_values()
            im = i.groupby("explainer")["score"].mean().dropna().sort_values(ascending=False)
            beat = [ex for ex, v in dm.items() if np.isfinite(rnd_d) and v < rnd_d]
            spread_d, spread_i = dm.iloc[-1] - dm.iloc[0], im.iloc[0] - im.iloc[-1]
            faithful.append(
                f"- On {label}, the lowest deletion AUC is **{dm.index[0]}** ({dm.iloc[0]:.3f}; the "
                f"methods span {spread_d:.3f}) and the highest insertion AUC **{im.index[0]}** "
                f"({im.iloc[0]:.3f}; span {spread_i:.3f}"
                + (", too small to rank the methods" if spread_i < 0.02 else "")
                + f"); {len(beat)} of {len(dm)} methods delete faster than the random-order control "
                f"({_fmt(rnd_d)})."
            )
    md += ["Faithfulness:", ""] + faithful + [""]

    # Timing, skipped, figures
    md += ["## Run details", ""]
    for label, table in (("phantoms", ph_table), ("PneumoniaMNIST", real_table)):
        md.append(f"- {label}: evaluation took {table.attrs['total_seconds']:.0f} s.")
        for s in table.attrs["skipped"]:
            md.append(f"  - skipped: {_short(s)}")
    md.append("")

    fig_note = _write_figures({"phantoms": ph_table, "pneumoniamnist": real_table}, args.out.parent / "figures")
    md += [fig_note, ""]
    md += [
        "## References",
        "",
        "- Adebayo, J. et al. (2018). Sanity checks for saliency maps. NeurIPS.",
        "- Arras, L., Osman, A. & Samek, W. (2022). CLEVR-XAI: A benchmark dataset for the ground "
        "truth evaluation of neural network explanations. Information Fusion 81, 14-40.",
        "- Petsiuk, V., Das, A. & Saenko, K. (2018). RISE: Randomized input sampling for explanation "
        "of black-box models. BMVC.",
        "- Sixt, L., Granz, M. & Landgraf, T. (2020). When explanations lie: Why many modified BP "
        "attributions fail. ICML.",
        "- Wang, Z. et al. (2004). Image quality assessment: from error visibility to structural "
        "similarity. IEEE TIP 13(4).",
        "- Yeh, C.-K. et al. (2019). On the (in)fidelity and sensitivity of explanations. NeurIPS.",
        "- Zhang, J. et al. (2018). Top-down neural attention by excitation backprop. IJCV.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(md), encoding="utf-8")
    tmp.replace(args.out)
    csv = args.out.parent / "figures" / f"{args.out.stem}_scores.csv"
    pd.concat([ph_table.assign(run="phantoms"), real_table.assign(run="pneumoniamnist")]).to_csv(
        csv.with_suffix(".csv.tmp"), index=False
    )
    csv.with_suffix(".csv.tmp").replace(csv)
    log(f"wrote {args.out} and {csv} in {total / 60:.1f} min")
    return 0


def _write_figures(tables: dict[str, Any], folder: Path) -> str:
    from xai_lab import evaluate as ev

    figs = {f"{run}-{key.replace(':', '-')}": fig for run, t in tables.items() for key, fig in ev.figures(t).items()}
    folder.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("kaleido") is not None:
        for key, fig in figs.items():
            fig.write_image(folder / f"{_safe(key)}.png", width=900, height=450)
        return f"Figures: PNG files in `{folder.name}/` ({len(figs)} figures)."
    path = folder / "explanation_quality.html"
    parts = [
        fig.to_html(full_html=False, include_plotlyjs="cdn" if i == 0 else False)
        for i, fig in enumerate(figs.values())
    ]
    path.write_text(
        "<html><head><meta charset='utf-8'><title>Explanation quality</title></head><body>"
        + "\n".join(parts) + "</body></html>",
        encoding="utf-8",
    )
    return (
        f"Figures: `{folder.name}/{path.name}` ({len(figs)} plotly figures; kaleido is not installed, "
        "so no PNG; the page loads plotly.js from its CDN)."
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


if __name__ == "__main__":
    sys.exit(main())
