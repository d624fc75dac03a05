"""Scoring landmark detectors: distance errors, their median and 95th percentile, failures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def distance_errors(predictions: Any, targets: Any) -> np.ndarray:
    """Euclidean distance in pixels between predicted and true (row, column), shape (N,).

    Non-finite predictions give NaN (undefined), never a number.
    """
    p = np.asarray(predictions, np.float64)
    t = np.asarray(targets, np.float64)
    if p.shape != t.shape or p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"predictions and targets must both be (N, 2), got {p.shape} and {t.shape}")
    err = np.linalg.norm(p - t, axis=1)
    err[~np.all(np.isfinite(p), axis=1)] = np.nan
    return err


def default_failure_radius(size: int) -> float:
    """A detection farther than ``size / 16`` px (4 px at 64 px, 8 at 128) counts as a failure."""
    return float(size) / 16.0


@dataclass(frozen=True)
class LandmarkScores:
    """How well one method found one landmark on one set of images.

    ``failures`` counts detections farther than ``failure_radius`` px (NaN errors included);
    ``steps`` and ``not_converged`` (searches that hit the step limit) are NaN for methods that
    do not search.
    """

    method: str
    landmark: str
    n: int
    median: float
    p95: float
    mean: float
    failures: int
    failure_rate: float
    failure_radius: float
    steps: float = float("nan")
    not_converged: float = float("nan")
    train_seconds: float = float("nan")
    ms_per_image: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self) -> str:
        """One line of a table (see :func:`table`)."""
        return (f"{self.method:<34s} {self.median:7.2f} {self.p95:7.2f} {self.mean:7.2f} "
                f"{self.failures:4d}/{self.n:<4d} {_fmt(self.steps, '7.1f')} {_fmt(self.not_converged, '6.0f')} "
                f"{_fmt(self.train_seconds, '7.0f')} {_fmt(self.ms_per_image, '8.2f')}")  # fmt: skip


def _fmt(value: float, spec: str) -> str:
    width = int(spec.split(".")[0])
    return f"{value:{spec}}" if np.isfinite(value) else "-".rjust(width)


def score(
    method: str,
    landmark: str,
    predictions: Any,
    targets: Any,
    *,
    failure_radius: float,
    steps: Any = None,
    converged: Any = None,
    train_seconds: float = float("nan"),
    seconds: float = float("nan"),
) -> LandmarkScores:
    """Summarise predictions against the truth (see :class:`LandmarkScores`)."""
    err = distance_errors(predictions, targets)
    n = len(err)
    if n == 0:
        raise ValueError("nothing to score: no predictions")
    finite = err[np.isfinite(err)]
    failures = int(np.sum(~(err <= float(failure_radius))))
    med = float(np.median(finite)) if finite.size else float("nan")
    p95 = float(np.percentile(finite, 95)) if finite.size else float("nan")
    mean = float(finite.mean()) if finite.size else float("nan")
    return LandmarkScores(
        method=method,
        landmark=landmark,
        n=n,
        median=med,
        p95=p95,
        mean=mean,
        failures=failures,
        failure_rate=failures / n,
        failure_radius=float(failure_radius),
        steps=float(np.mean(steps)) if steps is not None else float("nan"),
        not_converged=float(np.sum(~np.asarray(converged, bool))) if converged is not None else float("nan"),
        train_seconds=float(train_seconds),
        ms_per_image=1e3 * float(seconds) / n if np.isfinite(seconds) else float("nan"),
    )


def table(rows: list[LandmarkScores]) -> str:
    """A plain-text table of scores (errors in pixels)."""
    head = (f"{'method':<34s} {'median':>7s} {'p95':>7s} {'mean':>7s} {'failures':>9s} {'steps':>7s} "
            f"{'no conv':>6s} {'train s':>7s} {'ms/image':>8s}")  # fmt: skip
    return "\n".join([head, *(r.row() for r in rows)])
