"""Reading single images (PNG, JPEG, DICOM) safely, resizing, and preparing model input.

Every failure is an :class:`~xai_lab.data.errors.ImageReadError` (a ``ValueError``) with a
message that says what is wrong with which file, never a Pillow or pydicom traceback.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import MutableSequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageReadError

DEFAULT_MAX_BYTES = 20 * 2**20
MIN_SIDE = 8
MAX_ASPECT = 8.0
_MAX_PIXELS = 100_000_000


def _describe(name: str | None) -> str:
    return repr(name) if name else "the image"


def _looks_like_text(data: bytes) -> bool:
    head = data[:512]
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _scale_to_uint8(
    arr: np.ndarray, low: float | None = None, high: float | None = None
) -> np.ndarray:
    """Linearly map [low, high] (default: the image's own range) to [0, 255]."""
    arr = arr.astype(np.float64)
    low = float(np.min(arr)) if low is None else low
    high = float(np.max(arr)) if high is None else high
    if high <= low:
        return np.zeros(arr.shape, dtype=np.uint8)
    out = (arr - low) * (255.0 / (high - low))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _to_hwc(arr: np.ndarray, name: str | None) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise ImageReadError(
            f"{_describe(name)} has unsupported dimensions {arr.shape}: expected a 2-D grey or "
            "RGB image (multi-frame images and volumes are not supported)"
        )
    if min(arr.shape[:2]) < 1:
        raise ImageReadError(f"{_describe(name)} has no pixels (shape {arr.shape})")
    return np.ascontiguousarray(arr)


def _pil_to_array(im: Image.Image, name: str | None) -> np.ndarray:
    mode = im.mode
    if mode == "1":
        im = im.convert("L")
    elif mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    mode = im.mode
    if mode in ("RGBA", "LA", "La", "RGBa"):
        # Composite on black: transparent pixels carry no information, and black is the
        # background of X-rays and fundus photographs.
        base = "RGB" if mode.startswith("RGB") else "L"
        arr = np.asarray(im.convert("RGBA" if base == "RGB" else "LA"), dtype=np.float32)
        alpha = arr[..., -1:] / 255.0
        return _to_hwc(np.clip(np.rint(arr[..., :-1] * alpha), 0, 255).astype(np.uint8), name)
    if mode in ("L", "RGB"):
        return _to_hwc(np.asarray(im, dtype=np.uint8), name)
    if mode.startswith("I") or mode == "F":
        # 16-bit / 32-bit grey (e.g. 16-bit PNG): stretch the image's own range to 0-255.
        return _to_hwc(_scale_to_uint8(np.asarray(im)), name)
    raise ImageReadError(f"{_describe(name)} has an unsupported image mode {mode!r}")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (MutableSequence, list, tuple)) else value


def _read_dicom(data: bytes, name: str | None) -> np.ndarray:
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError as exc:  # pragma: no cover - pydicom is a dependency
        raise ImageReadError(
            f"{_describe(name)} is a DICOM file; install pydicom to read it"
        ) from exc
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ImageReadError(
            f"{_describe(name)} is a corrupt or truncated DICOM file: {exc}"
        ) from exc
    if "PixelData" not in ds:
        raise ImageReadError(
            f"{_describe(name)} is a DICOM file without pixel data (no PixelData element): "
            "it holds only metadata (e.g. a structured report or a header-only file)"
        )
    try:
        arr = ds.pixel_array
    except (
        ValueError,
        RuntimeError,
        NotImplementedError,
        AttributeError,
        OSError,
        KeyError,
        TypeError,
    ) as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise ImageReadError(
            f"{_describe(name)}: cannot decode the DICOM pixel data (transfer syntax {syntax}): "
            f"{exc}. Compressed DICOM may need pylibjpeg or gdcm installed."
        ) from exc
    arr = np.asarray(arr)
    samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1 or (samples == 1 and arr.ndim != 2) or (samples == 3 and arr.ndim != 3):
        raise ImageReadError(
            f"{_describe(name)} has unsupported dimensions {arr.shape} "
            f"({frames} frames, {samples} samples per pixel): expected one 2-D image"
        )
    if samples == 3:
        photometric = str(getattr(ds, "PhotometricInterpretation", "RGB"))
        if photometric.startswith("YBR"):
            try:
                from pydicom.pixels import convert_color_space
            except ImportError:  # pydicom 2.x
                from pydicom.pixel_data_handlers.util import convert_color_space

            arr = convert_color_space(arr, photometric, "RGB")
        return _to_hwc(arr if arr.dtype == np.uint8 else _scale_to_uint8(arr), name)
    # Grey: modality LUT (rescale slope / intercept), then the first VOI window, if any.
    values = arr.astype(np.float64)
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    values = values * slope + intercept
    low = high = None
    center, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if center is not None and width is not None:
        center, width = float(_first(center)), float(_first(width))
        if width > 0:
            low, high = center - width / 2.0, center + width / 2.0
    out = _scale_to_uint8(np.clip(values, low, high) if low is not None else values, low, high)
    if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out  # MONOCHROME1: low values are bright
    return _to_hwc(out, name)


