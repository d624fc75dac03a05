"""A small builder for self-contained HTML reports.

Everything a report needs lives in the one file: images are embedded as PNG data URIs and
plotly.js (from the installed plotly package) is inlined once when the report holds a figure,
so a report opens offline, can be mailed, and shows the same thing years later.

>>> r = HtmlReport("Case 12")
>>> r.paragraph("Prediction: pneumonia (0.93)")
>>> r.save("out/case12.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..viz.maps import colorbar_svg, image_png, map_view, overlay_png

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2733;background:#fafbfc}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.7em;margin:.2em 0}h2{font-size:1.3em;margin-top:1.6em;border-bottom:1px solid #dde3ea}
.subtitle{color:#5b6775;margin-bottom:1em}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.banner.warning{background:#fff4d6;border:1px solid #f0c36d}
.banner.info{background:#e8f1fc;border:1px solid #9cc0ea}
.banner.error{background:#fde8e8;border:1px solid #e99}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.92em}
th,td{border:1px solid #d5dbe2;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#eef2f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
figure{display:inline-block;margin:6px;text-align:center;vertical-align:top}
figure img{image-rendering:pixelated;border:1px solid #ccd;background:#000}
figcaption{font-size:.85em;color:#44505c;max-width:260px}
.grid{display:grid;gap:6px;align-items:start}
.plot{width:100%;min-height:320px}
.plot figcaption{max-width:760px;font-size:.9em;margin:4px 0 12px}
.note{color:#44505c;font-size:.92em}
.xai-row{display:flex;flex-wrap:nowrap;gap:10px;overflow-x:auto;align-items:flex-start;padding:4px 0 8px}
.xai-row>figure{flex:0 0 auto;margin:0}
figure.xai-map,figure.xai-image{text-align:left}
figure.xai-map img,figure.xai-map svg,figure.xai-image img{display:block}
figure.xai-map svg{margin-top:3px}
.xai-map-title{font-weight:600;font-size:.9em;margin-bottom:2px;white-space:nowrap}
.xai-map figcaption,.xai-image figcaption{font-size:.78em;max-width:none}
.xai-blank{color:#8a1c1c}
.xai-legend{font-size:.88em;color:#2b3540;margin:6px 0 10px;line-height:1.45}
details{margin:1em 0}summary{cursor:pointer;font-weight:600}
table.xai-grid td{vertical-align:top;text-align:left;border:none;padding:2px}
table.xai-grid th{background:none;border:none;font-size:.8em;text-align:left;vertical-align:bottom}
footer{color:#7a8591;font-size:.8em;margin-top:3em}
"""


def png_data_uri(image: Any) -> str:
    """An image (uint8 array H x W [x C], float array in [0, 1], or PNG bytes) as a data URI."""
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    else:
        from PIL import Image

        arr = np.asarray(image)
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.clip(arr * 255.0 + 0.5, 0, 255)
        arr = arr.astype(np.uint8)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        data = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def image_tile(image: Any, caption: str, size: int = 168, note: str | None = None,
               css_class: str = "xai-image") -> str:
    """An image enlarged crisply (whole nearest-neighbour factor) with a caption, as HTML."""
    png = image_png(image, size)
    width = _png_width(png)
    extra = f"<br><span class='note'>{html.escape(note)}</span>" if note else ""
    return (f'<figure class="{css_class}"><img src="{png_data_uri(png)}" width="{width}" '
            f'alt="{html.escape(caption)}"><figcaption style="width:{width}px">'
            f"{html.escape(caption)}{extra}</figcaption></figure>")


def map_tile(explanation: Any, index: int, label_names: Sequence[str] | None = None,
             size: int = 168, words: bool = True, title: bool = True, vmax: float | None = None,
             caption: str | None = None) -> str:
    """One map as HTML: display name, the image the model saw with the map over it (crisp,
    at the map's own resolution), a colour bar, and the map's resolution -- or, for a blank
    map, why it is blank.

    The ``<figure>`` has the class ``xai-map`` (``xai-map xai-blank-map`` when blank); its
    image ``xai-map-image``; its colour bar is an inline SVG of class ``xai-colorbar``.
    """
    view = map_view(explanation, index, label_names, vmax=vmax)
    png = overlay_png(explanation, index, label_names, size=size, view=view)
    width = _png_width(png)
    head = f'<div class="xai-map-title">{html.escape(view.title)}</div>' if title else ""
    if view.blank:
        text = f'<span class="xai-blank">{html.escape(view.note)}</span>'
    else:
        text = html.escape(caption if caption is not None else view.resolution)
    kind = "xai-map xai-blank-map" if view.blank else "xai-map"
    return (
        f'<figure class="{kind}" data-method="{html.escape(explanation.method)}">{head}'
        f'<img class="xai-map-image" src="{png_data_uri(png)}" width="{width}" '
        f'alt="{html.escape(view.title)} map for {html.escape(view.target)}">'
        f"{colorbar_svg(view, width=width, words=words)}"
        f'<figcaption style="width:{width}px">{text}</figcaption></figure>'
    )


