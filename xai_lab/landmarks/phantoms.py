"""Phantom chest radiographs with known anatomical landmarks (pixel-exact ground truth).

The images look like the pneumonia phantoms of :mod:`xai_lab.data.phantoms` (whose drawing
helpers they reuse): a body outline, dark lungs crossed by ribs, a bright mediastinum and heart
shadow, plus what a landmark needs: a trachea (a dark air column) that divides into the two main
bronchi at the **carina**, and one round **nodule** in a lung. The whole chest is shifted and
scaled at random (as patients are positioned differently), so no landmark sits at a fixed place.

Landmarks (row, column in pixels; the centre of pixel ``(i, j)`` is ``(i, j)``)
------------------------------------------------------------------------------
``carina``
    The tracheal bifurcation: the point where the trachea divides into the main bronchi.
``right_apex`` / ``left_apex``
    The top of the patient's right lung (image left, radiological convention) / left lung.
``lesion``
    The centre of the nodule (one per image, in either lung).

Real landmark data considered
-----------------------------
- ISBI 2015 cephalometric challenge (Wang et al. 2016; 400 cephalograms, 19 landmarks):
  released for research after registration on the challenge site, no open licence, 1935 x 2400
  px images; not redistributable and not reachable offline, so not used.
- JSRT (Shiraishi et al. 2000; 247 chest radiographs with nodule centres) and its SCR
  segmentations (van Ginneken et al. 2006), from which chest landmarks are derived: distributed
  by the JSRT on application, for non-commercial research, 2048 x 2048 px; not redistributable
  and not in the shared data folder, so not used.
- ChestX-Det (Lian et al. 2021; 3578 NIH ChestX-ray14 images with boxes and masks of 13
  findings): the NIH images are public, but it annotates findings rather than anatomical
  landmarks, its own licence is not stated, and it is not in the shared data folder.
None of them is in ``XAI_LAB_DATA_DIR``; the landmark task therefore runs on these phantoms,
which give exact ground truth at any size and offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.phantoms import _col, _ellipse, _grid, _noise, _smooth_noise, _uniform

#: The landmarks every phantom carries, in the order of ``LandmarkSet.points``' second axis.
LANDMARKS = ("carina", "right_apex", "left_apex", "lesion")
LANDMARK_TITLES = {
    "carina": "carina (tracheal bifurcation)",
    "right_apex": "right lung apex (image left)",
    "left_apex": "left lung apex (image right)",
    "lesion": "centre of the nodule",
}
SPLITS = ("train", "val", "test")
MIN_SIZE = 32


@dataclass
class LandmarkSet:
    """Images with the (row, column) of each landmark.

    Attributes
    ----------
    images : ndarray, uint8, shape (N, H, W, 1)
    points : ndarray, float32, shape (N, len(LANDMARKS), 2)
        (row, column) of each landmark in pixels; the centre of pixel ``(i, j)`` is ``(i, j)``.
    split : str
    seed : int
    info : dict
        What the set is (title, licence, landmark names).
    """

    images: np.ndarray
    points: np.ndarray
    split: str = "train"
    seed: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images)
        self.points = np.asarray(self.points, np.float32)
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if self.points.shape != (len(self.images), len(LANDMARKS), 2):
            raise ValueError(f"points must be (N, {len(LANDMARKS)}, 2), got {self.points.shape}")

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (f"LandmarkSet({self.split}: {len(self)} phantom radiographs of "
                f"{self.size}x{self.size} px, landmarks {', '.join(LANDMARKS)})")  # fmt: skip

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    def point(self, landmark: str) -> np.ndarray:
        """(N, 2) float32 (row, column) of one landmark."""
        return self.points[:, landmark_index(landmark)]

    def x(self) -> np.ndarray:
        """Images as float32 in [0, 1], the input of the networks."""
        return self.images.astype(np.float32) / 255.0

    def subset(self, index: Any) -> LandmarkSet:
        index = np.asarray(index)
        return LandmarkSet(self.images[index], self.points[index], self.split, self.seed, dict(self.info))


def landmark_index(landmark: str) -> int:
    """The position of ``landmark`` in :data:`LANDMARKS`, with a clear error for an unknown one."""
    if landmark not in LANDMARKS:
        raise ValueError(f"unknown landmark {landmark!r}; choose one of {', '.join(LANDMARKS)}")
    return LANDMARKS.index(landmark)


def _draw(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` radiographs (float, about 0-255) and their landmarks in normalised image coordinates."""
    yy, xx = _grid(size)
    j = lambda s: _noise(rng, n, s)  # noqa: E731
    # patient position: the chest is shifted and scaled about the image centre
    shift_y, shift_x = _uniform(rng, -0.12, 0.12, n), _uniform(rng, -0.14, 0.14, n)
    scale = _uniform(rng, 0.75, 1.05, n)
    # body coordinates of every pixel (the anatomy is drawn in them)
    by = (yy - 0.5 - _col(shift_y)) / _col(scale) + 0.5
    bx = (xx - 0.5 - _col(shift_x)) / _col(scale) + 0.5

    img = np.full((n, size, size), 15.0, dtype=np.float32)
    body = _ellipse(by, bx, 0.58 + _col(j(0.01)), 0.5, 0.58, 0.46 + _col(j(0.01))) <= 1
    img += body * 70.0
    lung_cy = 0.50 + j(0.02)
    ry_r, ry_l = 0.29 + j(0.015), 0.29 + j(0.015)
    cx_r, cx_l = 0.30 + j(0.012), 0.70 + j(0.012)
    rx = 0.15 + j(0.01)
    right = _ellipse(by, bx, _col(lung_cy), _col(cx_r), _col(ry_r), _col(rx)) <= 1
    left = _ellipse(by, bx, _col(lung_cy), _col(cx_l), _col(ry_l), _col(rx)) <= 1
    lungs = (left | right) & body
    img -= lungs * 45.0
    freq = _col(_uniform(rng, 6.0, 8.0, n))
    ribs = np.sin(2 * np.pi * (freq * by - 1.2 * (bx - 0.5) ** 2) + _col(_uniform(rng, 0, 2 * np.pi, n))) > 0.55
    img += (ribs & lungs) * 18.0
    spine = (np.abs(bx - 0.5) < 0.06) & body
    heart = _ellipse(by, bx, 0.70 + _col(j(0.015)), 0.56 + _col(j(0.01)), 0.13, 0.14 + _col(j(0.01))) <= 1
    img += (spine | heart) * 55.0
    # trachea: a dark air column down the midline to the carina, then the two main bronchi
    carina_y, carina_x = 0.40 + j(0.02), 0.5 + j(0.008)
    half_width = 0.028
    trachea = (np.abs(bx - _col(carina_x)) < half_width) & (by > 0.02) & (by <= _col(carina_y))
    below = by - _col(carina_y)
    bronchi = np.zeros_like(trachea)
    for side, angle in ((-1.0, _uniform(rng, 0.55, 0.75, n)), (1.0, _uniform(rng, 0.45, 0.65, n))):
        # a band from the carina going down and outwards at ``angle`` (radians) from vertical
        dy, dx = np.cos(angle), side * np.sin(angle)
        along = below * _col(dy) + (bx - _col(carina_x)) * _col(dx)
        across = np.abs(below * _col(dx) - (bx - _col(carina_x)) * _col(dy))
        bronchi |= (along >= 0) & (along <= 0.12) & (across < half_width * 0.75)
    img -= ((trachea | bronchi) & body & ~lungs) * 50.0  # air inside the mediastinum
    img += _smooth_noise(rng, n, size, 5) * 8.0
    # the nodule: a bright round lesion well inside one lung
    side = rng.integers(0, 2, n)
    ang = _uniform(rng, 0, 2 * np.pi, n)
    rad = 0.6 * np.sqrt(_uniform(rng, 0.0, 1.0, n))
    lung_cx = np.where(side == 0, cx_r, cx_l)
    lung_ry = np.where(side == 0, ry_r, ry_l)
    les_y = lung_cy + rad * np.sin(ang) * lung_ry
    les_x = lung_cx + rad * np.cos(ang) * rx
    les_r = np.maximum(_uniform(rng, 0.035, 0.055, n), 1.5 / size)
    d = _ellipse(by, bx, _col(les_y), _col(les_x), _col(les_r), _col(les_r))
    img += np.clip(1.0 - d, 0.0, 1.0) * 70.0
    img *= _col(_uniform(rng, 0.9, 1.1, n))
    img += _noise(rng, img.shape, 3.0)

    body_points = np.stack(
        [
            np.stack([carina_y, carina_x], 1),
            np.stack([lung_cy - ry_r, cx_r], 1),
            np.stack([lung_cy - ry_l, cx_l], 1),
            np.stack([les_y, les_x], 1),
        ],
        1,
    )  # (n, 4, 2) in body coordinates
    shift = np.stack([shift_y, shift_x], 1)[:, None, :]
    image_points = (body_points - 0.5) * scale[:, None, None] + 0.5 + shift
    return img[..., None], image_points


