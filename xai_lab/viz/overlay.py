"""Heat-map colouring, overlays, nearest-neighbour enlarging and PNG encoding (numpy + Pillow).

The colour maps live in :mod:`xai_lab.viz.colormaps` (re-exported here). With ``cmap=None``
the house rule chooses: a map with negative values (or ``symmetric=True``) is drawn on the
diverging :data:`~xai_lab.viz.colormaps.DIVERGING` map centred at zero, a non-negative one on
the sequential :data:`~xai_lab.viz.colormaps.SEQUENTIAL` map.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from .colormaps import (  # noqa: F401  (re-exported: the public names of this module)
    COLORMAPS,
    DIVERGING,
    SEQUENTIAL,
    check_cmap,
    colormap_table,
    default_cmap,
    plotly_colorscale,
)

_N = 256


def _resolve(heatmap: np.ndarray, cmap: str | None, symmetric: bool | None) -> tuple[str, bool]:
    """The colour map and whether the scale is symmetric about zero, by the house rule."""
    if cmap is not None:
        check_cmap(cmap)
        return cmap, COLORMAPS[cmap] if symmetric is None else bool(symmetric)
    if symmetric is None:
        finite = heatmap[np.isfinite(heatmap)]
        symmetric = bool(finite.size and finite.min() < 0)
    return default_cmap(bool(symmetric)), bool(symmetric)


def normalize_map(
    heatmap: np.ndarray,
    symmetric: bool | None = None,
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Scale a map to [0, 1] for colouring.

    ``symmetric=True`` maps ``[-m, m]`` (``m`` the largest absolute value) to ``[0, 1]`` so that
    zero lands in the middle of a diverging map; ``False`` stretches ``[min, max]`` to ``[0, 1]``;
    ``None`` chooses symmetric for diverging maps (and, with ``cmap=None``, for maps with
    negative values). ``vmin``/``vmax`` override the range. A constant map becomes 0 (or 0.5
    when symmetric); NaN becomes 0 (or 0.5).
    """
    m = np.asarray(heatmap, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"a map must be 2-D (H, W), got shape {m.shape}")
    cmap, symmetric = _resolve(m, cmap, symmetric)
    finite = np.isfinite(m)
    values = m[finite]
    if symmetric:
        bound = float(np.abs(values).max()) if values.size else 0.0
        lo = -bound if vmin is None else float(vmin)
        hi = bound if vmax is None else float(vmax)
        fill = 0.5
    else:
        lo = (float(values.min()) if values.size else 0.0) if vmin is None else float(vmin)
        hi = (float(values.max()) if values.size else 0.0) if vmax is None else float(vmax)
        fill = 0.0
    span = hi - lo
    if span <= 0:
        out = np.full(m.shape, fill)
    else:
        out = np.clip((np.where(finite, m, lo + fill * span) - lo) / span, 0.0, 1.0)
    return out


def colorize(
    heatmap: np.ndarray,
    cmap: str | None = None,
    symmetric: bool | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Colour a 2-D map: returns a uint8 (H, W, 3) RGB image.

    ``cmap=None`` follows the house rule (diverging for signed maps, sequential otherwise);
    see :func:`normalize_map` for ``symmetric``, ``vmin`` and ``vmax``.
    """
    m = np.asarray(heatmap, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"a map must be 2-D (H, W), got shape {m.shape}")
    cmap, symmetric = _resolve(m, cmap, symmetric)
    t = normalize_map(m, symmetric=symmetric, cmap=cmap, vmin=vmin, vmax=vmax)
    idx = np.round(t * (_N - 1)).astype(np.intp)
    return colormap_table(cmap)[idx]


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """An image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), uint8 or float in [0, 1], as uint8 RGB."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValueError(f"an image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {img.shape}")
    if img.dtype != np.uint8:
        if not np.issubdtype(img.dtype, np.number):
            raise TypeError(f"image dtype {img.dtype} is not numeric")
        f = np.nan_to_num(img.astype(np.float64), nan=0.0)
        img = np.clip(np.round(f * 255.0), 0, 255).astype(np.uint8)
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    elif img.shape[-1] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img)


def overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    alpha: float = 0.5,
    cmap: str | None = None,
    symmetric: bool | None = None,
    opacity: str = "constant",
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Blend a coloured map over an image.

    Parameters
    ----------
    image : ndarray
        (H, W[, C]) uint8 or float in [0, 1]; grey images are shown in grey.
    heatmap : ndarray
        (H, W) map at the image's resolution (see :func:`resize_nearest`).
    alpha : float
        Opacity of the map, 0 (image only) to 1 (map only).
    cmap, symmetric, vmin, vmax
        As in :func:`colorize` (``cmap=None``: the house rule).
    opacity : {"constant", "value"}
        ``constant``: ``(1 - alpha) * image + alpha * colour(map)`` everywhere; ``value``: the
        opacity grows with the map's magnitude (``alpha * |t|``, ``t`` the scaled value in
        [-1, 1] or [0, 1]), so that where the map is zero the image shows unchanged.

    Returns
    -------
    ndarray
        uint8 (H, W, 3).
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if opacity not in ("constant", "value"):
        raise ValueError(f"opacity must be 'constant' or 'value', got {opacity!r}")
    rgb = as_rgb_uint8(image)
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.shape != rgb.shape[:2]:
        raise ValueError(f"map shape {heat.shape} differs from the image's {rgb.shape[:2]}")
    cmap, symmetric = _resolve(heat, cmap, symmetric)
    colored = colorize(heat, cmap=cmap, symmetric=symmetric, vmin=vmin, vmax=vmax).astype(np.float64)
    if opacity == "constant":
        weight = np.full(heat.shape, float(alpha))
    else:
        t = normalize_map(heat, symmetric=symmetric, cmap=cmap, vmin=vmin, vmax=vmax)
        strength = np.abs(2.0 * t - 1.0) if symmetric else t
        weight = float(alpha) * np.where(np.isfinite(heat), strength, 0.0)
    w = weight[..., None]
    out = (1.0 - w) * rgb.astype(np.float64) + w * colored
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def resize_nearest(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A 2-D map enlarged (or shrunk) to ``shape`` by nearest neighbour: every cell of a coarse
    map becomes a block of equal values (no smoothing invents detail the map does not have).

    Output pixel ``(r, c)`` takes cell ``(floor(r * h / H), floor(c * w / W))``, so each cell
    covers the same share of the output as of the input grid.
    """
    m = np.asarray(heatmap)
    if m.ndim != 2:
        raise ValueError(f"a map must be 2-D (h, w), got shape {m.shape}")
    height, width = (int(d) for d in shape)
    if height < 1 or width < 1:
        raise ValueError(f"shape must be positive, got {shape}")
    rows = (np.arange(height) * m.shape[0]) // height
    cols = (np.arange(width) * m.shape[1]) // width
    return m[rows[:, None], cols[None, :]]


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """An image (H, W[, C]) enlarged by an integer ``factor``, each pixel a factor x factor block."""
    k = int(factor)
    if k < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    arr = np.asarray(image)
    return arr if k == 1 else np.repeat(np.repeat(arr, k, axis=0), k, axis=1)


def scale_for(shape: tuple[int, ...], size: int) -> int:
    """The integer enlargement that brings an image of ``shape`` closest to ``size`` pixels on
    its longer side (at least 1): whole factors keep every pixel a square block (a 28 px image
    becomes 168 px for ``size=168``, a 128 px one stays 128 px)."""
    side = max(int(shape[0]), int(shape[1]), 1)
    return max(1, int(round(int(size) / side)))


def to_png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array as PNG (Pillow)."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"to_png_bytes needs uint8, got {arr.dtype} (use as_rgb_uint8 first)")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ValueError(f"cannot encode an array of shape {arr.shape} as PNG")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


def to_data_uri(image: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URI of an image (float in [0, 1] or uint8)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = as_rgb_uint8(arr)
    return "data:image/png;base64," + base64.b64encode(to_png_bytes(arr)).decode("ascii")