def _png_width(png: bytes) -> int:
    """The width of a PNG from its header (bytes 16-19 of the IHDR chunk)."""
    return int.from_bytes(png[16:20], "big")


def _td(value: Any) -> str:
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return f'<td class="num">{_cell(value)}</td>' if numeric else f"<td>{_cell(value)}</td>"


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "n/a"
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return html.escape(str(value))


class HtmlReport:
    """Collects sections and writes one self-contained HTML file.

    Parameters
    ----------
    title : str
        The report's title (also the page title).
    subtitle : str, optional
        A line under the title (dataset, model, date...).
    """

    def __init__(self, title: str, subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self._parts: list[str] = []
        self._has_plotly = False

    # ------------------------------------------------------------------ content
    def heading(self, text: str, level: int = 2) -> HtmlReport:
        level = min(max(int(level), 2), 4)
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")
        return self

    def paragraph(self, text: str, css_class: str | None = None) -> HtmlReport:
        cls = f' class="{html.escape(css_class)}"' if css_class else ""
        self._parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def banner(self, text: str, kind: str = "warning") -> HtmlReport:
        if kind not in {"warning", "info", "error"}:
            raise ValueError(f"banner kind must be warning, info or error, got {kind!r}")
        self._parts.append(f'<div class="banner {kind}">{html.escape(text)}</div>')
        return self

    def raw_html(self, markup: str) -> HtmlReport:
        """Append trusted markup as it is (never pass user input here)."""
        self._parts.append(markup)
        return self

    def table(
        self,
        rows: Sequence[Mapping[str, Any]] | Any,
        caption: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> HtmlReport:
        """A table from a list of dicts or a pandas DataFrame."""
        if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
            columns = list(columns or rows.columns)
            rows = rows.to_dict(orient="records")
        rows = list(rows)
        if columns is None:
            columns = list(dict.fromkeys(k for row in rows for k in row))
        out = ["<table>"]
        if caption:
            out.append(f"<caption>{html.escape(caption)}</caption>")
        out.append("<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>")
        for row in rows:
            out.append("<tr>" + "".join(_td(row.get(c, "")) for c in columns) + "</tr>")
        out.append("</table>")
        self._parts.append("".join(out))
        return self

    def image(self, image: Any, caption: str | None = None, width: int = 224) -> HtmlReport:
        self._parts.append(self._figure_html(image, caption, width))
        return self

    def image_grid(
        self, items: Iterable[tuple[Any, str]], columns: int = 4, width: int = 180
    ) -> HtmlReport:
        """Images with captions in a grid, ``columns`` per row."""
        cells = "".join(self._figure_html(img, cap, width) for img, cap in items)
        self._parts.append(
            f'<div class="grid" style="grid-template-columns:repeat({int(columns)},max-content)">'
            f"{cells}</div>"
        )
        return self

    def row(self, tiles: Iterable[str]) -> HtmlReport:
        """HTML tiles (:func:`image_tile`, :func:`map_tile`) side by side in one row that never
        wraps (it scrolls sideways when the window is narrower)."""
        self._parts.append(f'<div class="xai-row">{"".join(tiles)}</div>')
        return self

    def details(self, summary: str, markup: str, open_: bool = False) -> HtmlReport:
        """A collapsed ``<details>`` section holding trusted ``markup``."""
        flag = " open" if open_ else ""
        self._parts.append(f"<details{flag}><summary>{html.escape(summary)}</summary>{markup}</details>")
        return self

    def figure(self, fig: Any, caption: str | None = None) -> HtmlReport:
        """A plotly figure (interactive; plotly.js is inlined once per report)."""
        import plotly.io as pio

        self._has_plotly = True
        div = pio.to_html(fig, full_html=False, include_plotlyjs=False, default_width="100%")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(f'<div class="plot">{div}{cap}</div>')
        return self

    # ------------------------------------------------------------------ output
    @staticmethod
    def _figure_html(image: Any, caption: str | None, width: int) -> str:
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        return (
            f'<figure><img src="{png_data_uri(image)}" width="{int(width)}" '
            f'alt="{html.escape(caption or "image")}">{cap}</figure>'
        )

    def render(self) -> str:
        """The whole document as a string."""
        head_js = ""
        if self._has_plotly:
            from plotly.offline import get_plotlyjs

            head_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
        sub = f'<div class="subtitle">{html.escape(self.subtitle)}</div>' if self.subtitle else ""
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style>{head_js}</head>"
            f"<body><main><h1>{html.escape(self.title)}</h1>{sub}{''.join(self._parts)}"
            f"<footer>Written by xai-lab on {stamp}. For education and research, not a medical "
            "device.</footer></main></body></html>"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the report atomically (temporary file renamed into place); returns the path."""
        path = Path(path)
        text = self.render()
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path
