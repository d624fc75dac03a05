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
th,td{border:1px solid #d5dbe2;padding:4px 9px;text-align:right}
th{background:#eef2f6}td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:6px;text-align:center;vertical-align:top}
figure img{image-rendering:pixelated;border:1px solid #ccd;background:#000}
figcaption{font-size:.85em;color:#44505c;max-width:260px}
.grid{display:grid;gap:6px;align-items:start}
.plot{width:100%;min-height:320px}
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


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "n/a"
        return f"{value:.4g}"
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

    def paragraph(self, text: str) -> HtmlReport:
        self._parts.append(f"<p>{html.escape(text)}</p>")
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
            out.append("<tr>" + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in columns) + "</tr>")
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