def read_image(
    source: bytes | str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None
) -> np.ndarray:
    """Read one PNG, JPEG or DICOM image as uint8 (H, W, C), C = 1 (grey) or 3 (RGB).

    Parameters
    ----------
    source : bytes or path
        The file's bytes (e.g. from an upload widget) or its path.
    max_bytes : int
        Larger inputs are refused before decoding (default 20 MiB).
    name : str, optional
        Name used in error messages (defaults to the file name).

    Notes
    -----
    16-bit grey images are stretched linearly from their own minimum and maximum to 0-255.
    Transparent images are composited on black. DICOM: rescale slope / intercept, then the
    first VOI window (WindowCenter / WindowWidth) when present, else the image's own range;
    MONOCHROME1 is inverted so that bright always means dense.

    Raises
    ------
    ImageReadError
        Too large, empty, not an image (e.g. a text file renamed ``.png``), truncated or
        corrupt, DICOM without pixel data, unsupported dimensions.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise ImageReadError(f"{_describe(name)}: no such file {str(path)!r}") from exc
        except OSError as exc:
            raise ImageReadError(f"{_describe(name)}: cannot read {str(path)!r}: {exc}") from exc
        if path.is_dir():
            raise ImageReadError(f"{_describe(name)} is a folder, not an image file")
        if size > max_bytes:
            raise ImageReadError(
                f"{_describe(name)} is too large: {size / 2**20:.1f} MiB > limit {max_bytes / 2**20:.1f} MiB"
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageReadError(f"{_describe(name)}: cannot read {str(path)!r}: {exc}") from exc
    else:
        raise TypeError(f"read_image takes bytes or a path, got {type(source).__name__}")
    if len(data) > max_bytes:
        raise ImageReadError(
            f"{_describe(name)} is too large: {len(data) / 2**20:.1f} MiB > limit {max_bytes / 2**20:.1f} MiB"
        )
    if not data:
        raise ImageReadError(f"{_describe(name)} is empty (0 bytes)")
    has_magic = data[128:132] == b"DICM"
    if not has_magic and _looks_like_text(data):
        raise ImageReadError(
            f"{_describe(name)} is not an image (it looks like a text file): not a PNG, JPEG "
            f"or DICOM file (starts with {data[:8]!r})"
        )
    if has_magic or (name or "").lower().endswith((".dcm", ".dicom")):
        return _read_dicom(data, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > _MAX_PIXELS:
                raise ImageReadError(
                    f"{_describe(name)} is too large: {im.width} x {im.height} pixels"
                )
            fmt = im.format
            im.load()  # force the full decode so that truncation is detected here
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        hint = " (it looks like a text file)" if _looks_like_text(data) else ""
        raise ImageReadError(
            f"{_describe(name)} is not an image{hint}: not a PNG, JPEG or DICOM file "
            f"(starts with {data[:8]!r})"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"{_describe(name)} is too large to decode safely: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageReadError(f"{_describe(name)} is a truncated or corrupt image: {exc}") from exc
    if getattr(im, "n_frames", 1) > 1 and fmt not in ("PNG", "JPEG", "MPO"):
        raise ImageReadError(
            f"{_describe(name)} has {im.n_frames} frames: multi-frame images are not supported"
        )
    return _pil_to_array(im, name)


def _as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def _convert_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    c = images.shape[-1]
    if c == 4:
        images, c = images[..., :3], 3
    if channels is None or channels == c:
        return images
    if c == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    if c == 3 and channels == 1:
        # ITU-R 601 luma, as Pillow's convert("L")
        grey = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None]
    raise ValueError(f"cannot convert {c} channels to {channels}")


def resize_image(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize one uint8 (H, W, C) image with Pillow (LANCZOS down, BILINEAR up)."""
    h, w = _as_size(size)
    if image.shape[:2] == (h, w):
        return image
    down = h <= image.shape[0] and w <= image.shape[1]
    method = Image.Resampling.LANCZOS if down else Image.Resampling.BILINEAR
    if image.shape[-1] == 1:
        out = np.asarray(Image.fromarray(image[..., 0]).resize((w, h), method))[..., None]
    else:
        out = np.asarray(Image.fromarray(image).resize((w, h), method))
    return out


