"""Reading single images (PNG, JPEG, DICOM) safely, resizing, and preparing model input.

Every failure is an :class:`~xai_lab.data.errors.ImageReadError` (a ``ValueError``) with a
message that says what is wrong with which file and what to do, never a Pillow or pydicom
traceback, and never a quotation of the file's contents. This module is the one place where
image files enter the package: the explorer's uploads, the class-folder and CSV loaders and
``xai-lab evaluate --images`` all decode through :func:`decode_image`.

What is checked before the pixels are decoded: the file size (``max_bytes``), that the bytes
are an image at all, and the memory that decoding would take, estimated from the header's
width, height and mode (:func:`~xai_lab.data.budget.decode_cost`) against a budget
(``DECODE_BUDGET_BYTES``): a 258 KB PNG can declare 88 megapixels. JPEGs that will be shrunk
anyway (``reduce_to``) are decoded at a reduced scale in the DCT domain (Pillow's ``draft``),
which is also counted. JPEG and TIFF orientation tags (EXIF) are applied, as a viewer would.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import MutableSequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .budget import DECODE_BUDGET_BYTES, decode_cost, max_pixels
from .errors import ImageReadError

DEFAULT_MAX_BYTES = 20 * 2**20
MIN_SIDE = 8
MAX_ASPECT = 8.0
DICOM_SUFFIXES = (".dcm", ".dicom")
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"GIF8")


@dataclass
class DecodedImage:
    """One decoded image: uint8 (H, W, C) pixels and the size the file declares.

    ``original_size`` is (height, width) of the full image after the EXIF orientation, which
    can be larger than ``pixels`` when a JPEG was decoded at a reduced scale (``reduce_to``).
    """

    pixels: np.ndarray
    original_size: tuple[int, int]
    format: str


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
    """Linearly map [low, high] (default: the image's own range) to [0, 255] (float32 work)."""
    low = float(np.min(arr)) if low is None else low
    high = float(np.max(arr)) if high is None else high
    if not high > low:
        return np.zeros(arr.shape, dtype=np.uint8)
    out = arr.astype(np.float32)
    out -= np.float32(low)
    out *= np.float32(255.0 / (high - low))
    np.rint(out, out=out)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


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


def _composite_on_black(arr: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C + 1) with alpha last -> uint8 (H, W, C), integer arithmetic."""
    colour = arr[..., :-1].astype(np.uint16)
    colour *= arr[..., -1:]
    colour += 127
    colour //= 255
    return colour.astype(np.uint8)


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
        base = "RGBA" if mode.startswith("RGB") else "LA"
        if mode != base:
            im = im.convert(base)
        return _to_hwc(_composite_on_black(np.asarray(im)), name)
    if mode in ("L", "RGB"):
        return _to_hwc(np.asarray(im, dtype=np.uint8), name)
    if mode.startswith("I") or mode == "F":
        # 16-bit / 32-bit grey (e.g. 16-bit PNG): stretch the image's own range to 0-255.
        arr = np.asarray(im)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ImageReadError(f"{_describe(name)} holds NaN or infinite pixel values")
        return _to_hwc(_scale_to_uint8(arr), name)
    raise ImageReadError(f"{_describe(name)} has an unsupported image mode {mode!r}")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (MutableSequence, list, tuple)) else value


def _too_large(name: str | None, what: str, cost: int, budget: int, mode: str) -> ImageReadError:
    return ImageReadError(
        f"{_describe(name)} is too large to decode: {what} would take about "
        f"{cost / 2**20:.0f} MiB, above the {budget / 2**20:.0f} MiB allowed for one image "
        f"(at most about {max_pixels(mode, budget) / 1e6:.0f} megapixels of this kind). "
        "Downscale it (e.g. to 2048 pixels on the long side) and try again."
    )


def _dicom_dataset(data: bytes, name: str | None, has_magic: bool) -> Any:
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError as exc:  # pragma: no cover - pydicom is a dependency
        raise ImageReadError(
            f"{_describe(name)} is a DICOM file; install pydicom to read it"
        ) from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about every odd element
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
            groups = {int(tag) >> 16 for tag in ds.keys()}
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        if not has_magic:
            raise _not_dicom(name) from exc
        raise ImageReadError(
            f"{_describe(name)} is a corrupt or truncated DICOM file ({type(exc).__name__}); "
            "export it again from the PACS or viewer"
        ) from exc
    if not has_magic and not groups & {0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028}:
        raise _not_dicom(name)
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        # a bare data set (no preamble, no file meta): its encoding is the one it was read with
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

        implicit, little = getattr(ds, "original_encoding", (None, None))
        if implicit is None:  # pydicom 2.x
            implicit, little = ds.is_implicit_VR, ds.is_little_endian
        meta = meta if meta is not None else FileMetaDataset()
        meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
        ds.file_meta = meta
    return ds


def _not_dicom(name: str | None) -> ImageReadError:
    return ImageReadError(
        f"{_describe(name)} is not a DICOM file although it is named like one: it has neither "
        "the 'DICM' marker nor any DICOM data elements, and it is not a PNG or JPEG either. "
        "Export the image again as DICOM, PNG or JPEG."
    )


def _read_dicom(data: bytes, name: str | None, has_magic: bool, budget: int) -> np.ndarray:
    ds = _dicom_dataset(data, name, has_magic)
    if "PixelData" not in ds:
        raise ImageReadError(
            f"{_describe(name)} is a DICOM file without pixel data (no PixelData element): "
            "it holds only metadata (e.g. a structured report or a header-only file); export "
            "the image series instead"
        )
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageReadError(
            f"{_describe(name)} is a DICOM file without valid Rows / Columns: its pixel data "
            "cannot be interpreted"
        ) from exc
    cost = decode_cost("I" if samples == 1 else "RGB", cols, rows * frames)
    if cost > budget:
        raise _too_large(name, f"{cols} x {rows} pixels x {frames} frame(s)", cost, budget, "I")
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
            f"{_describe(name)}: cannot decode the DICOM pixel data (transfer syntax {syntax}, "
            f"{type(exc).__name__}). Compressed DICOM may need pylibjpeg or gdcm installed."
        ) from exc
    arr = np.asarray(arr)
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
    values = arr.astype(np.float32)
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    values *= np.float32(slope)
    values += np.float32(intercept)
    low = high = None
    center, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if center is not None and width is not None:
        center, width = float(_first(center)), float(_first(width))
        if width > 0:
            low, high = center - width / 2.0, center + width / 2.0
            np.clip(values, low, high, out=values)
    out = _scale_to_uint8(values, low, high)
    if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out  # MONOCHROME1: low values are bright
    return _to_hwc(out, name)


def _read_bytes(source: bytes | str | Path, max_bytes: int, name: str | None) -> tuple[bytes, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        try:
            if path.is_dir():
                raise ImageReadError(f"{_describe(name)} is a folder, not an image file")
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise ImageReadError(f"{_describe(name)}: no such file {str(path)!r}") from exc
        except (OSError, ValueError) as exc:
            raise ImageReadError(
                f"{_describe(name)}: cannot read {str(path)!r} ({type(exc).__name__}: {exc})"
            ) from exc
        if size > max_bytes:
            raise ImageReadError(
                f"{_describe(name)} is too large: {size / 2**20:.1f} MiB > limit {max_bytes / 2**20:.1f} MiB"
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageReadError(
                f"{_describe(name)}: cannot read {str(path)!r} ({type(exc).__name__}: {exc})"
            ) from exc
    else:
        raise TypeError(f"read_image takes bytes or a path, got {type(source).__name__}")
    if len(data) > max_bytes:
        raise ImageReadError(
            f"{_describe(name)} is too large: {len(data) / 2**20:.1f} MiB > limit {max_bytes / 2**20:.1f} MiB"
        )
    if not data:
        raise ImageReadError(f"{_describe(name)} is empty (0 bytes)")
    return data, name


def _not_an_image(name: str | None, data: bytes) -> ImageReadError:
    hint = " (it looks like a text file)" if _looks_like_text(data) else ""
    return ImageReadError(
        f"{_describe(name)} is not an image{hint}: its contents are not those of a PNG, JPEG or "
        "DICOM file. Check that the right file was chosen."
    )


def decode_image(
    source: bytes | str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    name: str | None = None,
    budget: int = DECODE_BUDGET_BYTES,
    reduce_to: int | None = None,
) -> DecodedImage:
    """Decode one PNG, JPEG, BMP, TIFF or DICOM file; see :func:`read_image`.

    ``reduce_to`` lets a JPEG be decoded at a reduced scale (1/2, 1/4, 1/8) as long as both
    sides stay at least ``reduce_to`` pixels: for callers that resize to that size anyway.
    Returns the pixels with the file's own (height, width) after EXIF orientation.
    """
    data, name = _read_bytes(source, max_bytes, name)
    has_magic = data[128:132] == b"DICM"
    if has_magic:
        arr = _read_dicom(data, name, True, budget)
        return DecodedImage(arr, arr.shape[:2], "DICOM")
    is_dicom_name = (name or "").lower().endswith(DICOM_SUFFIXES)
    if _looks_like_text(data):
        raise _not_an_image(name, data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on odd EXIF blocks and the like
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            fmt = im.format or "?"
            width, height = im.size
            if reduce_to and fmt == "JPEG" and im.mode in ("L", "RGB"):
                im.draft(im.mode, (int(reduce_to), int(reduce_to)))  # DCT-domain downscale
            cost = decode_cost(im.mode, *im.size)
            if cost > budget:
                raise _too_large(name, f"{width} x {height} pixels ({im.mode})", cost, budget, im.mode)
            im.load()  # the full decode here, so that truncation is detected here
            if getattr(im, "n_frames", 1) > 1 and fmt not in ("PNG", "JPEG", "MPO"):
                raise ImageReadError(
                    f"{_describe(name)} has {im.n_frames} frames: multi-frame images are not "
                    "supported; export a single frame"
                )
            orientation = im.getexif().get(0x0112, 1)
            if orientation in (5, 6, 7, 8):  # a quarter turn: height and width swap
                width, height = height, width
            im = ImageOps.exif_transpose(im)
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        if data.startswith(_SIGNATURES):
            raise ImageReadError(
                f"{_describe(name)} is not an image that can be decoded: it starts like an image "
                "file but is truncated or corrupt; copy or export it again"
            ) from exc
        if is_dicom_name:
            arr = _read_dicom(data, name, False, budget)
            return DecodedImage(arr, arr.shape[:2], "DICOM")
        raise _not_an_image(name, data) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(
            f"{_describe(name)} is too large to decode safely ({exc}); downscale it and try again"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, ZeroDivisionError, KeyError) as exc:
        raise ImageReadError(
            f"{_describe(name)} is a truncated or corrupt image ({type(exc).__name__}: {exc}); "
            "copy or export it again"
        ) from exc
    return DecodedImage(_pil_to_array(im, name), (int(height), int(width)), fmt)


def read_image(
    source: bytes | str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    name: str | None = None,
    budget: int = DECODE_BUDGET_BYTES,
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
    budget : int
        The memory decoding may take (default :data:`~xai_lab.data.budget.DECODE_BUDGET_BYTES`,
        384 MiB); the pixel limit follows from it and the image's mode, read from the header
        before anything is decoded (about 33 megapixels of RGB, 80 of 8-bit grey).

    Notes
    -----
    16-bit grey images are stretched linearly from their own minimum and maximum to 0-255.
    Transparent images are composited on black. JPEG / TIFF EXIF orientation is applied.
    DICOM: rescale slope / intercept, then the first VOI window (WindowCenter / WindowWidth)
    when present, else the image's own range; MONOCHROME1 is inverted so that bright always
    means dense. A file named ``.dcm`` that is not DICOM is reported as such.

    Raises
    ------
    ImageReadError
        Too large (bytes, or memory to decode), empty, not an image (e.g. a text file renamed
        ``.png``), truncated or corrupt, not a DICOM file, DICOM without pixel data,
        unsupported dimensions. The message never quotes the file's contents.
    """
    return decode_image(source, max_bytes=max_bytes, name=name, budget=budget).pixels


def colourfulness(image: np.ndarray) -> float:
    """Mean chroma of a uint8 (H, W, 3) image: the mean of ``(|Cb| + |Cr|) / 2`` in 0-255
    units (ITU-R BT.601, as JPEG); 0 for grey images, grey ones stored as RGB included.

    Measured on the development copies: 0.0 for every chest X-ray (RGB-encoded grey JPEGs), at
    least 4.7 for the HAM10000 dermoscopy images sampled.
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        return 0.0
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    return float((np.abs(cb).mean() + np.abs(cr).mean()) / 2.0)


def _as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def convert_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    c = images.shape[-1]
    if c == 4:
        images, c = images[..., :3], 3
    if channels is None or channels == c:
        return images
    if c == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    if c == 3 and channels == 1:
        # ITU-R 601 luma, Pillow's convert("L") (integer arithmetic, one image at a time)
        out = np.empty(images.shape[:-1] + (1,), dtype=np.uint8)
        flat, grey = images.reshape((-1,) + images.shape[-3:]), out.reshape((-1,) + out.shape[-3:])
        for i in range(flat.shape[0]):
            grey[i, ..., 0] = np.asarray(Image.fromarray(flat[i]).convert("L"))
        return out
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
    arr = convert_channels(arr, channels)
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
    arr = convert_channels(arr, c)
    arr = resize(arr, (h or h0, w or w0))
    return (arr.astype(np.float32) / np.float32(255.0))[None]
