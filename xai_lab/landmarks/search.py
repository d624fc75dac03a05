"""The greedy multi-scale search of a trained agent, and its results.

At each step every active search takes the action with the largest Q-value. A search *converges*
at a scale when it comes back to a position it already visited at that scale: the policy is
deterministic given the crop, so from there it would cycle for ever (the oscillation criterion of
Ghesu et al. 2019 and Alansary et al. 2019). It then returns to the place of the cycle with the
lowest largest Q-value (where every move looks worst: the closest to the landmark, as in Alansary
et al. 2019) and zooms in to the next finer scale from there; at the finest scale that place is the
answer. A scale also ends after
``max_steps_per_scale`` moves (a search that hits this limit at the finest scale is counted as
not converged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .environment import ACTIONS, LandmarkEnvironment

ENDS = ("oscillation", "step limit")


@dataclass
class Trajectory:
    """One search, step by step.

    Attributes
    ----------
    positions : ndarray, int64, shape (T + 1, 2)
        (row, column) where each step was taken, and the final position last. After a cycle
        the search goes back to the cycle's best place, so ``positions[t + 1]`` is where the
        next step starts, not always where move ``t`` led.
    levels : ndarray, int64, shape (T,)
        Scale index of each step (0 the coarsest).
    actions : ndarray, int64, shape (T,)
        The action taken at each step (index into :data:`~.environment.ACTIONS`).
    q_values : ndarray, float32, shape (T, n_actions)
        The Q-values the action was chosen from.
    crops : ndarray, uint8, shape (T, c, c, C)
        What the agent saw at each step (the state).
    strides : tuple of int
        The stride of each scale.
    end : str
        ``"oscillation"`` (converged) or ``"step limit"``.
    target : ndarray or None, shape (2,)
        The true landmark, when known.
    image : ndarray or None, uint8, shape (H, W, C)
        The image searched.
    """

    positions: np.ndarray
    levels: np.ndarray
    actions: np.ndarray
    q_values: np.ndarray
    crops: np.ndarray
    strides: tuple[int, ...]
    end: str
    target: np.ndarray | None = None
    image: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.actions)

    def footprint(self, step: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) in image pixels of the crop seen at ``step`` (inclusive)."""
        stride = int(self.strides[int(self.levels[step])])
        half = (self.crops.shape[1] // 2) * stride
        r, c = (int(v) for v in self.positions[step])
        lo, hi = stride // 2, stride - stride // 2 - 1
        return r - half - lo, c - half - lo, r + half + hi, c + half + hi

    @property
    def prediction(self) -> np.ndarray:
        return self.positions[-1].astype(np.float64)

    @property
    def error(self) -> float:
        """Distance in pixels from the final position to the landmark (NaN when unknown)."""
        if self.target is None:
            return float("nan")
        return float(np.linalg.norm(self.prediction - self.target))

    @property
    def action_names(self) -> list[str]:
        return [ACTIONS[a] for a in self.actions]

    def step_table(self) -> list[dict[str, Any]]:
        """One row per step: position, scale, stride, action, its Q-value."""
        return [
            {
                "step": t,
                "row": int(self.positions[t, 0]),
                "column": int(self.positions[t, 1]),
                "scale": int(self.levels[t]),
                "stride": int(self.strides[self.levels[t]]),
                "action": ACTIONS[int(self.actions[t])],
                "q_value": float(self.q_values[t, self.actions[t]]),
            }
            for t in range(len(self))
        ]


@dataclass
class SearchResult:
    """The searches of a batch of images.

    Attributes
    ----------
    predictions : ndarray, float64, shape (N, 2)
        Final (row, column) of each search.
    steps : ndarray, int64, shape (N,)
        Moves made (all scales together).
    ends : ndarray of str, shape (N,)
        ``"oscillation"`` or ``"step limit"``.
    targets : ndarray or None, shape (N, 2)
        The true landmarks, when known.
    seconds : float
        Wall time of the whole batch of searches.
    trajectories : list of Trajectory or None
        Step-by-step records (``record=True``).
    """

    predictions: np.ndarray
    steps: np.ndarray
    ends: np.ndarray
    targets: np.ndarray | None = None
    seconds: float = 0.0
    trajectories: list[Trajectory] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.predictions)

    @property
    def errors(self) -> np.ndarray:
        """Distance in pixels to the landmark per search (NaN where the landmark is unknown)."""
        if self.targets is None:
            return np.full(len(self), np.nan)
        return np.linalg.norm(self.predictions - self.targets, axis=1)

    @property
    def converged(self) -> np.ndarray:
        return self.ends == "oscillation"


