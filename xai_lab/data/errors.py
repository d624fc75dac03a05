"""Exceptions raised by the data layer, each with a message that says what to do.

Every one derives from :class:`DataError`, so a caller (the CLI) can turn any bad-data problem
into one clear line with a single ``except``; each also keeps the built-in base it always had
(``FileNotFoundError``, ``ValueError``, ``RuntimeError``) for code that catches those.
"""

from __future__ import annotations


class DataError(Exception):
    """Base class of the data layer's errors: the message names the file, the problem and
    what to do about it."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset file or folder could not be found locally nor downloaded.

    The message names the file, every place that was searched and how to get the data
    (the public URL and the ``XAI_LAB_DATA_DIR`` environment variable).

    Attributes
    ----------
    filename : str or None
        The file or folder that was looked for (e.g. ``pneumoniamnist_128.npz``).
    searched : list of str
        Every place looked in, in order.
    url : str or None
        Where the data can be had.
    not_downloaded : str or None
        Why no download was tried or why it failed (``"XAI_LAB_OFFLINE is set"``, ...);
        None when the dataset is never downloaded automatically.
    """

    def __init__(
        self,
        message: str,
        *,
        filename: str | None = None,
        searched: list[str] | None = None,
        url: str | None = None,
        not_downloaded: str | None = None,
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.searched = list(searched or [])
        self.url = url
        self.not_downloaded = not_downloaded

    def __str__(self) -> str:  # FileNotFoundError's default __str__ would hide the message
        return str(self.args[0])


class SplitNotFoundError(DataError, ValueError):
    """The requested split (``train``, ``val``, ``test``, ...) is not in the dataset file."""


class CorruptFileError(DataError, ValueError):
    """A dataset file exists but cannot be used: truncated, not an npz, arrays of the wrong
    type, shape or range (float images, labels out of range, ...)."""


class EmptyDatasetError(CorruptFileError):
    """A split, a class folder or a metadata table holds no images."""


class ResolutionError(DataError, ValueError):
    """The requested image size is above the resolution of the source images."""


class FolderLayoutError(DataError, ValueError):
    """A folder's sub-folders do not match the classes they should hold."""


class DownloadError(DataError, RuntimeError):
    """A download failed (network error, wrong MD5, interrupted); nothing was left behind."""


class ImageReadError(DataError, ValueError):
    """An image cannot be read: too large, empty, not an image, truncated, no pixel data, ..."""


class UnsafePathError(ImageReadError):
    """A file name (an image id in a CSV, a symlink, ``..``) points outside the data folder;
    the file was not opened."""
