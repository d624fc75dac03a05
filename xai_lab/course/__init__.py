"""Helpers for the course notebooks: self-check exercises, the numpy network of notebook 02,
and course-wide settings (fast mode sizes).

>>> from xai_lab.course import check
>>> check("01.sigmoid_at_zero", 0.5)
right: sigmoid(0) = 1 / (1 + e^0) = 0.5
"""

from __future__ import annotations

from . import exercises_applications, exercises_explain, exercises_graphs  # noqa: F401  (register their exercises)
from .exercises import EXERCISES, CheckResult, check, questions

__all__ = ["EXERCISES", "CheckResult", "check", "questions"]
