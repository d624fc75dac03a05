"""The clinician explorer: a no-code web app (``xai-lab explorer``) served by Voila.

>>> from xai_lab.app import ExplorerApp
>>> ExplorerApp("models").show()        # doctest: +SKIP
"""

from __future__ import annotations

from .explorer import BANNER, Case, ExplorerApp, ExplorerError, ModelEntry, find_models

__all__ = ["BANNER", "Case", "ExplorerApp", "ExplorerError", "ModelEntry", "find_models"]
