"""Command-line argument checks shared by the ``xai-lab`` commands (no TensorFlow import).

Each command module declares its arguments with these ``type=`` converters, so that argparse
refuses a bad value (``xai-lab train: error: argument --epochs: ...``, exit 2) before anything
runs, and may define ``check_<command>_arguments(args)`` for the checks that involve several
arguments or the file system; it raises :class:`UsageError`, which ``xai_lab.cli`` prints as
``error: ...`` with exit status 2. Both run before any data is read or any model is built.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

#: Seeds are handed to numpy, TensorFlow and Python's ``random``: numpy takes 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


class UsageError(ValueError):
    """Command-line arguments that cannot work together or name missing files."""


def int_range(minimum: int, maximum: int | None = None, what: str = "a whole number") -> Callable[[str], int]:
    """An argparse ``type`` accepting whole numbers in ``[minimum, maximum]``."""

    def convert(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{upper}, got {value}")
        return value

    convert.__name__ = "int"  # argparse names the type in some messages
    return convert


positive_int = int_range(1)
seed = int_range(0, MAX_SEED, "a whole number (a random seed)")
port = int_range(1, 65535, "a port number")


def existing_file(text: str) -> Path:
    """An argparse ``type``: a path to an existing, readable file."""
    path = Path(text).expanduser()
    if not text.strip():
        raise argparse.ArgumentTypeError("the file name is empty")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path} does not exist")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path} is not a file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{path} is not readable")
    return path


def existing_dir(text: str) -> Path:
    """An argparse ``type``: a path to an existing, readable folder."""
    path = Path(text).expanduser()
    if not text.strip():
        raise argparse.ArgumentTypeError("the folder name is empty")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path} does not exist")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{path} is not readable")
    return path


def not_a_file(text: str) -> Path:
    """An argparse ``type``: a folder path that is not an existing file (it may not exist yet)."""
    path = Path(text).expanduser()
    if not text.strip():
        raise argparse.ArgumentTypeError("the folder name is empty")
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} exists and is not a folder")
    return path