def make(n: int, size: int = 64, seed: int = 0, split: str = "train") -> LandmarkSet:
    """Generate ``n`` phantom radiographs of ``size`` px with their landmarks.

    Parameters
    ----------
    n : int
        Number of images (>= 1).
    size : int
        Height and width in pixels (>= 32; the course uses 64 and 128).
    seed : int
        Same seed and split, same images and landmarks. A landmark's position in normalised
        coordinates does not depend on ``size``: the 64 and 128 px sets of a seed show the same
        patients.
    split : {"train", "val", "test"}
        Each split draws from its own random stream, so the splits never share an image.

    Returns
    -------
    LandmarkSet
    """
    n, size = int(n), int(size)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if size < MIN_SIZE:
        raise ValueError(f"landmark phantoms need at least {MIN_SIZE} px, got {size}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    stream = np.random.SeedSequence([int(seed), SPLITS.index(split)])
    # one child stream per block of 64 images: the same patients at every image size (every
    # random draw but the last, the pixel noise, has a shape that does not depend on the size)
    blocks = (n + 63) // 64
    children = stream.spawn(blocks)
    images = np.zeros((n, size, size, 1), np.uint8)
    points = np.zeros((n, len(LANDMARKS), 2), np.float32)
    for b in range(blocks):
        start, stop = b * 64, min(n, b * 64 + 64)
        img, pts = _draw_block(children[b], stop - start, size)
        images[start:stop] = img
        points[start:stop] = pts
    info = {
        "title": "Phantom chest radiographs with landmarks",
        "modality": "chest X-ray (synthetic)",
        "landmarks": LANDMARKS,
        "license": "CC0 (generated)",
        "size": size,
    }
    return LandmarkSet(images, points, split, int(seed), info)


def _draw_block(seq: np.random.SeedSequence, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seq)
    img, unit = _draw(rng, n, size)
    pixels = unit * size - 0.5  # normalised -> pixel coordinates (pixel centres at integers)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), pixels.astype(np.float32)
