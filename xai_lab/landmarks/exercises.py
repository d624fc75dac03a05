"""Self-check exercises of notebook 18 (agents that search images).

Importing this module registers them with :func:`xai_lab.course.check`; a notebook calls
``check("18.reward", answer)``. Reference answers are computed from the context the notebook
passes, or from the environment's own rules, never stored.

>>> from xai_lab.course import check
>>> from xai_lab.landmarks import exercises  # noqa: F401  (registers the exercises)
>>> check("18.oscillation", "b")  # doctest: +ELLIPSIS
right: ...
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..course.exercises import _word, check, exercise

__all__ = ["check"]

#: The situation of exercise 18.reward: agent, landmark, stride, move.
REWARD_CASE = {"position": (10, 10), "landmark": (13.0, 14.0), "stride": 1, "action": "right"}


@exercise("18.reward",
          "The agent stands at row 10, column 10 at the finest scale (moves of 1 px); the landmark is at "
          "row 13, column 14. What reward does the move 'right' earn?",
          "the reward is the distance to the landmark before the move minus the distance after it, "
          "divided by the stride: use math.dist.")  # fmt: skip
def _reward(answer: Any) -> tuple[bool, str]:
    from .environment import ACTIONS, LandmarkEnvironment

    case = REWARD_CASE
    env = LandmarkEnvironment(np.zeros((1, 32, 32, 1), np.uint8), np.array([case["landmark"]]), 3)
    pos = np.array([case["position"]])
    level = np.array([env.strides.index(case["stride"])])
    action = np.array([ACTIONS.index(case["action"])])
    new = env.move(pos, level, action)
    expected = float(env.reward(np.array([0]), pos, new, level)[0])
    before, after = math.dist(case["position"], case["landmark"]), math.dist(new[0], case["landmark"])
    ok = math.isclose(float(answer), expected, abs_tol=1e-3)
    return ok, (f"{before:.3f} - {after:.3f} = {expected:.3f}: the move brought the agent "
                f"{expected:.3f} px closer." if ok else f"{answer} is not the decrease of the distance.")  # fmt: skip


@exercise("18.oscillation",
          "At one scale, a trained agent's greedy search comes back to a position it has already visited. "
          "What happens next if it goes on? a: it walks on to new places, b: it repeats the same cycle for "
          "ever, c: it moves at random.",
          "the crop at a position and scale is always the same, and the agent always takes the action with "
          "the largest Q-value for that crop.")  # fmt: skip
def _oscillation(answer: Any) -> tuple[bool, str]:
    word = _word(answer)
    if word in ("b", "cycle", "repeats"):
        return True, ("b: same crop, same Q-values, same action: from a revisited position the path repeats, "
                      "so the search can stop there (or zoom in).")  # fmt: skip
    if word in ("a", "c"):
        return False, f"{answer}: the greedy policy is deterministic given the crop."
    return False, f"{answer!r} is not one of a, b, c."


@exercise("18.median_error",
          "Compute the agent's median distance error in pixels on the validation phantoms.",
          "result.errors holds one distance per image: np.median(result.errors).")  # fmt: skip
def _median_error(answer: Any, errors: Any = None) -> tuple[bool, str]:
    if errors is None:
        raise ValueError("pass errors=result.errors so that the answer can be checked")
    expected = float(np.nanmedian(np.asarray(errors, np.float64)))
    ok = math.isclose(float(answer), expected, rel_tol=1e-6, abs_tol=1e-6)
    return ok, (f"{expected:.3f} px: half of the searches end closer than this." if ok
                else f"{answer} is not the median of the errors (the mean is {np.nanmean(errors):.3f}).")  # fmt: skip


@exercise("18.explained_action",
          "For the first step of the trajectory, which action's Q-value do the maps explain? Give its name.",
          "the maps are computed with target = trajectory.actions; ACTIONS names them.")  # fmt: skip
def _explained_action(answer: Any, trajectory: Any = None) -> tuple[bool, str]:
    from .environment import ACTIONS

    if trajectory is None:
        raise ValueError("pass trajectory=... so that the answer can be checked")
    right = ACTIONS[int(trajectory.actions[0])]
    ok = _word(answer) == _word(right)
    return ok, (f"{right}: the maps explain the Q-value of the action the agent chose." if ok
                else f"{answer!r} is not the action taken at the first step.")  # fmt: skip
