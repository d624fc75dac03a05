"""Synthetic "phantom" images with pixel-exact ground truth, for the three course tasks.

Phantoms are the offline default (``load_best`` falls back to them), the test fixture, and
the ground truth for scoring explanations: ``Dataset.masks`` marks exactly the pixels that
define the class, so a saliency map can be checked against them (pointing game, mask IoU).

Tasks
-----
``"pneumonia"``
    Grey radiograph-like images: body outline, dark lungs, ribs, a bright mediastinum with the
    heart shadow towards the image's right (the patient's left). Class 1 ("pneumonia") has
    1-3 soft opacities inside the lungs; ``masks`` = the opacities, empty for class 0.
``"skin"``
    RGB skin-like background (random tone and texture) with one lesion whose size, border
    irregularity and colour depend on the 7 HAM10000 classes (akiec, bcc, bkl, df, mel, nv,
    vasc); ``masks`` = the lesion.
``"retina"``
    RGB fundus-like disc with optic disc, macula and vessels; diabetic-retinopathy grade 0-4
    sets the number and kind of lesions (microaneurysms, haemorrhages, hard exudates);
    ``masks`` = the lesions (empty for grade 0).

Shortcut option
---------------
``shortcut=True`` plants a bright square marker (like a burnt-in hospital tag or a ruler
mark) in the top-left corner. It is present with probability ``shortcut_p`` for "positive"
images (pneumonia; malignant skin classes akiec, bcc, mel; retinopathy grade >= 2) and with
probability ``1 - shortcut_p`` otherwise, so a model can reach high accuracy from the marker
alone. Its pixels are in ``Dataset.shortcut_masks`` and its presence in
``metadata["shortcut"]``. Lesion masks never include the marker.

Everything is vectorised numpy, deterministic for a seed, classes balanced (each class
``n // k`` or ``n // k + 1`` images).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dataset import Dataset
from .info import HAM10000_CODES, HAM10000_NAMES

TASKS = ("pneumonia", "skin", "retina")
ALIASES = {
    "pneumoniamnist": "pneumonia",
    "chest_xray": "pneumonia",
    "dermamnist": "skin",
    "ham10000": "skin",
    "retinamnist": "retina",
}
POSITIVE = {"pneumonia": (1,), "skin": (0, 1, 4), "retina": (2, 3, 4)}

PHANTOM_INFO: dict[str, dict[str, Any]] = {
    "pneumonia": {
        "title": "Phantom chest X-rays",
        "task": "binary",
        "modality": "chest X-ray (synthetic)",
        "label_names": ("normal", "pneumonia"),
        "n_channels": 1,
        "augment": "xray",
    },
    "skin": {
        "title": "Phantom skin lesions",
        "task": "multiclass",
        "modality": "dermoscopy (synthetic)",
        "label_names": HAM10000_NAMES,
        "label_codes": HAM10000_CODES,
        "n_channels": 3,
        "augment": "dermoscopy",
    },
    "retina": {
        "title": "Phantom fundus photographs",
        "task": "ordinal",
        "modality": "fundus (synthetic)",
        "label_names": ("0 no DR", "1 mild NPDR", "2 moderate NPDR", "3 severe NPDR", "4 PDR"),
        "n_channels": 3,
        "augment": "fundus",
    },
}
for _task, _row in PHANTOM_INFO.items():
    _row.update(
        name=f"phantom-{_task}",
        kind="phantom",
        phantom=_task,
        n_classes=len(_row["label_names"]),
        license="CC0 (generated)",
        citation=(),
    )
del _task, _row

_CHUNK_PIXELS = 4_000_000  # images are generated in chunks of about this many pixels


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return c[None, :, None], c[None, None, :]  # yy (1, H, 1), xx (1, 1, W) in [0, 1]


def _col(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float32)[:, None, None]


def _uniform(rng: np.random.Generator, low: float, high: float, shape: Any) -> np.ndarray:
    return rng.uniform(low, high, shape).astype(np.float32)


def _noise(rng: np.random.Generator, shape: Any, scale: float) -> np.ndarray:
    """Zero-mean uniform noise with standard deviation ``scale`` (3x cheaper than normal)."""
    return (rng.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(scale * 12**0.5)


def _smooth_noise(rng: np.random.Generator, n: int, size: int, cells: int = 4) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a random cells x cells grid bilinearly upsampled."""
    g = _uniform(rng, -1, 1, (n, cells + 1, cells + 1))
    pos = np.linspace(0, cells, size, dtype=np.float32)
    interp = np.maximum(0.0, 1.0 - np.abs(pos[:, None] - np.arange(cells + 1)[None, :])).astype(
        np.float32
    )
    return interp @ g @ interp.T


