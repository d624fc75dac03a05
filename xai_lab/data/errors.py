"""Exceptions raised by the data layer, each with a message that says what to do."""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file or folder could not be found locally nor downloaded.

    The message names the file, every place that was searched and how to get the data
    (the public URL and the ``XAI_LAB_DATA_DIR`` environment variable).
    """

    def __init__(
        self,
        message: str,
        *,
        filename: str | None = None,
        searched: list[str] | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.searched = list(searched or [])
        self.url = url

    def __str__(self) -> str:  # FileNotFoundError's default __str__ would hide the message
        return str(self.args[0])


class SplitNotFoundError(ValueError):
    """The requested split (``train``, ``val``, ``test``, ...) is not in the dataset file."""


class CorruptFileError(ValueError):
    """A dataset file exists but cannot be read (truncated download, not an npz, ...)."""


class DownloadError(RuntimeError):
    """A download failed (network error, wrong MD5, interrupted); nothing was left behind."""


class ImageReadError(ValueError):
    """An image cannot be read: too large, empty, not an image, truncated, no pixel data, ..."""
