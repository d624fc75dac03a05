"""Atomic writes: a temporary file (or folder) beside the target, renamed into place on success.

Every writer of the package (models, reports, explanations, JSON results, decoded-image caches)
goes through :func:`atomic_path`, so an interrupted or failed write never leaves a half-written
file where a reader would take it for a whole one. A folder whose files belong together (a
training run: model, metrics, calibration) is replaced as a whole with :func:`atomic_dir`.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import os
import shutil
import sys
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


# ------------------------------------------------------------------------------ folders
#: Name parts of the sibling folders :func:`atomic_dir` makes beside its target:
#: ``.<name>.new-<pid>-<random>`` (being written) and ``.<name>.old-<pid>-<random>`` (the
#: previous contents on their way out, only where the folders cannot be exchanged in one step).
_NEW, _OLD = "new", "old"
_RENAME_EXCHANGE = 2  # linux/fs.h: atomically exchange two paths


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty sibling folder; when the block succeeds it replaces ``path`` as a whole.

    A reader of ``path`` sees either the old contents or the new ones, never a mix: the new
    files are written into ``.<name>.new-<pid>-<random>`` beside ``path``, and on success the
    two folders are exchanged in one step (Linux ``renameat2(RENAME_EXCHANGE)``) or, where the
    system cannot, the old folder is renamed away and the new one renamed in. The old contents
    are then removed. On any exception (KeyboardInterrupt included) the new folder is removed and
    ``path`` is left as it was.

    Leftovers of a process that was killed before it could clean up (its pid is gone) are dealt
    with on the next call for the same ``path``: an unfinished ``.new-`` folder is removed; an
    ``.old-`` folder is put back when ``path`` is missing (the kill fell between the two renames)
    and removed otherwise. They are hidden (dot) folders with other names, so no reader of
    ``path`` ever picks them up.

    The caller decides whether ``path``'s current contents may be replaced (see
    :func:`xai_lab.training.recipes.check_out_dir`).
    """
    path = Path(os.path.abspath(path))  # "." or "run/" have no usable name or sibling otherwise
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{_NEW}-{os.getpid()}-", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a folder made by mkdir would not be
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_leftovers(path: str | os.PathLike) -> list[Path]:
    """Deal with what interrupted :func:`atomic_dir` runs for ``path`` left; returns those paths.

    Only folders of processes that no longer run are touched (a concurrent writer keeps its own).
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    handled = []
    for leftover in sorted(path.parent.glob(f".{glob.escape(path.name)}.*-*-*")):
        kind, pid = _leftover_kind(path.name, leftover.name)
        if kind is None or _alive(pid) or not leftover.is_dir():
            continue
        if kind == _OLD and not path.exists():
            os.rename(leftover, path)  # the previous run, whole: put it back
        else:
            shutil.rmtree(leftover, ignore_errors=True)
        handled.append(leftover)
    return handled


def _leftover_kind(name: str, leftover: str) -> tuple[str | None, int]:
    rest = leftover[len(name) + 2 :] if leftover.startswith(f".{name}.") else ""
    kind, _, tail = rest.partition("-")
    pid, _, _ = tail.partition("-")
    if kind not in (_NEW, _OLD) or not pid.isdigit():
        return None, 0
    return kind, int(pid)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # an earlier, interrupted call of this very process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # this kernel or file system cannot: fall back to two renames
    raise OSError(err, os.strerror(err), str(b))


def _replace_dir(new: Path, path: Path) -> None:
    """Put the folder ``new`` at ``path``; the previous ``path`` (if any) is removed."""
    if not path.exists():
        os.rename(new, path)
        return
    if _exchange(new, path):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now holds the old contents
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.{_OLD}-{os.getpid()}-", dir=path.parent))
    os.rmdir(old)  # only the unique name is wanted: rename needs it free
    os.rename(path, old)
    os.rename(new, path)
    shutil.rmtree(old, ignore_errors=True)
