"""Run metrics over models x explainers on a dataset and collect a tidy table.

>>> table = run({"cnn": model}, ["gradcam", "saliency"], dataset, default_metrics())  # doctest: +SKIP
>>> summary(table)                                                                    # doctest: +SKIP
>>> figs = figures(table)                                                             # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .base import Metric
from .faithfulness import Deletion, Insertion
from .localisation import PointingGame, RelevanceMassAccuracy, RelevanceRankAccuracy, TopKIoU
from .randomisation import ModelParameterRandomisation
from .robustness import MaxSensitivity

COLUMNS = ["model", "explainer", "metric", "image", "score", "higher_is_better"]


def default_metrics(masks: bool = True, fast: bool = False) -> list[Metric]:
    """One metric of each family with the package's default settings.

    ``masks=False`` leaves out the localisation metrics (data without ground truth);
    ``fast=True`` uses fewer steps and samples.
    """
    steps = 10 if fast else 25
    metrics: list[Metric] = [Deletion(n_steps=steps), Insertion(n_steps=steps)]
    if masks:
        metrics += [PointingGame(), RelevanceMassAccuracy(), RelevanceRankAccuracy(), TopKIoU()]
    metrics += [
        ModelParameterRandomisation(mode="cascading"),
        MaxSensitivity(n_samples=3 if fast else 10),
    ]
    return metrics


def _unpack(dataset: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(images, labels, masks) from a Dataset, a dict, a tuple or a bare image array."""
    if hasattr(dataset, "images"):
        return dataset.images, getattr(dataset, "labels", None), getattr(dataset, "masks", None)
    if isinstance(dataset, Mapping):
        return dataset["images"], dataset.get("labels"), dataset.get("masks")
    if isinstance(dataset, tuple):
        if not 1 <= len(dataset) <= 3:
            raise ValueError("dataset tuple must be (images,), (images, labels) or (images, labels, masks)")
        parts = list(dataset) + [None] * (3 - len(dataset))
        return parts[0], parts[1], parts[2]
    return np.asarray(dataset), None, None


def _explainers(explainers: Any) -> dict[str, Any]:
    from ..explain import get

    if isinstance(explainers, Mapping):
        return {str(k): (get(v) if isinstance(v, str) else v) for k, v in explainers.items()}
    if isinstance(explainers, (str, bytes)):
        explainers = [explainers]
    out = {}
    for item in explainers:
        if isinstance(item, str):
            out[item] = get(item)
        else:
            out[getattr(item, "name", type(item).__name__)] = item
    return out


def _metric_label(metric: Metric, labels: dict[str, int]) -> str:
    base = metric.name
    if isinstance(metric, ModelParameterRandomisation):
        base = f"{metric.name}.{metric.mode}.{metric.measure}"
    labels[base] = labels.get(base, 0) + 1
    return base if labels[base] == 1 else f"{base}#{labels[base]}"


