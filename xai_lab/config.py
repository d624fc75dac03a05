"""Run-time configuration: the only module that reads environment variables.

Environment variables
---------------------
XAI_LAB_DATA_DIR
    A folder holding dataset files as they are (e.g. ``medmnist/pneumoniamnist.npz``,
    ``chest_xray/train/NORMAL/*.jpeg``, ``ham10000/metadata.csv``). Used first, read only.
XAI_LAB_CACHE_DIR
    Where downloads are kept (default ``~/.cache/xai_lab``).
XAI_LAB_FAST
    ``1`` shrinks data and epochs so that the course runs under CI (nbval) in minutes.
XAI_LAB_SEED
    The default random seed (default 0).
XAI_LAB_OFFLINE
    ``1`` forbids downloads (the loaders then say where they looked and how to get the file).
XAI_LAB_MODELS_DIR
    Where trained models live (one folder per model, as ``xai-lab train --out`` writes them);
    default ``<cache>/models``. The clinician explorer lists them.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SEED = 0


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def data_dir() -> Path | None:
    """The user's data folder (``XAI_LAB_DATA_DIR``), or None when unset."""
    value = os.environ.get("XAI_LAB_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The download cache (``XAI_LAB_CACHE_DIR``, default ``~/.cache/xai_lab``). Not created here."""
    value = os.environ.get("XAI_LAB_CACHE_DIR", "").strip()
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "xai_lab"


def fast_mode() -> bool:
    """True when ``XAI_LAB_FAST`` asks for small data and few epochs (CI, nbval)."""
    return _flag("XAI_LAB_FAST")


def offline() -> bool:
    """True when ``XAI_LAB_OFFLINE`` forbids network downloads."""
    return _flag("XAI_LAB_OFFLINE")


def seed() -> int:
    """The default random seed (``XAI_LAB_SEED``, default 0)."""
    value = os.environ.get("XAI_LAB_SEED", "").strip()
    return int(value) if value else DEFAULT_SEED


def models_dir() -> Path:
    """Trained models folder (``XAI_LAB_MODELS_DIR``, default ``<cache_dir>/models``)."""
    value = os.environ.get("XAI_LAB_MODELS_DIR", "").strip()
    return Path(value).expanduser() if value else cache_dir() / "models"
