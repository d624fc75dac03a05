"""Atomic file writes: a temporary file in the target's folder, renamed into place on success.

Every writer of the package (models, reports, explanations, JSON results, decoded-image caches)
goes through :func:`atomic_path`, so an interrupted or failed write never leaves a half-written
file where a reader would take it for a whole one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed and the
    exception propagates; an existing ``path`` is left as it was. ``suffix`` lets writers that
    insist on an extension (Keras wants ``.keras``) have it. The file is made readable by all
    (0644), as an ordinary ``open(path, "w")`` would.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