def resize(
    images: np.ndarray, size: int | tuple[int, int], channels: int | None = None
) -> np.ndarray:
    """Resize uint8 images to ``size`` (int or (H, W)) and optionally change channels (1 <-> 3).

    ``images`` is a batch (N, H, W, C) or one image (H, W, C); the result has the same rank.
    A 4-channel input loses its alpha channel.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise TypeError(f"resize expects uint8 images, got {arr.dtype}")
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"resize expects (N, H, W, C) or (H, W, C), got shape {arr.shape}")
    h, w = _as_size(size)
    arr = _convert_channels(arr, channels)
    if arr.shape[1:3] != (h, w):
        out = np.empty((arr.shape[0], h, w, arr.shape[-1]), dtype=np.uint8)
        for i in range(arr.shape[0]):
            out[i] = resize_image(arr[i], (h, w))
        arr = out
    return arr[0] if single else arr


def prepare_for_model(image: Any, input_shape: tuple[int | None, ...]) -> np.ndarray:
    """One image as a float32 (1, H, W, C) batch in [0, 1] for a model with ``input_shape``.

    ``image`` is uint8 (H, W), (H, W, C) or a float image in [0, 1]; ``input_shape`` is the
    model's input shape with or without the batch axis, e.g. ``(28, 28, 1)``. Channels are
    adapted (grey <-> RGB) and the image is resized.

    Raises
    ------
    ImageReadError
        The image is far too small (< 8 pixels on a side) or of an odd aspect ratio (> 8:1).
    """
    arr = np.asarray(image)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageReadError("the image contains NaN or infinite values")
        arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = _scale_to_uint8(arr)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise ImageReadError(f"expected one image (H, W) or (H, W, C), got shape {arr.shape}")
    h0, w0 = arr.shape[:2]
    if min(h0, w0) < MIN_SIDE:
        raise ImageReadError(
            f"the image is too small ({h0} x {w0} pixels, need at least {MIN_SIDE})"
        )
    if max(h0, w0) / min(h0, w0) > MAX_ASPECT:
        raise ImageReadError(
            f"the image has an odd shape ({h0} x {w0} pixels, aspect ratio above {MAX_ASPECT:g}:1)"
        )
    shape = tuple(input_shape)
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C) or (N, H, W, C), got {input_shape}")
    h, w, c = shape
    arr = _convert_channels(arr, c)
    arr = resize(arr, (h or h0, w or w0))
    return (arr.astype(np.float32) / np.float32(255.0))[None]
