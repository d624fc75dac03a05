"""Clinical classification metrics, from scikit-learn where it has them.

All functions take integer labels ``y`` (N,) and class probabilities ``proba`` (N, K) (or
predicted labels where stated) and return Python floats; NaN means undefined (for example an
AUC when only one class is present, a sensitivity without positive cases).

AUC follows the MedMNIST v2 definition (Yang et al., "MedMNIST v2", Scientific Data 10, 2023):
binary tasks use the AUC of the positive-class score ``proba[:, 1]``; multi-class (and ordinal)
tasks use the macro average of the one-vs-rest AUCs of each class score.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn import metrics as skm

NAN = float("nan")


def _labels(y: Any) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"labels must be (N,), got shape {y.shape}")
    return y.astype(np.int64)


def _proba(proba: Any, n: int) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or len(p) != n:
        raise ValueError(f"proba must be (N={n}, n_classes), got shape {p.shape}")
    return p


def accuracy(y: Any, pred: Any) -> float:
    """Fraction of correct predicted labels."""
    y, pred = _labels(y), _labels(pred)
    return float(np.mean(y == pred)) if len(y) else NAN


def auc(y: Any, proba: Any) -> float:
    """ROC AUC as MedMNIST defines it (binary: positive-class score; else macro one-vs-rest).

    Classes absent from ``y`` are left out of the macro average (their AUC is undefined);
    NaN when fewer than two classes are present.
    """
    y = _labels(y)
    p = _proba(proba, len(y))
    if len(np.unique(y)) < 2:
        return NAN
    if p.shape[1] == 2:
        return float(skm.roc_auc_score(y, p[:, 1]))
    scores = [
        skm.roc_auc_score(y == k, p[:, k]) for k in range(p.shape[1]) if 0 < np.sum(y == k) < len(y)
    ]
    return float(np.mean(scores))


def youden_threshold(y: Any, score: Any) -> float:
    """The threshold on a positive-class score that maximises Youden's J = TPR - FPR.

    Youden, "Index for rating diagnostic tests", Cancer 3 (1950). Returns 0.5 when both
    classes are not present. Predict positive when ``score >= threshold``.
    """
    y = _labels(y)
    s = np.asarray(score, dtype=np.float64).ravel()
    if len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, thr = skm.roc_curve(y, s)
    finite = np.isfinite(thr)
    j = (tpr - fpr)[finite]
    thr = thr[finite]
    best = np.flatnonzero(j == j.max())
    # among ties take the middle threshold: less sensitive to the exact validation sample
    return float(np.clip(thr[best[len(best) // 2]], 0.0, 1.0))


def adjusted_predictions(proba: Any, offsets: Any) -> np.ndarray:
    """Class decisions ``argmax_k(log proba_k + offsets_k)`` (offsets of zero: the argmax)."""
    p = np.asarray(proba, dtype=np.float64)
    o = np.asarray(offsets, dtype=np.float64).reshape(-1)
    if p.ndim != 2 or o.shape != (p.shape[1],):
        raise ValueError(f"offsets must hold one value per class ({p.shape[-1]}), got shape {o.shape}")
    return np.argmax(np.log(np.clip(p, 1e-12, 1.0)) + o[None, :], axis=1).astype(np.int64)


def prior_correction(y: Any, proba: Any, prior: Any, strengths: Any = None) -> tuple[float, list[float]]:
    """The logit adjustment ``-tau * log(prior)`` whose strength ``tau`` maximises the
    balanced accuracy of :func:`adjusted_predictions` on ``(y, proba)``.

    Post-hoc logit adjustment (Menon, Jayasumana, Rawat, Jain, Veit & Kumar, "Long-tail
    learning via logit adjustment", ICLR 2021): ``tau = 0`` keeps the argmax (the decision
    that maximises accuracy under the training prior), ``tau = 1`` divides each class
    probability by its prior (the decision that maximises accuracy when the classes are equally
    frequent, i.e. the balanced accuracy). One parameter, searched on ``strengths`` (default
    0, 0.05, ..., 1.5), so little is fitted to the validation sample; among ties the middle
    strength is taken.

    Parameters
    ----------
    y : (N,) int labels
    proba : (N, K) class probabilities
    prior : (K,) class frequencies of the training data (normalised here; zeros are clipped)

    Returns
    -------
    (tau, offsets)
        The strength and the K offsets to add to the log probabilities.
    """
    y = _labels(y)
    p = _proba(proba, len(y))
    prior = np.asarray(prior, dtype=np.float64).reshape(-1)
    if prior.shape != (p.shape[1],) or not np.all(np.isfinite(prior)) or prior.sum() <= 0:
        raise ValueError(f"prior must hold {p.shape[1]} finite non-negative frequencies, got {prior}")
    log_prior = np.log(np.clip(prior / prior.sum(), 1e-6, 1.0))
    grid = np.round(np.arange(0.0, 1.5001, 0.05), 4) if strengths is None else np.asarray(strengths, float)
    scores = np.array([balanced_accuracy(y, adjusted_predictions(p, -t * log_prior)) for t in grid])
    if not np.isfinite(scores).any():
        return 0.0, [0.0] * p.shape[1]
    best = np.flatnonzero(scores == np.nanmax(scores))
    tau = float(grid[best[len(best) // 2]])
    return tau, [float(v) for v in -tau * log_prior]


def recall_per_class(y: Any, pred: Any, n_classes: int) -> list[float]:
    """Recall (sensitivity) of each class 0..n_classes-1; NaN for a class absent from ``y``."""
    y, pred = _labels(y), _labels(pred)
    return [float(np.mean(pred[y == k] == k)) if np.any(y == k) else NAN for k in range(int(n_classes))]


def binary_predictions(score: Any, threshold: float = 0.5) -> np.ndarray:
    """1 where ``score >= threshold``, else 0."""
    return (np.asarray(score, dtype=np.float64) >= threshold).astype(np.int64)


def sensitivity_specificity(y: Any, pred: Any) -> tuple[float, float]:
    """(sensitivity = TP / (TP + FN), specificity = TN / (TN + FP)) of binary predictions."""
    y, pred = _labels(y), _labels(pred)
    pos, neg = y == 1, y == 0
    sens = float(np.mean(pred[pos] == 1)) if pos.any() else NAN
    spec = float(np.mean(pred[neg] == 0)) if neg.any() else NAN
    return sens, spec


def balanced_accuracy(y: Any, pred: Any) -> float:
    """Mean per-class recall over the classes present in ``y`` (scikit-learn)."""
    y, pred = _labels(y), _labels(pred)
    if not len(y):
        return NAN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(skm.balanced_accuracy_score(y, pred))


def qwk(y: Any, pred: Any) -> float:
    """Quadratic weighted Cohen's kappa (Cohen, Psychol. Bull. 70, 1968); NaN if undefined."""
    y, pred = _labels(y), _labels(pred)
    if not len(y):
        return NAN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = skm.cohen_kappa_score(y, pred, weights="quadratic")
    return float(value) if np.isfinite(value) else NAN


