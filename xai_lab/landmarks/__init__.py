"""Finding anatomical landmarks by reinforcement learning: an agent that walks the image.

>>> from xai_lab.landmarks import LandmarkAgent, phantoms          # doctest: +SKIP
>>> train, val = phantoms.make(1000, 64, split="train"), phantoms.make(200, 64, split="val")
>>> agent = LandmarkAgent("carina").fit(train)                      # double DQN, about 2 min
>>> result = agent.search(val, record=True)                         # greedy multi-scale search
>>> result.errors, result.steps, result.trajectories[0].actions
>>> maps = explain_trajectory(agent, result.trajectories[0])       # Grad-CAM / saliency per step

Modules: :mod:`.phantoms` (radiographs with landmark ground truth), :mod:`.environment` (crops,
moves, rewards at several scales), :mod:`.agent` (the double-DQN agent), :mod:`.search` (its
greedy search and results), :mod:`.baselines` (coordinate and heatmap regression CNNs),
:mod:`.evaluate` (errors, failures), :mod:`.explain` (maps of the chosen action's Q-value),
:mod:`.figures` and :mod:`.widget` (a trajectory replay), :mod:`.commands` (``xai-lab landmarks``).
Inside the package, layers import downward as in the rest of xai_lab: phantoms -> environment ->
search -> agent / baselines -> evaluate -> explain -> figures -> widget -> commands. Nothing heavy
happens at import: TensorFlow loads when an agent or a baseline is first built.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import environment, evaluate, phantoms, search
from .environment import ACTIONS, LandmarkEnvironment
from .evaluate import LandmarkScores, distance_errors, score
from .phantoms import LANDMARKS, LandmarkSet
from .search import SearchResult, Trajectory

_LAZY = {
    "LandmarkAgent": "agent",
    "AgentFileError": "agent",
    "CoordinateRegressor": "baselines",
    "HeatmapRegressor": "baselines",
    "explain_trajectory": "explain",
    "TrajectoryExplanation": "explain",
    "trajectory_figure": "figures",
    "step_figure": "figures",
    "landmarks_figure": "figures",
    "scales_figure": "figures",
    "training_figure": "figures",
    "TrajectoryReplay": "widget",
}

__all__ = [
    "ACTIONS",
    "LANDMARKS",
    "LandmarkEnvironment",
    "LandmarkScores",
    "LandmarkSet",
    "SearchResult",
    "Trajectory",
    "distance_errors",
    "environment",
    "evaluate",
    "phantoms",
    "score",
    "search",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