def _ellipse(yy, xx, cy, cx, ry, rx) -> np.ndarray:
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2


def _pneumonia(
    rng: np.random.Generator, labels: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    n = len(labels)
    yy, xx = _grid(size)
    j = lambda s: _noise(rng, n, s)  # noqa: E731
    img = np.full((n, size, size), 15.0, dtype=np.float32)
    body = _ellipse(yy, xx, 0.55 + _col(j(0.01)), 0.5, 0.55, 0.46 + _col(j(0.01))) <= 1
    img += body * 70.0
    lung_cy = 0.48 + _col(j(0.02))
    lung_ry = 0.30 + _col(j(0.015))
    lung_rx = 0.15 + _col(j(0.01))
    left = _ellipse(yy, xx, lung_cy, 0.30 + _col(j(0.01)), lung_ry, lung_rx) <= 1
    right = _ellipse(yy, xx, lung_cy, 0.70 + _col(j(0.01)), lung_ry, lung_rx) <= 1
    lungs = (left | right) & body
    img -= lungs * 45.0
    # ribs: curved bands across the lungs
    freq = _col(_uniform(rng, 6.0, 8.0, n))
    ribs = (
        np.sin(
            2 * np.pi * (freq * yy - 1.2 * (xx - 0.5) ** 2) + _col(_uniform(rng, 0, 2 * np.pi, n))
        )
        > 0.55
    )
    img += (ribs & lungs) * 18.0
    # mediastinum and heart shadow (towards image right = patient's left)
    spine = (np.abs(xx - 0.5) < 0.06) & body
    heart = (
        _ellipse(yy, xx, 0.66 + _col(j(0.015)), 0.56 + _col(j(0.01)), 0.13, 0.14 + _col(j(0.01)))
        <= 1
    )
    img += (spine | heart) * 55.0
    img += _smooth_noise(rng, n, size, 5) * 8.0
    # opacities (class 1): 1-3 blobs inside the lungs
    k = 3
    active = (labels[:, None] == 1) & (np.arange(k)[None, :] < rng.integers(1, k + 1, n)[:, None])
    side = rng.integers(0, 2, (n, k))
    cy = (lung_cy[:, :, 0] + _uniform(rng, -0.18, 0.18, (n, k))).astype(np.float32)
    cx = np.where(side == 0, 0.30, 0.70) + _uniform(rng, -0.07, 0.07, (n, k))
    r = np.maximum(_uniform(rng, 0.07, 0.12, (n, k)), 1.6 / size)
    blobs = np.zeros((n, size, size), dtype=bool)
    strength = np.zeros((n, size, size), dtype=np.float32)
    for b in range(k):
        d = _ellipse(yy, xx, _col(cy[:, b]), _col(cx[:, b]), _col(r[:, b]), _col(r[:, b] * 1.2))
        inside = (d <= 1) & lungs & active[:, b, None, None]
        blobs |= inside
        strength = np.maximum(strength, inside * (1.0 - 0.4 * d))
    img += strength * 75.0
    img *= _col(_uniform(rng, 0.9, 1.1, n))
    img += _noise(rng, img.shape, 3.0)
    meta = {"n_opacities": active.sum(1)}
    return img[..., None], blobs, meta


_SKIN_STYLE = {
    # class: radius, irregularity (radial harmonics amplitude), colour (RGB), second colour
    0: (0.20, 0.18, (200, 90, 90), (225, 150, 140)),  # akiec: rough red-pink patch
    1: (0.18, 0.05, (230, 175, 180), (170, 60, 80)),  # bcc: pearly pink, dark rim vessels
    2: (0.24, 0.10, (165, 115, 70), (120, 80, 45)),  # bkl: light-brown mottled
    3: (0.12, 0.03, (135, 85, 60), (235, 220, 200)),  # df: small brown ring, white centre
    4: (0.27, 0.32, (55, 35, 30), (80, 90, 130)),  # mel: large irregular dark with blue-grey
    5: (0.17, 0.03, (110, 70, 45), (110, 70, 45)),  # nv: round uniform brown
    6: (0.15, 0.12, (150, 30, 70), (90, 20, 60)),  # vasc: red-purple lobulated
}


def _skin(
    rng: np.random.Generator, labels: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    n = len(labels)
    yy, xx = _grid(size)
    tone = np.array([235, 200, 175], np.float32) * _uniform(rng, 0.75, 1.0, (n, 1)).astype(
        np.float32
    )
    img = np.broadcast_to(tone[:, None, None, :], (n, size, size, 3)).copy()
    img += _smooth_noise(rng, n, size, 4)[..., None] * 10.0
    style = np.array([_SKIN_STYLE[c][:2] for c in range(7)], np.float32)
    col1 = np.array([_SKIN_STYLE[c][2] for c in range(7)], np.float32)
    col2 = np.array([_SKIN_STYLE[c][3] for c in range(7)], np.float32)
    radius = style[labels, 0] * _uniform(rng, 0.85, 1.15, n)
    irregular = style[labels, 1]
    cy = 0.5 + _uniform(rng, -0.08, 0.08, n)
    cx = 0.5 + _uniform(rng, -0.08, 0.08, n)
    dy, dx = yy - _col(cy), xx - _col(cx)
    dist = np.sqrt(dy**2 + dx**2)
    # border radius r(theta) = R (1 + sum_k a_k cos(k theta + phi_k)), with cos(k theta + phi)
    # = Re(z^k e^{i phi}) for z = e^{i theta} (cheaper than arctan2 + cos)
    z = (dx + 1j * dy).astype(np.complex64) / np.maximum(dist, 1e-6)
    z2 = z * z
    powers = {3: z2 * z}
    powers[5] = powers[3] * z2
    powers[7] = powers[5] * z2
    rad = np.ones((n, size, size), np.float32)
    for harmonic, weight in ((3, 1.0), (5, 0.6), (7, 0.4)):
        amp = irregular * weight * _uniform(rng, 0.5, 1.0, n)
        phase = np.exp(1j * _uniform(rng, 0, 2 * np.pi, n)).astype(np.complex64)
        rad += _col(amp) * (powers[harmonic] * phase[:, None, None]).real
    boundary = _col(radius) * rad
    mask = dist <= np.maximum(boundary, 1.2 / size)
    rel = dist / np.maximum(boundary, 1e-3)  # 0 centre .. 1 border
    # two-colour pattern: white centre (df), dark rim (bcc), patches (the others)
    patches = _smooth_noise(rng, n, size, 6) > 0.2
    ii = np.nonzero(mask)
    lab = labels[ii[0]]
    second = np.where(lab == 3, rel[ii] < 0.45, np.where(lab == 1, rel[ii] > 0.75, patches[ii]))
    jitter = _uniform(rng, 0.9, 1.1, (n, 3))
    img[ii] = np.where(second[:, None], col2[lab], col1[lab]) * jitter[ii[0]]
    img += _noise(rng, img.shape, 4.0)
    return img, mask, {"lesion_radius": radius}


_RETINA_COUNTS = np.array(
    [
        # microaneurysms, haemorrhages, exudates per grade
        [0, 0, 0],
        [3, 0, 0],
        [4, 2, 1],
        [5, 4, 3],
        [6, 6, 5],
    ]
)


def _retina(
    rng: np.random.Generator, labels: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    n = len(labels)
    yy, xx = _grid(size)
    dist = np.sqrt((yy - 0.5) ** 2 + (xx - 0.5) ** 2)
    fundus = dist <= 0.46
    base = np.array([200, 85, 40], np.float32) * _uniform(rng, 0.8, 1.1, (n, 1)).astype(np.float32)
    vignette = np.clip(1.0 - 1.1 * dist**2 / 0.46**2 * 0.5, 0, 1)
    img = base[:, None, None, :] * vignette[..., None] * fundus[..., None]
    img = img + _smooth_noise(rng, n, size, 4)[..., None] * 8.0 * fundus[..., None]
    eye = rng.integers(0, 2, n)  # optic disc left or right
    od_x = np.where(eye == 0, 0.25, 0.75) + _uniform(rng, -0.02, 0.02, n)
    od_y = 0.5 + _uniform(rng, -0.04, 0.04, n)
    od = _ellipse(yy, xx, _col(od_y), _col(od_x), 0.075, 0.065) <= 1
    img[od] = np.array([245, 215, 140], np.float32)
    macula = np.broadcast_to(_ellipse(yy, xx, 0.5, 0.5, 0.06, 0.06) <= 1, od.shape) & ~od
    img[macula] *= 0.75
    # vessels: four arcs leaving the optic disc
    vessels = np.zeros((n, size, size), bool)
    direction = np.where(eye == 0, 1.0, -1.0)
    width = max(0.012, 0.6 / size)
    for sign, curve in ((1, 0.9), (-1, 0.9), (1, 2.2), (-1, 2.2)):
        u = (xx - _col(od_x)) * _col(
            direction
        )  # distance away from the disc, towards the macula side
        path = (
            _col(od_y) + sign * curve * _col(_uniform(rng, 0.8, 1.2, n)) * u**2 * 1.5 + sign * 0.02
        )
        vessels |= (np.abs(yy - path) < width) & (u > 0) & fundus
    img[vessels & ~od] = np.array([120, 25, 20], np.float32)
    # lesions by grade
    counts = _RETINA_COUNTS[labels]
    kind_map = np.zeros((n, size, size), np.uint8)  # 0: none, 1 + kind: lesion of that kind
    palette = np.array([(0, 0, 0), (95, 10, 10), (110, 15, 15), (250, 235, 110)], np.float32)
    radii = (max(0.018, 1.0 / size), max(0.045, 1.6 / size), max(0.03, 1.2 / size))
    # microaneurysms (tiny dark red dots), haemorrhages (larger dark blots), hard exudates (yellow)
    allowed = fundus & ~od
    for kind, radius in enumerate(radii):
        for s in range(int(_RETINA_COUNTS[:, kind].max())):
            rows = np.flatnonzero(counts[:, kind] > s)
            ang = _uniform(rng, 0, 2 * np.pi, n)[rows]
            rr = (0.36 * np.sqrt(_uniform(rng, 0.05, 1.0, n)))[rows]
            cy, cx = 0.5 + rr * np.sin(ang), 0.5 + rr * np.cos(ang)
            spot = (_ellipse(yy, xx, _col(cy), _col(cx), radius, radius) <= 1) & allowed[rows]
            sub = kind_map[rows]
            sub[spot] = kind + 1
            kind_map[rows] = sub
    mask = kind_map > 0
    img[mask] = palette[kind_map[mask]]
    img += _noise(rng, img.shape, 3.0) * fundus[..., None]
    meta = {
        "microaneurysms": counts[:, 0],
        "haemorrhages": counts[:, 1],
        "exudates": counts[:, 2],
        "optic_disc_side": np.where(eye == 0, "left", "right"),
    }
    return img, mask, meta


_GENERATORS = {"pneumonia": _pneumonia, "skin": _skin, "retina": _retina}


def make(
    task: str,
    n: int,
    size: int = 28,
    seed: int = 0,
    shortcut: bool = False,
    shortcut_p: float = 0.9,
    labels: Any | None = None,
) -> Dataset:
    """Generate ``n`` phantom images for ``task`` with ground-truth lesion masks.

    Parameters
    ----------
    task : str
        ``"pneumonia"``, ``"skin"`` or ``"retina"`` (dataset names such as
        ``"pneumoniamnist"`` are accepted as aliases).
    n : int
        Number of images; classes are balanced and shuffled.
    size : int
        Height and width in pixels (>= 16).
    seed : int
        Same seed, same images, labels and masks.
    shortcut : bool
        Plant a label-correlated marker (see the module docstring).
    shortcut_p : float
        Probability that the marker follows the label rule (0.5: uninformative, 1.0: perfect).
    labels : array of int, optional
        Use these labels instead of balanced random ones.

    Returns
    -------
    Dataset
        uint8 images (n, size, size, C), ``masks`` bool (n, size, size), ``metadata`` (pandas)
        with per-image generation parameters, ``shortcut_masks`` when ``shortcut=True``.
    """
    import pandas as pd

    task = ALIASES.get(str(task).lower(), str(task).lower())
    if task not in _GENERATORS:
        raise ValueError(f"unknown phantom task {task!r}; choose one of {TASKS}")
    n, size = int(n), int(size)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if size < 16:
        raise ValueError(f"phantom size must be at least 16 pixels, got {size}")
    if not 0.0 <= shortcut_p <= 1.0:
        raise ValueError(f"shortcut_p must be in [0, 1], got {shortcut_p}")
    info = dict(PHANTOM_INFO[task])
    k = info["n_classes"]
    rng = np.random.default_rng(seed)
    if labels is None:
        labels = rng.permutation(np.arange(n) % k).astype(np.int64)
    else:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(labels) != n or (n and (labels.min() < 0 or labels.max() >= k)):
            raise ValueError(f"labels must be {n} integers in 0..{k - 1}")
    chunk = max(1, _CHUNK_PIXELS // (size * size))
    images = np.zeros((n, size, size, info["n_channels"]), np.uint8)
    masks = np.zeros((n, size, size), bool)
    meta_parts: list[dict[str, np.ndarray]] = []
    child_seeds = rng.integers(0, 2**63 - 1, (n + chunk - 1) // chunk)
    for c, start in enumerate(range(0, n, chunk)):
        stop = min(start + chunk, n)
        img, mask, meta = _GENERATORS[task](
            np.random.default_rng(child_seeds[c]), labels[start:stop], size
        )
        images[start:stop] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        masks[start:stop] = mask
        meta_parts.append(meta)
    metadata = pd.DataFrame(
        {
            key: np.concatenate([m[key] for m in meta_parts]) if meta_parts else []
            for key in (meta_parts[0] if meta_parts else {})
        }
    )
    metadata["mask_pixels"] = masks.reshape(n, -1).sum(1)
    shortcut_masks = None
    if shortcut:
        positive = np.isin(labels, POSITIVE[task])
        follows = rng.random(n) < shortcut_p
        present = np.where(follows, positive, ~positive)
        side = max(2, round(size * 0.1))
        margin = max(1, round(size * 0.04))
        shortcut_masks = np.zeros((n, size, size), bool)
        shortcut_masks[present, margin : margin + side, margin : margin + side] = True
        images[shortcut_masks] = 255
        masks &= ~shortcut_masks
        metadata["shortcut"] = present
        info["shortcut_p"] = shortcut_p
        info["shortcut_rule"] = (
            f"white {side}x{side} square at the top-left, present with probability "
            f"{shortcut_p} for classes {POSITIVE[task]} and {1 - shortcut_p:.2g} otherwise"
        )
    return Dataset(
        images,
        labels,
        info,
        info["name"],
        "phantom",
        "phantom",
        masks=masks,
        metadata=metadata,
        shortcut_masks=shortcut_masks,
        origin="phantom",
    )
