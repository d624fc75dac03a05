"""Colour maps, heat-map overlays and PNG encoding in plain numpy (no matplotlib).

The colour maps are small lookup tables interpolated to 256 entries:

- ``jet`` from matplotlib's piecewise-linear segment data,
- ``viridis`` and ``inferno`` from ten evenly spaced samples of the perceptually uniform maps
  of van der Walt & Smith (2015), the same samples R's ``viridisLite`` prints,
- ``RdBu_r`` from the 11-class ColorBrewer "RdBu" scheme (Harrower & Brewer, 2003), reversed
  so that negative is blue and positive is red (the usual diverging map for signed relevance,
  e.g. LRP / deep Taylor in Montavon et al., 2017).

References
----------
.. [1] S. van der Walt and N. Smith, "mpl colormaps", 2015, https://bids.github.io/colormap/
.. [2] M. Harrower and C. A. Brewer, "ColorBrewer.org: an online tool for selecting colour
   schemes for maps", The Cartographic Journal 40(1), 2003.
"""

from __future__ import annotations

import base64
import io
from functools import cache

import numpy as np

_N = 256


def _hex(colors: list[str]) -> np.ndarray:
    return np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.float64)


def _from_samples(rgb: np.ndarray) -> np.ndarray:
    """Interpolate evenly spaced RGB samples (0..255) to a (256, 3) uint8 table."""
    pos = np.linspace(0.0, 1.0, len(rgb))
    t = np.linspace(0.0, 1.0, _N)
    table = np.stack([np.interp(t, pos, rgb[:, k]) for k in range(3)], axis=1)
    return np.clip(np.round(table), 0, 255).astype(np.uint8)


def _from_segments(segments: dict[str, list[tuple[float, float]]]) -> np.ndarray:
    """A (256, 3) uint8 table from matplotlib-style (x, y) segment lists per channel."""
    t = np.linspace(0.0, 1.0, _N)
    channels = []
    for key in ("red", "green", "blue"):
        xs, ys = zip(*segments[key], strict=True)
        channels.append(np.interp(t, xs, ys))
    return np.clip(np.round(np.stack(channels, axis=1) * 255), 0, 255).astype(np.uint8)


_JET = {
    "red": [(0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)],
    "green": [(0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)],
    "blue": [(0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)],
}
_VIRIDIS = ["#440154", "#482878", "#3E4A89", "#31688E", "#26828E",
            "#1F9E89", "#35B779", "#6DCD59", "#B4DE2C", "#FDE725"]  # fmt: skip
_INFERNO = ["#000004", "#1B0C42", "#4B0C6B", "#781C6D", "#A52C60",
            "#CF4446", "#ED6925", "#FB9A06", "#F7D03C", "#FCFFA4"]  # fmt: skip
_RDBU = ["#67001F", "#B2182B", "#D6604D", "#F4A582", "#FDDBC7", "#F7F7F7",
         "#D1E5F0", "#92C5DE", "#4393C3", "#2166AC", "#053061"]  # fmt: skip

#: Colour maps this module knows, and whether each is diverging (centred on zero by default).
COLORMAPS: dict[str, bool] = {"jet": False, "viridis": False, "inferno": False, "RdBu_r": True,
                              "gray": False}  # fmt: skip


@cache
def colormap_table(cmap: str) -> np.ndarray:
    """The (256, 3) uint8 lookup table of a colour map (read only)."""
    if cmap == "jet":
        table = _from_segments(_JET)
    elif cmap == "viridis":
        table = _from_samples(_hex(_VIRIDIS))
    elif cmap == "inferno":
        table = _from_samples(_hex(_INFERNO))
    elif cmap == "RdBu_r":
        table = _from_samples(_hex(_RDBU[::-1]))
    elif cmap == "gray":
        table = np.repeat(np.arange(_N, dtype=np.uint8)[:, None], 3, axis=1)
    else:
        raise ValueError(f"unknown colour map {cmap!r}; choose one of {', '.join(COLORMAPS)}")
    table.setflags(write=False)
    return table


def plotly_colorscale(cmap: str, n: int = 11) -> list[list[float | str]]:
    """The colour map as a plotly ``colorscale`` (``n`` evenly spaced stops)."""
    table = colormap_table(cmap)
    idx = np.round(np.linspace(0, _N - 1, n)).astype(int)
    return [[float(i / (_N - 1)), "rgb({},{},{})".format(*table[i])] for i in idx]


def normalize_map(
    heatmap: np.ndarray,
    symmetric: bool | None = None,
    cmap: str = "jet",
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Scale a map to [0, 1] for colouring.

    ``symmetric=True`` maps ``[-m, m]`` (``m`` the largest absolute value) to ``[0, 1]`` so that
    zero lands in the middle of a diverging map; ``False`` stretches ``[min, max]`` to ``[0, 1]``;
    ``None`` chooses symmetric for diverging maps (``RdBu_r``). ``vmin``/``vmax`` override the
    range. A constant map becomes 0 (or 0.5 when symmetric); NaN becomes 0 (or 0.5).
    """
    m = np.asarray(heatmap, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"a map must be 2-D (H, W), got shape {m.shape}")
    if cmap not in COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; choose one of {', '.join(COLORMAPS)}")
    if symmetric is None:
        symmetric = COLORMAPS[cmap]
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
    cmap: str = "jet",
    symmetric: bool | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Colour a 2-D map: returns a uint8 (H, W, 3) RGB image.

    See :func:`normalize_map` for ``symmetric``, ``vmin`` and ``vmax``.
    """
    t = normalize_map(heatmap, symmetric=symmetric, cmap=cmap, vmin=vmin, vmax=vmax)
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
    cmap: str = "jet",
    symmetric: bool | None = None,
) -> np.ndarray:
    """Blend a coloured map over an image: ``(1 - alpha) * image + alpha * colour(map)``.

    Parameters
    ----------
    image : ndarray
        (H, W[, C]) uint8 or float in [0, 1]; grey images are shown in grey.
    heatmap : ndarray
        (H, W) map at the image's resolution.
    alpha : float
        Opacity of the map, 0 (image only) to 1 (map only).

    Returns
    -------
    ndarray
        uint8 (H, W, 3).
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    rgb = as_rgb_uint8(image)
    heat = np.asarray(heatmap)
    if heat.shape != rgb.shape[:2]:
        raise ValueError(f"map shape {heat.shape} differs from the image's {rgb.shape[:2]}")
    colored = colorize(heat, cmap=cmap, symmetric=symmetric)
    out = (1.0 - alpha) * rgb.astype(np.float64) + alpha * colored.astype(np.float64)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


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
