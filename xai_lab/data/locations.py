"""Where the loaders look for data: the user's folder (``data_dir`` or ``XAI_LAB_DATA_DIR``),
then the local cache (``XAI_LAB_CACHE_DIR``)."""

from __future__ import annotations

from pathlib import Path

from .. import config

ORIGIN_TEXT = {
    "data_dir": "the data folder given",
    "XAI_LAB_DATA_DIR": "XAI_LAB_DATA_DIR",
    "cache": "the local cache",
    "download": "a fresh download",
}


def user_dir(data_dir: str | Path | None) -> tuple[Path | None, str]:
    """``(folder, origin)``: ``data_dir`` when given, else ``XAI_LAB_DATA_DIR`` (or None)."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir"
    return config.data_dir(), "XAI_LAB_DATA_DIR"


def search_roots(data_dir: str | Path | None) -> tuple[list[Path], str]:
    """The folders to search, in order (the user's folder, if any, then the cache)."""
    user, origin = user_dir(data_dir)
    roots = [user] if user is not None else []
    roots.append(config.cache_dir())
    return roots, origin


def origin_of(base: Path, data_dir: str | Path | None) -> str:
    """``"cache"`` when ``base`` is in the cache folder, else the user folder's origin."""
    cache = config.cache_dir()
    if base == cache or base.is_relative_to(cache):
        return "cache"
    return user_dir(data_dir)[1]


def not_set_note(data_dir: str | Path | None) -> list[str]:
    """``["XAI_LAB_DATA_DIR (not set)"]`` when no user folder is configured, else ``[]``."""
    return ["XAI_LAB_DATA_DIR (not set)"] if data_dir is None and config.data_dir() is None else []