def run(
    models: Mapping[str, Any],
    explainers: Mapping[str, Any] | Sequence[Any] | str,
    dataset: Any,
    metrics: Iterable[Metric] | None = None,
    target: str | int | Sequence[int] | None = None,
    progress: Any = None,
    on_error: str = "raise",
) -> Any:
    """Evaluate every explainer on every model with every metric.

    Parameters
    ----------
    models : dict of name -> keras.Model
    explainers : dict of name -> Explainer, or a list of registry names / Explainers
    dataset : Dataset, (images, labels, masks) tuple, dict or image array
        Images uint8 or float in [0, 1]; masks (N, H, W) bool for the localisation metrics.
    metrics : list of Metric, optional
        Default :func:`default_metrics` (localisation only when masks are given).
    target : None, "label", int or sequence of int
        The class to explain: the predicted class (None), the true label (``"label"``), or
        as :meth:`Explainer.explain` takes it.
    progress : callable, optional
        Called with a short message before each (model, explainer, metric) step.
    on_error : {"raise", "skip"}
        What to do when an explainer or a metric raises an error other than
        :class:`~xai_lab.explain.UnsupportedModelError` (which is always recorded and
        skipped): re-raise it (default), or record ``"... : ErrorType: message"`` in
        ``table.attrs["skipped"]`` and go on (for long report runs).

    Returns
    -------
    pandas.DataFrame
        Tidy table with columns model, explainer, metric, image, score, higher_is_better
        (one row per image; NaN scores are kept). ``table.attrs`` holds ``"layers"`` (a
        tidy DataFrame of the per-layer randomisation similarities: model, explainer,
        metric, step, layer, image, similarity), ``"skipped"`` (a list of
        ``"model / explainer / metric: reason"`` strings for combinations that could not
        run, e.g. an explainer that does not support a model, or a mask metric without
        masks) and ``"seconds"`` (a dict of wall time per (model, explainer, metric)).
        Read the per-layer table with :func:`layer_frame` (model, explainer, metric, mode,
        measure, step, layer, image, similarity).
    """
    import pandas as pd

    from ..explain.base import UnsupportedModelError

    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    images, labels, masks = _unpack(dataset)
    if masks is not None:
        masks = np.asarray(masks, dtype=bool)
    metrics = default_metrics(masks=masks is not None) if metrics is None else list(metrics)
    for m in metrics:
        if not isinstance(m, Metric):
            raise TypeError(f"metrics must be xai_lab.evaluate Metric objects, got {type(m).__name__}")
    names: dict[str, int] = {}
    metric_names = [_metric_label(m, names) for m in metrics]
    if isinstance(target, str):
        if target != "label":
            raise ValueError(f"target must be None, 'label', an int or a sequence, got {target!r}")
        if labels is None:
            raise ValueError("target='label' needs labels in the dataset")
        target = np.asarray(labels, dtype=np.int64)
    say = progress or (lambda message: None)

    frames: list[pd.DataFrame] = []
    layer_frames: list[pd.DataFrame] = []
    skipped: list[str] = []
    seconds: dict[str, float] = {}
    for model_name, model in models.items():
        for ex_name, explainer in _explainers(explainers).items():
            say(f"{model_name} / {ex_name}: explaining")
            try:
                explanation = explainer.explain(model, images, target=target)
            except UnsupportedModelError as exc:
                skipped.append(f"{model_name} / {ex_name}: {exc}")
                continue
            except Exception as exc:
                if on_error == "raise":
                    raise
                skipped.append(f"{model_name} / {ex_name}: {type(exc).__name__}: {exc}")
                continue
            randomised: dict[tuple[Any, ...], tuple[list[str], np.ndarray]] = {}
            for metric, metric_name in zip(metrics, metric_names, strict=True):
                if metric.needs_masks and masks is None:
                    skipped.append(f"{model_name} / {ex_name} / {metric_name}: no masks in the dataset")
                    continue
                say(f"{model_name} / {ex_name} / {metric_name}")
                start = time.perf_counter()
                try:
                    if isinstance(metric, ModelParameterRandomisation) and metric.explainer is None:
                        probe = _with_explainer(metric, explainer)
                        # Metrics that differ only in the similarity measure share the maps.
                        key = (metric.mode, metric.seed, None if metric.layers is None else tuple(metric.layers))
                        if key not in randomised:
                            randomised[key] = probe.randomised_maps(model, explanation, images)
                        result = probe.compare(explanation, *randomised[key])
                        scores = probe.score(result)
                        lf = result.to_frame()
                        lf.insert(0, "metric", metric_name)
                        lf.insert(0, "explainer", ex_name)
                        lf.insert(0, "model", model_name)
                        layer_frames.append(lf)
                    else:
                        scores = _call_with_explainer(metric, explainer, model, explanation, images, masks)
                except Exception as exc:
                    if on_error == "raise":
                        raise
                    skipped.append(f"{model_name} / {ex_name} / {metric_name}: {type(exc).__name__}: {exc}")
                    continue
                seconds[f"{model_name} / {ex_name} / {metric_name}"] = time.perf_counter() - start
                scores = np.asarray(scores, dtype=np.float64)
                frames.append(
                    pd.DataFrame(
                        {
                            "model": model_name,
                            "explainer": ex_name,
                            "metric": metric_name,
                            "image": np.arange(len(scores)),
                            "score": scores,
                            "higher_is_better": bool(metric.higher_is_better),
                        }
                    )
                )
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    table.attrs["layers"] = _Attached(
        pd.concat(layer_frames, ignore_index=True) if layer_frames else None
    )
    table.attrs["skipped"] = skipped
    table.attrs["seconds"] = seconds
    return table


def _with_explainer(metric: Any, explainer: Any) -> Any:
    """A shallow copy of ``metric`` that re-runs ``explainer`` (the runner's instance)."""
    import copy

    probe = copy.copy(metric)
    probe.explainer = explainer
    return probe


