"""Why did the agent move that way? Maps of the chosen action's Q-value at every step.

The Q-network has one (N, 4) output of Q-values, the contract of the package's explainers
(:mod:`xai_lab.explain`): a Q-value plays the role of a class logit and the action plays the role
of the class. So every step of a trajectory is explained by asking a registered explainer for the
map of the *chosen* action's Q-value (``target = trajectory.actions``) on the crop the agent saw:
Grad-CAM (Selvaraju et al. 2017) shows which part of the crop's last feature map raised that
Q-value, saliency (Simonyan et al. 2014) which pixels it is most sensitive to.

>>> from xai_lab.landmarks import explain_trajectory                 # doctest: +SKIP
>>> ex = explain_trajectory(agent, result.trajectories[0])
>>> ex["gradcam"].maps.shape                                          # (steps, crop, crop)
>>> ex.on_image("gradcam", 3)                                         # the map placed in the image
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import explain as _explain
from .search import Trajectory

DEFAULT_METHODS = ("gradcam", "saliency")


@dataclass
class TrajectoryExplanation:
    """The maps of one trajectory: one :class:`~xai_lab.explain.Explanation` per method.

    Each Explanation holds one map per step of the crop the agent saw (N = steps), with
    ``targets`` = the actions taken and ``predictions`` = the greedy actions (the same for a
    greedy search).
    """

    trajectory: Trajectory
    explanations: dict[str, Any] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, method: str) -> Any:
        if method not in self.explanations:
            raise KeyError(f"no {method!r} maps here; methods: {', '.join(self.explanations)}")
        return self.explanations[method]

    def __len__(self) -> int:
        return len(self.trajectory)

    @property
    def methods(self) -> list[str]:
        return list(self.explanations)

    def on_image(self, method: str, step: int) -> np.ndarray:
        """The map of ``step`` placed where its crop lies in the image (H, W); NaN elsewhere.

        A crop pixel at stride ``s`` stands for an ``s x s`` block of the image (its box average),
        so its value fills that block.
        """
        traj = self.trajectory
        if traj.image is None:
            raise ValueError("the trajectory does not hold its image (search with record=True)")
        if not 0 <= step < len(traj):
            raise IndexError(f"step {step} is outside 0..{len(traj) - 1}")
        size = traj.image.shape[0]
        stride = int(traj.strides[int(traj.levels[step])])
        crop_map = self[method].maps[step]
        block = np.kron(crop_map, np.ones((stride, stride), np.float32))
        top, left, _, _ = traj.footprint(step)
        out = np.full((size, size), np.nan, np.float32)
        r0, c0 = max(top, 0), max(left, 0)
        r1, c1 = min(top + block.shape[0], size), min(left + block.shape[1], size)
        if r1 > r0 and c1 > c0:
            out[r0:r1, c0:c1] = block[r0 - top : r1 - top, c0 - left : c1 - left]
        return out


def explain_trajectory(
    agent: Any,
    trajectory: Trajectory,
    methods: Sequence[str] = DEFAULT_METHODS,
    explainers: dict[str, Any] | None = None,
) -> TrajectoryExplanation:
    """Explain every step of ``trajectory``: maps of the chosen action's Q-value on its crop.

    Parameters
    ----------
    agent : LandmarkAgent
        The trained agent whose search made the trajectory.
    trajectory : Trajectory
        From ``agent.search(..., record=True).trajectories``.
    methods : sequence of str
        Registry names of explainers (``xai_lab.explain.available()``).
    explainers : dict, optional
        Ready explainer instances by name (custom settings); used besides ``methods``.

    Returns
    -------
    TrajectoryExplanation

    References
    ----------
    Selvaraju, R. R., et al. (2017). Grad-CAM. ICCV; Simonyan, K., Vedaldi, A., & Zisserman, A.
    (2014). Deep inside convolutional networks. ICLR workshop.
    """
    if not isinstance(trajectory, Trajectory):
        raise TypeError(f"trajectory must be a Trajectory (search with record=True), got {type(trajectory).__name__}")
    if len(trajectory) == 0:
        raise ValueError("the trajectory has no steps to explain")
    network = agent.q_network
    chosen: dict[str, Any] = {name: _explain.get(name) for name in methods}
    chosen.update(explainers or {})
    if not chosen:
        raise ValueError("no explainers: pass methods=[...] or explainers={...}")
    out = TrajectoryExplanation(trajectory)
    for name, explainer in chosen.items():
        out.explanations[name] = explainer.explain(network, trajectory.crops, target=trajectory.actions)
        out.titles[name] = getattr(explainer, "title", "") or name
    return out
