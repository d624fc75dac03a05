"""The search environment: an agent walks an image towards a landmark, coarse to fine.

Following Ghesu et al. (2019) and Alansary et al. (2019), the agent sees a fixed-size crop around
its position, moves one step up, down, left or right, and is rewarded by how much the step brought
it closer to the landmark. The search is multi-scale: at scale ``k`` the image is box-averaged
over ``stride_k x stride_k`` pixels, the crop samples it every ``stride_k`` pixels (so a coarse
crop sees a wide field blurred, a fine one a small field sharp) and a move is ``stride_k`` pixels.
Zooming in (to the next finer scale) happens when the search converges at a scale, detected as an
oscillation; at the finest scale an oscillation ends the search (see :mod:`.search`). The zoom is
not a learnt fifth action: it does not move the agent, so the distance-decrease reward would always
give it 0; like Ghesu et al. (2019), the search changes scale on convergence.

Everything is numpy and vectorised over a batch of searches (``index`` says which image each
search walks on). Positions are integer pixel (row, column); outside the image the crop is zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The actions, in the order of the Q-network's outputs.
ACTIONS = ("up", "down", "left", "right")
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)
#: The coarsest scale's image is about this many pixels wide (a 64 px image has strides 4, 2, 1).
COARSEST_SIDE = 16


def default_strides(size: int) -> tuple[int, ...]:
    """Strides from coarse to fine: powers of two down to 1, the coarsest about 16 px wide.

    64 px -> (4, 2, 1); 128 px -> (8, 4, 2, 1); 32 px -> (2, 1).
    """
    top = max(1, int(size) // COARSEST_SIDE)
    top = 1 << (top.bit_length() - 1)
    strides = []
    while top >= 1:
        strides.append(top)
        top //= 2
    return tuple(strides)


def box_average(images: np.ndarray, stride: int) -> np.ndarray:
    """Mean over the ``stride x stride`` window around each pixel (zero outside), same shape, uint8.

    The window of pixel ``i`` covers ``i - stride // 2 .. i - stride // 2 + stride - 1``.
    """
    x = np.asarray(images, np.float32)
    if stride == 1:
        return np.asarray(images, np.uint8).copy()
    n, h, w, c = x.shape
    lo, hi = stride // 2, stride - stride // 2 - 1
    padded = np.pad(x, ((0, 0), (lo + 1, hi), (lo + 1, hi), (0, 0)))
    integral = padded.cumsum(1).cumsum(2)
    total = (integral[:, stride:, stride:] - integral[:, :-stride, stride:]
             - integral[:, stride:, :-stride] + integral[:, :-stride, :-stride])  # fmt: skip
    return np.clip(np.rint(total / (stride * stride)), 0, 255).astype(np.uint8)


class LandmarkEnvironment:
    """Images at every scale of the search, with the crops, moves and rewards of the agent.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C)
        The images (square).
    targets : ndarray, shape (N, 2), optional
        (row, column) of the landmark in each image, in pixels; needed for rewards only.
    crop_size : int
        Side of the crop the agent sees (odd, so that the agent is at its centre pixel).
    strides : sequence of int, optional
        Scales from coarse to fine, ending with 1 (default :func:`default_strides`).

    References
    ----------
    Ghesu, F. C., Georgescu, B., Zheng, Y., Grbic, S., Maier, A., Hornegger, J., & Comaniciu, D.
    (2019). Multi-scale deep reinforcement learning for real-time 3D-landmark detection in CT
    scans. IEEE TPAMI 41(1), 176-189.

    Alansary, A., et al. (2019). Evaluating reinforcement learning agents for anatomical landmark
    detection. Medical Image Analysis 53, 156-164.
    """

    def __init__(self, images: np.ndarray, targets: np.ndarray | None = None, crop_size: int = 15,
                 strides: Any = None) -> None:  # fmt: skip
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != images.shape[2]:
            raise ValueError(f"images must be square uint8 (N, H, W, C), got {images.dtype} {images.shape}")
        if len(images) == 0:
            raise ValueError("the environment needs at least one image")
        crop_size = int(crop_size)
        if crop_size < 3 or crop_size % 2 == 0:
            raise ValueError(f"crop_size must be an odd number >= 3, got {crop_size}")
        self.size = int(images.shape[1])
        self.strides = tuple(int(s) for s in (strides or default_strides(self.size)))
        if not self.strides or self.strides[-1] != 1 or list(self.strides) != sorted(self.strides, reverse=True):
            raise ValueError(f"strides must decrease to 1, got {self.strides}")
        self.crop_size = crop_size
        self.channels = int(images.shape[-1])
        self.images = images
        self.scales = [box_average(images, s) for s in self.strides]
        self.targets = None if targets is None else np.asarray(targets, np.float64).reshape(len(images), 2)
        self._offsets = np.arange(crop_size) - crop_size // 2

    @property
    def n_scales(self) -> int:
        return len(self.strides)

    def __len__(self) -> int:
        return len(self.images)

    def observe(self, index: np.ndarray, pos: np.ndarray, level: np.ndarray) -> np.ndarray:
        """The crops (B, c, c, C) uint8 seen by searches on images ``index`` at ``pos`` and ``level``."""
        index = np.asarray(index, np.int64)
        pos = np.asarray(pos, np.int64).reshape(-1, 2)
        level = np.broadcast_to(np.asarray(level, np.int64), index.shape)
        out = np.zeros((len(index), self.crop_size, self.crop_size, self.channels), np.uint8)
        for k, stride in enumerate(self.strides):
            rows_k = np.flatnonzero(level == k)
            if len(rows_k) == 0:
                continue
            r = pos[rows_k, 0, None] + stride * self._offsets[None, :]  # (b, c)
            c = pos[rows_k, 1, None] + stride * self._offsets[None, :]
            inside = ((r >= 0) & (r < self.size))[:, :, None] & ((c >= 0) & (c < self.size))[:, None, :]
            rr = np.clip(r, 0, self.size - 1)[:, :, None]
            cc = np.clip(c, 0, self.size - 1)[:, None, :]
            crops = self.scales[k][index[rows_k, None, None], rr, cc]  # (b, c, c, C)
            out[rows_k] = crops * inside[..., None]
        return out

    def move(self, pos: np.ndarray, level: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Positions after the actions (a step of the level's stride), kept inside the image."""
        stride = np.asarray(self.strides)[np.asarray(level, np.int64)]
        new = np.asarray(pos, np.int64) + MOVES[np.asarray(actions, np.int64)] * np.reshape(stride, (-1, 1))
        return np.clip(new, 0, self.size - 1)

    def distance(self, index: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Euclidean distance in pixels from ``pos`` to the landmark of each image."""
        if self.targets is None:
            raise ValueError("this environment was made without landmark targets")
        return np.linalg.norm(np.asarray(pos, np.float64) - self.targets[np.asarray(index, np.int64)], axis=1)

    def reward(self, index: np.ndarray, pos: np.ndarray, new_pos: np.ndarray, level: np.ndarray) -> np.ndarray:
        """The decrease of the distance to the landmark, in units of the level's step.

        ``(D(pos) - D(new_pos)) / stride`` is in [-1, 1] at every scale (Ghesu et al. 2019 use
        the distance decrease at each scale's spacing), so one network learns all scales.
        """
        stride = np.asarray(self.strides, np.float64)[np.asarray(level, np.int64)]
        return ((self.distance(index, pos) - self.distance(index, new_pos)) / stride).astype(np.float32)