def expected_calibration_error(y: Any, proba: Any, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence (Guo et al., ICML 2017).

    ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)| over ``n_bins`` equal-width confidence
    bins (0, 1/n], (1/n, 2/n], ...
    """
    y = _labels(y)
    p = _proba(proba, len(y))
    if not len(y):
        return NAN
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - conf[members].mean())
    return float(ece)


def confusion_matrix(y: Any, pred: Any, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts, rows = true class, columns = predicted class."""
    return skm.confusion_matrix(_labels(y), _labels(pred), labels=np.arange(int(n_classes)))


def nll(y: Any, proba: Any) -> float:
    """Mean negative log-likelihood of the true class."""
    y = _labels(y)
    p = _proba(proba, len(y))
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)))) if len(y) else NAN


def summary(
    y: Any,
    proba: Any,
    task: str,
    threshold: float | None = None,
    class_offsets: Any = None,
    label_names: Any = None,
) -> dict[str, Any]:
    """The metrics reported for a task, as a JSON-ready dict.

    Parameters
    ----------
    y : (N,) int labels
    proba : (N, K) class probabilities
    task : {"binary", "multiclass", "ordinal"}
    threshold : float, optional
        Binary decision threshold on ``proba[:, 1]`` (e.g. the Youden threshold stored in
        ``calibration.json``).
    class_offsets : sequence of float, optional
        Multi-class decision rule: offsets added to the log probabilities before the argmax
        (the prior correction of :func:`prior_correction` stored in ``calibration.json``).
    label_names : sequence of str, optional
        Class names: adds ``recall_by_class`` ({name: recall}).

    ``acc`` and ``balanced_accuracy`` are always those of the argmax (for binary tasks:
    threshold 0.5, as MedMNIST defines ACC). The decision rule (``threshold`` or
    ``class_offsets``; the argmax without them) gives ``acc_at_threshold``,
    ``balanced_accuracy_at_threshold``, ``recall_per_class`` (``recall_by_class``), the
    confusion matrix and, for binary tasks, ``sensitivity`` and ``specificity``.

    Returns
    -------
    dict
        ``n, acc, auc, balanced_accuracy, ece, nll, acc_at_threshold,
        balanced_accuracy_at_threshold, recall_per_class, confusion_matrix``; for binary tasks
        ``threshold, sensitivity, specificity``; for multi-class tasks with offsets
        ``class_offsets``; for ordinal tasks ``qwk``.
    """
    y = _labels(y)
    p = _proba(proba, len(y))
    k = p.shape[1]
    pred = p.argmax(axis=1)
    if label_names is not None and len(label_names) != k:
        raise ValueError(f"label_names must name the {k} classes, got {len(label_names)}")
    out: dict[str, Any] = {
        "n": int(len(y)),
        "acc": accuracy(y, pred),
        "auc": auc(y, p),
        "balanced_accuracy": balanced_accuracy(y, pred),
        "ece": expected_calibration_error(y, p),
        "nll": nll(y, p),
    }
    if task == "binary":
        if k != 2:
            raise ValueError(f"a binary task needs 2 class scores, got {k}")
        thr = 0.5 if threshold is None else float(threshold)
        pred = binary_predictions(p[:, 1], thr)
        sens, spec = sensitivity_specificity(y, pred)
        out.update(threshold=thr, sensitivity=sens, specificity=spec)
    elif task == "ordinal":
        out["qwk"] = qwk(y, pred)
    elif task == "multiclass":
        if class_offsets is not None:
            offsets = [float(v) for v in np.asarray(class_offsets, dtype=np.float64).reshape(-1)]
            pred = adjusted_predictions(p, offsets)
            out["class_offsets"] = offsets
    else:
        raise ValueError(f"task must be 'binary', 'multiclass' or 'ordinal', got {task!r}")
    recalls = recall_per_class(y, pred, k)
    out.update(
        acc_at_threshold=accuracy(y, pred),
        balanced_accuracy_at_threshold=balanced_accuracy(y, pred),
        recall_per_class=recalls,
    )
    if label_names is not None:
        out["recall_by_class"] = {str(name): r for name, r in zip(label_names, recalls, strict=True)}
    out["confusion_matrix"] = confusion_matrix(y, pred, k).tolist()
    return out