def run_search(
    q_function: Callable[[np.ndarray], np.ndarray],
    env: LandmarkEnvironment,
    start: np.ndarray,
    max_steps_per_scale: int = 30,
    record: bool = False,
) -> SearchResult:
    """Search every image of ``env`` greedily from ``start`` (N, 2), coarse to fine.

    ``q_function(crops uint8 (B, c, c, C)) -> (B, n_actions)`` gives the Q-values.
    """
    import time

    t0 = time.perf_counter()
    n = len(env)
    limit = int(max_steps_per_scale)
    pos = np.clip(np.asarray(start, np.int64).reshape(n, 2), 0, env.size - 1).copy()
    level = np.zeros(n, np.int64)
    active = np.ones(n, bool)
    steps = np.zeros(n, np.int64)
    level_steps = np.zeros(n, np.int64)
    ends = np.full(n, ENDS[0], dtype=object)
    history = np.full((n, limit + 1, 2), -1, np.int64)
    history_q = np.full((n, limit + 1), np.inf, np.float32)  # max Q-value when leaving each place
    history[:, 0] = pos
    index = np.arange(n)
    logs: list[dict[str, list]] | None = None
    if record:
        logs = [{"pos": [pos[i].copy()], "level": [], "action": [], "q": [], "crop": []} for i in range(n)]
    while active.any():
        act = np.flatnonzero(active)
        crops = env.observe(index[act], pos[act], level[act])
        q = np.asarray(q_function(crops), np.float32)
        actions = q.argmax(axis=1)
        here = level_steps[act]  # index of the current position in the history
        history_q[act, here] = q.max(axis=1)
        new = env.move(pos[act], level[act], actions)
        pos[act] = new
        steps[act] += 1
        level_steps[act] += 1
        seen = (history[act] == new[:, None, :]).all(axis=2)  # (b, limit + 1)
        revisit = seen.any(axis=1)
        # a cycle: go back to its place with the lowest max Q-value, where every move looks worst,
        # i.e. the closest to the landmark (Alansary et al. 2019)
        for j in np.flatnonzero(revisit):
            i, first = act[j], int(np.argmax(seen[j]))
            best = first + int(np.argmin(history_q[i, first : here[j] + 1]))
            pos[i] = history[i, best]
        hit_limit = level_steps[act] >= limit
        done_here = revisit | hit_limit
        finest = level[act] == env.n_scales - 1
        if logs is not None:
            for j, i in enumerate(act):
                logs[i]["level"].append(int(level[i]))
                logs[i]["action"].append(int(actions[j]))
                logs[i]["q"].append(q[j])
                logs[i]["crop"].append(crops[j])
                logs[i]["pos"].append(pos[i].copy())
        # zoom in: the next scale starts where this one converged
        zoom = act[done_here & ~finest]
        level[zoom] += 1
        level_steps[zoom] = 0
        history[zoom] = -1
        history_q[zoom] = np.inf
        history[zoom, 0] = pos[zoom]
        # finished at the finest scale
        stop = done_here & finest
        ends[act[stop & ~revisit]] = ENDS[1]
        active[act[stop]] = False
        # still searching at this scale: remember the position
        go_on = act[~done_here]
        history[go_on, level_steps[go_on]] = pos[go_on]
    trajectories = None
    if logs is not None:
        targets = env.targets
        trajectories = [
            Trajectory(
                positions=np.asarray(log["pos"], np.int64),
                levels=np.asarray(log["level"], np.int64),
                actions=np.asarray(log["action"], np.int64),
                q_values=np.asarray(log["q"], np.float32).reshape(len(log["action"]), -1),
                crops=np.asarray(log["crop"], np.uint8).reshape(
                    len(log["action"]), env.crop_size, env.crop_size, env.channels),
                strides=env.strides,
                end=str(ends[i]),
                target=None if targets is None else targets[i].copy(),
                image=env.images[i],
            )
            for i, log in enumerate(logs)
        ]
    return SearchResult(
        predictions=pos.astype(np.float64),
        steps=steps,
        ends=ends.astype(str),
        targets=None if env.targets is None else env.targets.copy(),
        seconds=time.perf_counter() - t0,
        trajectories=trajectories,
    )
