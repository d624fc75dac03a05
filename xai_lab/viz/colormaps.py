"""Colour maps as small lookup tables in plain numpy (no matplotlib), and which to use when.

The house rule: a **signed** map (evidence for and against a class) is drawn on a diverging,
perceptually uniform map centred at zero (:data:`DIVERGING`, Moreland's cool-warm); a
**non-negative** map on a perceptual sequential map (:data:`SEQUENTIAL`, viridis). No rainbow
map is ever a default; ``jet`` stays available only to show, once, why not (its bright bands
at cyan and yellow invent edges that are not in the data; Borland & Taylor, 2007).

Tables (interpolated linearly to 256 entries):

- ``coolwarm``: the 33 control points of Moreland's diverging cool-to-warm map
  ("CoolWarmFloat33", Moreland 2009), blue (negative) through light grey (zero) to red
  (positive); designed in the Msh colour space for a smooth, symmetric change of lightness;
- ``viridis`` and ``inferno``: ten evenly spaced samples of the perceptually uniform maps of
  van der Walt & Smith (2015), the same samples R's ``viridisLite`` prints;
- ``RdBu_r``: the 11-class ColorBrewer "RdBu" scheme (Harrower & Brewer, 2003), reversed so
  that negative is blue and positive is red;
- ``jet`` from matplotlib's piecewise-linear segment data (for teaching only);
- ``gray``.

References
----------
.. [1] K. Moreland, "Diverging color maps for scientific visualization", Advances in Visual
   Computing (ISVC 2009), LNCS 5876, pp. 92-103; tables at
   https://www.kennethmoreland.com/color-maps/
.. [2] S. van der Walt and N. Smith, "mpl colormaps", 2015, https://bids.github.io/colormap/
.. [3] M. Harrower and C. A. Brewer, "ColorBrewer.org: an online tool for selecting colour
   schemes for maps", The Cartographic Journal 40(1), 2003.
.. [4] D. Borland and R. M. Taylor II, "Rainbow color map (still) considered harmful",
   IEEE Computer Graphics and Applications 27(2), 2007.
"""

from __future__ import annotations

from functools import cache

import numpy as np

_N = 256

#: Moreland's cool-warm map, CoolWarmFloat33: 33 evenly spaced RGB points in [0, 1].
_COOLWARM = (
    (0.229805700, 0.298717966, 0.753683153),
    (0.266233880, 0.353094838, 0.801466763),
    (0.303868910, 0.406535296, 0.844958670),
    (0.342804478, 0.458757618, 0.883725899),
    (0.383013340, 0.509419040, 0.917387822),
    (0.424369608, 0.558148092, 0.945619588),
    (0.466667080, 0.604562568, 0.968154911),
    (0.509635204, 0.648280772, 0.984788140),
    (0.552953156, 0.688929332, 0.995375608),
    (0.596262162, 0.726149107, 0.999836203),
    (0.639176211, 0.759599947, 0.998151185),
    (0.681291281, 0.788964712, 0.990363227),
    (0.722193294, 0.813952739, 0.976574709),
    (0.761464949, 0.834302879, 0.956945269),
    (0.798691636, 0.849786142, 0.931688648),
    (0.833466556, 0.860207984, 0.901068838),
    (0.865395197, 0.865410210, 0.865395561),
    (0.897787179, 0.848937047, 0.820880546),
    (0.924127593, 0.827384882, 0.774508472),
    (0.944468518, 0.800927443, 0.726736146),
    (0.958852946, 0.769767752, 0.678007945),
    (0.967328030, 0.734132809, 0.628751763),
    (0.969954137, 0.694266682, 0.579375448),
    (0.966811177, 0.650421156, 0.530263762),
    (0.958003065, 0.602842431, 0.481775914),
    (0.943660866, 0.551750968, 0.434243684),
    (0.923944917, 0.497308560, 0.387970225),
    (0.899046170, 0.439559467, 0.343229596),
    (0.869186849, 0.378313092, 0.300267182),
    (0.834620542, 0.312874446, 0.259301199),
    (0.795631745, 0.241283790, 0.220525627),
    (0.752534934, 0.157246067, 0.184115123),
    (0.705673158, 0.015556160, 0.150232812),
)


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
COLORMAPS: dict[str, bool] = {"coolwarm": True, "viridis": False, "inferno": False,
                              "RdBu_r": True, "gray": False, "jet": False}  # fmt: skip
#: The map for signed maps (evidence for and against).
DIVERGING = "coolwarm"
#: The map for non-negative maps.
SEQUENTIAL = "viridis"
#: Words for the two ends of each map (low, high), for legends that name the colours.
COLOR_NAMES: dict[str, tuple[str, str]] = {
    "coolwarm": ("blue", "red"),
    "RdBu_r": ("blue", "red"),
    "viridis": ("purple", "yellow"),
    "inferno": ("black", "yellow"),
    "gray": ("black", "white"),
    "jet": ("dark blue", "dark red"),
}


def check_cmap(cmap: str) -> str:
    """``cmap`` if this module knows it; a ``ValueError`` listing the choices otherwise."""
    if cmap not in COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; choose one of {', '.join(COLORMAPS)}")
    return cmap


def default_cmap(signed: bool) -> str:
    """:data:`DIVERGING` for signed maps, :data:`SEQUENTIAL` for non-negative ones."""
    return DIVERGING if signed else SEQUENTIAL


@cache
def colormap_table(cmap: str) -> np.ndarray:
    """The (256, 3) uint8 lookup table of a colour map (read only)."""
    check_cmap(cmap)
    if cmap == "coolwarm":
        table = _from_samples(np.asarray(_COOLWARM) * 255.0)
    elif cmap == "jet":
        table = _from_segments(_JET)
    elif cmap == "viridis":
        table = _from_samples(_hex(_VIRIDIS))
    elif cmap == "inferno":
        table = _from_samples(_hex(_INFERNO))
    elif cmap == "RdBu_r":
        table = _from_samples(_hex(_RDBU[::-1]))
    else:  # gray
        table = np.repeat(np.arange(_N, dtype=np.uint8)[:, None], 3, axis=1)
    table.setflags(write=False)
    return table


def plotly_colorscale(cmap: str, n: int = 11) -> list[list[float | str]]:
    """The colour map as a plotly ``colorscale`` (``n`` evenly spaced stops)."""
    table = colormap_table(cmap)
    idx = np.round(np.linspace(0, _N - 1, n)).astype(int)
    return [[float(i / (_N - 1)), "rgb({},{},{})".format(*table[i])] for i in idx]


def css_gradient_stops(cmap: str, n: int = 17) -> list[tuple[float, str]]:
    """``n`` evenly spaced (offset in [0, 1], ``#rrggbb``) stops of the map (SVG / CSS)."""
    table = colormap_table(cmap)
    idx = np.round(np.linspace(0, _N - 1, n)).astype(int)
    return [(float(i / (_N - 1)), "#{:02x}{:02x}{:02x}".format(*table[i])) for i in idx]