def _call_with_explainer(metric: Metric, explainer: Any, model: Any, explanation: Any, images: Any, masks: Any) -> np.ndarray:
    if hasattr(metric, "explainer") and metric.explainer is None:
        metric = _with_explainer(metric, explainer)
    return metric(model, explanation, images, masks)


class _Attached:
    """A read-only payload for ``DataFrame.attrs``.

    pandas deep-copies ``attrs`` on every operation and compares them when tables are
    concatenated; this wrapper copies as itself and compares by identity, so a large
    per-layer table neither slows down filtering nor breaks ``pd.concat``.
    """

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def __deepcopy__(self, memo: dict[int, Any]) -> _Attached:
        return self

    def __copy__(self) -> _Attached:
        return self

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        n = 0 if self.frame is None else len(self.frame)
        return f"<per-layer randomisation table, {n} rows: use xai_lab.evaluate.layer_frame(table)>"


LAYER_COLUMNS = ["model", "explainer", "metric", "mode", "measure", "step", "layer", "image", "similarity"]


def layer_frame(table: Any) -> Any:
    """The per-layer randomisation similarities of a :func:`run` table as a DataFrame (a copy)."""
    import pandas as pd

    attached = table.attrs.get("layers")
    if isinstance(attached, _Attached) and attached.frame is not None:
        return attached.frame.copy()
    return pd.DataFrame(columns=LAYER_COLUMNS)


def summary(table: Any) -> Any:
    """Mean, standard deviation, standard error and counts per (model, explainer, metric).

    ``n`` counts defined scores, ``n_nan`` undefined ones (NaN). Means ignore NaN.
    """
    import pandas as pd

    if len(table) == 0:
        return pd.DataFrame(columns=["model", "explainer", "metric", "mean", "std", "sem", "n", "n_nan"])
    g = table.groupby(["model", "explainer", "metric"], sort=False)
    out = g["score"].agg(
        mean="mean",
        std="std",
        n="count",
        n_nan=lambda s: int(s.isna().sum()),
    )
    out["sem"] = out["std"] / np.sqrt(out["n"].where(out["n"] > 0))
    out["higher_is_better"] = g["higher_is_better"].first()
    return out.reset_index()[
        ["model", "explainer", "metric", "mean", "std", "sem", "n", "n_nan", "higher_is_better"]
    ]


def figures(table: Any) -> dict[str, Any]:
    """Plotly figures of a :func:`run` table.

    Returns
    -------
    dict of str -> plotly.graph_objects.Figure
        ``"metric:<name>"``: a bar chart of the mean score per explainer (grouped by model)
        with standard-error bars; ``"randomisation:<metric>"``: the mean similarity to the
        original map after each randomisation step, one line per model and explainer.
    """
    import plotly.graph_objects as go

    figs: dict[str, Any] = {}
    s = summary(table)
    for metric in s["metric"].unique():
        part = s[s["metric"] == metric]
        better = "higher is better" if bool(part["higher_is_better"].iloc[0]) else "lower is better"
        fig = go.Figure()
        for model in part["model"].unique():
            rows = part[part["model"] == model]
            fig.add_trace(
                go.Bar(
                    name=str(model),
                    x=list(rows["explainer"]),
                    y=list(rows["mean"]),
                    error_y={"type": "data", "array": list(rows["sem"].fillna(0.0))},
                )
            )
        fig.update_layout(
            title=f"{metric} ({better}; mean +- s.e. over images)",
            barmode="group",
            xaxis_title="explainer",
            yaxis_title=metric,
            template="plotly_white",
        )
        figs[f"metric:{metric}"] = fig
    layers = layer_frame(table)
    if len(layers):
        for metric in layers["metric"].unique():
            part = layers[layers["metric"] == metric]
            fig = go.Figure()
            for (model, ex), rows in part.groupby(["model", "explainer"], sort=False):
                mean = rows.groupby("step", sort=True).agg(
                    layer=("layer", "first"), similarity=("similarity", "mean")
                )
                fig.add_trace(
                    go.Scatter(
                        x=["original"] + list(mean["layer"]),
                        y=[1.0] + list(mean["similarity"]),
                        mode="lines+markers",
                        name=f"{model} / {ex}",
                    )
                )
            fig.update_layout(
                title=f"{metric}: similarity to the original map as layers are randomised",
                xaxis_title="randomised layer (top first)",
                yaxis_title="mean similarity",
                template="plotly_white",
            )
            figs[f"randomisation:{metric}"] = fig
    return figs
