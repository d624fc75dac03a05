"""Self-contained HTML reports (the demo's and the explorer's case reports)."""

from .html import HtmlReport

__all__ = ["HtmlReport"]
