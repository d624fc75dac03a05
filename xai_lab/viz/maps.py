"""One visual language for attribution maps: what to draw, at what resolution, with what words.

:func:`map_view` turns one image of an :class:`~xai_lab.explain.Explanation` into a
:class:`MapView`: the map at the model's resolution (Grad-CAM's coarse grid as the grid it
is), the colour map chosen by the house rule (diverging and centred at zero for signed maps,
sequential from zero for non-negative ones), the value range, the method's display name and
one-line meaning, the colour bar's end labels, and -- for an all-zero, constant or non-finite
map -- the sentence saying why there is nothing to see. Every display builds on it:

- :func:`render_overlay` / :func:`overlay_png`: the image the model saw with the map over it,
  both enlarged by an integer factor with nearest neighbour (blocky, never smoothed), the
  map's opacity growing with its magnitude so that "no evidence" leaves the image unchanged;
- :func:`image_png`: the model's input alone, enlarged the same way;
- :func:`colorbar_svg`: a self-contained SVG colour bar with labelled ticks and words for both
  ends (for HTML: the demo report, the explorer);
- the plotly builders in :mod:`xai_lab.viz.figures` (notebooks).

Pure numpy + Pillow; nothing here imports TensorFlow or plotly.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .colormaps import COLOR_NAMES, COLORMAPS, check_cmap, css_gradient_stops, default_cmap
from .overlay import as_rgb_uint8, enlarge, overlay, resize_nearest, scale_for, to_png_bytes

if TYPE_CHECKING:  # pragma: no cover
    from ..explain.explanation import Explanation

#: Opacity of a map at its largest magnitude in the house overlays.
ALPHA = 0.6


@dataclass(frozen=True)
class MapView:
    """Everything a display needs to show one map honestly.

    Attributes
    ----------
    heat : ndarray (h, w)
        The values to draw, at the map's own resolution (``raw_maps`` where the method has a
        coarser native grid, else ``maps``).
    input_shape : tuple
        (H, W) of the image the model saw.
    cmap : str
        Colour map; ``signed`` says whether it is used centred at zero.
    signed : bool
    lo, hi : float
        The value range of the colours (``-m, m`` for signed maps, ``0, max`` otherwise).
    title : str
        The method's display name.
    target : str
        The explained class (``'pneumonia'`` or ``class 1``).
    meaning : str
        One line: what a value of the map says, naming the class.
    legend : str
        The colours in words ("red: raised the score of 'pneumonia'; blue: lowered it").
    low_label, high_label : str
        What the two ends of the colour bar mean.
    resolution : str
        The map's resolution in words ("7 x 7 grid of layer last_relu, drawn as blocks").
    note : str
        Why the map cannot be read ("" when it can), shown instead of a map.
    """

    heat: np.ndarray
    input_shape: tuple[int, int]
    cmap: str
    signed: bool
    lo: float
    hi: float
    title: str
    target: str
    meaning: str
    legend: str
    low_label: str
    high_label: str
    resolution: str
    note: str

    @property
    def blank(self) -> bool:
        """True when there is nothing to draw (a degenerate map)."""
        return bool(self.note)

    @property
    def native(self) -> bool:
        """True when the map is coarser than the image (drawn as blocks)."""
        return tuple(self.heat.shape) != tuple(self.input_shape)


def _fill(template: str, target: str, layer: str | None) -> str:
    return template.replace("{target}", target).replace("{layer}", layer or "the explained layer")


def _range(heat: np.ndarray, signed: bool, vmax: float | None) -> tuple[float, float]:
    finite = heat[np.isfinite(heat)]
    if vmax is not None:
        m = float(vmax)
    elif finite.size == 0:
        m = 0.0
    elif signed:
        m = float(np.abs(finite).max())
    else:
        m = float(max(finite.max(), 0.0))
    return (-m, m) if signed else (0.0, m)


def native_map(explanation: Explanation, index: int = 0, native: bool = True) -> np.ndarray:
    """Map ``index`` at its own resolution: ``raw_maps`` when the method has a coarser grid
    (and ``native``), else ``maps`` (the input resolution)."""
    raw = explanation.raw_maps
    if native and raw is not None and raw.shape[1:] != explanation.maps.shape[1:]:
        return np.asarray(raw[index], dtype=np.float64)
    return np.asarray(explanation.maps[index], dtype=np.float64)


def map_view(
    explanation: Explanation,
    index: int = 0,
    label_names: Sequence[str] | None = None,
    cmap: str | None = None,
    native: bool = True,
    vmax: float | None = None,
) -> MapView:
    """How to show map ``index`` of ``explanation`` (see :class:`MapView`).

    Parameters
    ----------
    explanation : Explanation
    index : int
        Which image of the batch.
    label_names : sequence of str, optional
        Class names (else ``class k``).
    cmap : str, optional
        A colour map of :data:`~xai_lab.viz.colormaps.COLORMAPS`; default by the house rule
        (the method's ``signed``; a map that is declared non-negative but holds negative values
        is shown signed, so that no value is hidden).
    native : bool
        Show the map at its own resolution (Grad-CAM's layer grid); ``False`` shows ``maps``,
        the bilinear upsampling to the input size, and says so in ``resolution``.
    vmax : float, optional
        The largest magnitude of the colour scale (to share one scale between maps).
    """
    e = explanation
    n = len(e)
    if not -n <= int(index) < n:
        raise IndexError(f"index {index} out of range for an Explanation of {n} images")
    i = int(index) % n
    info = e.method_info
    heat = native_map(e, i, native)
    finite = heat[np.isfinite(heat)]
    signed = bool(info.signed or (finite.size and finite.min() < 0))
    if cmap is not None:
        check_cmap(cmap)
        signed = COLORMAPS[cmap] or signed
    else:
        cmap = default_cmap(signed)
    lo, hi = _range(heat, signed, vmax)
    target = e.target_name(i, label_names)
    layer = e.layer
    low_label = _fill(info.low, target, layer)
    high_label = _fill(info.high, target, layer)
    low_colour, high_colour = COLOR_NAMES.get(cmap, ("low", "high"))
    if signed:
        legend = f"{high_colour}: {high_label}; {low_colour}: {low_label}; no colour: zero"
    else:
        legend = f"{high_colour}: {high_label}; no colour: {low_label}"
    h, w = (int(d) for d in e.maps.shape[1:])
    if tuple(heat.shape) != (h, w):
        where = f"layer {layer}" if layer else "the method's grid"
        resolution = (f"{heat.shape[0]} x {heat.shape[1]} grid of {where}, drawn as blocks over "
                      f"the {h} x {w} input")
    elif e.raw_maps is not None and e.raw_maps.shape[1:] != (h, w):
        resolution = (f"{e.raw_maps.shape[1]} x {e.raw_maps.shape[2]} grid of layer {layer}, "
                      f"smoothed (bilinear) to {h} x {w}: the smoothness is not the model's")
    else:
        resolution = f"{h} x {w}, the model's input resolution"
    note = e.note(i, label_names)
    if not note and hi - lo <= 0:
        note = f"{info.title} is zero everywhere: there is nothing to show for {target}"
    return MapView(
        heat=heat, input_shape=(h, w), cmap=cmap, signed=signed, lo=lo, hi=hi, title=info.title,
        target=target, meaning=_fill(info.meaning, target, layer), legend=legend,
        low_label=low_label, high_label=high_label, resolution=resolution, note=note,
    )


def model_image(explanation: Explanation, index: int = 0) -> np.ndarray:
    """The image the model saw (uint8 RGB at the model's resolution)."""
    return as_rgb_uint8(explanation.inputs[int(index)])


def render_overlay(
    explanation: Explanation,
    index: int = 0,
    label_names: Sequence[str] | None = None,
    *,
    size: int = 168,
    alpha: float = ALPHA,
    cmap: str | None = None,
    native: bool = True,
    vmax: float | None = None,
    opacity: str = "value",
    view: MapView | None = None,
) -> np.ndarray:
    """The image the model saw with map ``index`` over it, uint8 RGB, crisp at any size.

    The image is enlarged by the integer factor that brings it closest to ``size`` pixels
    (nearest neighbour: a 28 px X-ray stays 28 x 28 blocks), and the map is laid over it
    at its own resolution, cell by cell (nearest neighbour), never smoothed. With
    ``opacity="value"`` (default) the map's opacity grows with its magnitude up to ``alpha``,
    so zero leaves the image unchanged; ``"constant"`` blends ``alpha`` everywhere. A map with
    nothing to show (``view.blank``) gives the image alone.
    """
    view = view or map_view(explanation, index, label_names, cmap, native, vmax)
    image = model_image(explanation, index)
    k = scale_for(image.shape, size)
    big = enlarge(image, k)
    if view.blank:
        return big
    heat = resize_nearest(view.heat, big.shape[:2])
    return overlay(big, heat, alpha=alpha, cmap=view.cmap, symmetric=view.signed,
                   opacity=opacity, vmin=view.lo, vmax=view.hi)


def overlay_png(explanation: Explanation, index: int = 0, label_names: Sequence[str] | None = None,
                **kwargs: Any) -> bytes:
    """:func:`render_overlay` encoded as PNG bytes (for HTML: ``data:image/png;base64,...``)."""
    return to_png_bytes(render_overlay(explanation, index, label_names, **kwargs))


def image_png(image: np.ndarray, size: int = 168) -> bytes:
    """An image enlarged crisply (the integer nearest-neighbour factor closest to ``size`` px), as PNG."""
    rgb = as_rgb_uint8(image)
    return to_png_bytes(enlarge(rgb, scale_for(rgb.shape, size)))


def format_value(v: float, digits: int = 3) -> str:
    """A colour-bar tick: ``digits`` significant digits, a short exponent, a real minus sign."""
    if v == 0:
        return "0"
    text = f"{v:.{digits}g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    return text.replace("-", "\u2212")


def _wrap(text: str, width_px: float, font_px: float) -> list[str]:
    chars = max(8, int(width_px / (0.56 * font_px)))
    return textwrap.wrap(text, chars) or [""]


def colorbar_svg(view: MapView, width: int = 168, font_px: float = 10.0, words: bool = True) -> str:
    """A horizontal colour bar as an inline SVG string, with ticks and words for both ends.

    The bar runs from ``view.lo`` (left) to ``view.hi`` (right) on the view's colour map, with
    ticks at both ends (and at zero for signed maps); under it, what the left end means (with
    a left arrow) and what the right end means (with a right arrow), wrapped to the width
    (``words=False`` leaves them out, for small tiles under a header that says them). A
    blank view draws the bar faded and says there is no scale. The root element has the class
    ``xai-colorbar`` and a ``<title>`` for screen readers.
    """
    width = int(width)
    small = width < 130  # a small tile: shorter numbers, no label at zero (its tick stays)
    if small:
        font_px = min(font_px, 8.5)
    digits = 2 if small else 3
    pad = 6
    bar_y, bar_h = 2, 10
    x0, x1 = pad, width - pad
    gid = f"xai-cb-{view.cmap}"
    stops = "".join(f'<stop offset="{o:.3f}" stop-color="{c}"/>' for o, c in css_gradient_stops(view.cmap))
    faded = ' opacity="0.3"' if view.blank else ""
    parts = [
        f'<defs><linearGradient id="{gid}" x1="0" x2="1" y1="0" y2="0">{stops}</linearGradient></defs>',
        f'<rect x="{x0}" y="{bar_y}" width="{x1 - x0}" height="{bar_h}" fill="url(#{gid})" '
        f'stroke="#666" stroke-width="0.5"{faded}/>',
    ]
    y_tick = bar_y + bar_h
    y_num = y_tick + font_px + 2
    ticks: list[tuple[float, str, str]]
    if view.blank or view.hi - view.lo <= 0:
        ticks = [((x0 + x1) / 2, "no scale: blank map", "middle")]
    else:
        ticks = [(x0, format_value(view.lo, digits), "start"), (x1, format_value(view.hi, digits), "end")]
        if view.signed:
            ticks.insert(1, ((x0 + x1) / 2, "" if small else "0", "middle"))
    for x, label, anchor in ticks:
        if not view.blank:
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bar_y}" y2="{y_tick + 3}" '
                         'stroke="#333" stroke-width="1"/>')
        if label:
            parts.append(f'<text x="{x:.1f}" y="{y_num:.1f}" text-anchor="{anchor}">{html.escape(label)}</text>')
    y = y_num + 3
    lines: list[tuple[str, str]] = []
    if words and not view.blank:
        lines += [(line, "start") for line in _wrap("\u25c0 " + view.low_label, x1 - x0, font_px)]
        lines += [(line, "end") for line in _wrap(view.high_label + " \u25b6", x1 - x0, font_px)]
    for line, anchor in lines:
        y += font_px + 2
        x = x0 if anchor == "start" else x1
        parts.append(f'<text x="{x}" y="{y:.1f}" text-anchor="{anchor}" fill="#44505c">'
                     f"{html.escape(line)}</text>")
    height = int(y + 4)
    label = (f"colour scale of {view.title}: {view.lo:.3g} ({view.low_label}) to {view.hi:.3g} "
             f"({view.high_label})")
    return (
        f'<svg class="xai-colorbar" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="{font_px:g}">'
        f"<title>{html.escape(label)}</title>{''.join(parts)}</svg>"
    )
