"""Downloading a file atomically: progress bar, MD5 check, temporary file, rename.

An interrupted or failed download (network error, wrong checksum, Ctrl-C) leaves nothing
behind: the bytes go to a temporary file in the destination folder, which is renamed over the
destination only after the checksum matched, and removed on any failure.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import DownloadError

CHUNK = 1 << 16
TIMEOUT_S = 60.0


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """The hex MD5 digest of a file."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: str | Path,
    md5: str | None = None,
    *,
    progress: bool = True,
    opener: Callable[..., Any] | None = None,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Download ``url`` to ``dest`` atomically and check its MD5.

    Parameters
    ----------
    url : str
        http(s) or file URL.
    dest : path
        Final location; its folder is created.
    md5 : str, optional
        Expected hex MD5; a mismatch raises :class:`DownloadError` and keeps nothing.
    progress : bool
        Show a tqdm progress bar.
    opener : callable, optional
        Replacement for :func:`urllib.request.urlopen` (tests).

    Raises
    ------
    DownloadError
        Network failure, HTTP error, checksum mismatch, or an unwritable destination.
    KeyboardInterrupt
        Re-raised after the temporary file is removed.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise DownloadError(f"cannot write to {dest.parent}: {exc}") from exc
    tmp = Path(tmp_name)
    open_url = opener or urllib.request.urlopen
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, open_url(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            total = int(total) if total and str(total).isdigit() else None
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=f"downloading {dest.name}",
                    leave=False,
                )
            try:
                while block := response.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    if bar is not None:
                        bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
        if md5 is not None and digest.hexdigest() != md5.lower():
            raise DownloadError(
                f"checksum mismatch for {url}: got MD5 {digest.hexdigest()}, expected {md5}; "
                "the download was discarded (try again, or fetch the file by hand)"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files; a cache is readable like any download
        os.replace(tmp, dest)
    except DownloadError:
        tmp.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, ValueError, EOFError) as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"download of {url} failed: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
