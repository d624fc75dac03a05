"""Shared fixtures. Real-data tests reach the shared data only through XAI_LAB_DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The shared real data folder; skips the test when it is not configured or absent."""
    from xai_lab import config

    path = config.data_dir()
    if path is None:
        pytest.skip("XAI_LAB_DATA_DIR is not set: real-data test skipped")
    if not path.is_dir():
        pytest.skip(f"XAI_LAB_DATA_DIR={path} does not exist: real-data test skipped")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.cache from tests: each test session gets its own cache."""
    cache = tmp_path_factory.getbasetemp() / "xai_lab_cache"
    monkeypatch.setenv("XAI_LAB_CACHE_DIR", str(cache))
    monkeypatch.setenv("XAI_LAB_OFFLINE", "1")
