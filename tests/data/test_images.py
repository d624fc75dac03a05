"""read_image, resize and prepare_for_model on tiny files of every kind (always run)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from xai_lab.data import ImageReadError, prepare_for_model, read_image, resize


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, "PNG") if mode else Image.fromarray(array).save(
        buf, "PNG"
    )
    return buf.getvalue()


def test_grey_rgb_and_path(tmp_path):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    out = read_image(_png(grey))
    assert out.shape == (8, 8, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], grey)
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    path.write_bytes(_png(rgb))
    np.testing.assert_array_equal(read_image(path), rgb)
    np.testing.assert_array_equal(read_image(str(path)), rgb)


def test_16_bit_png_is_stretched_to_uint8():
    values = np.linspace(1000, 4000, 100).astype(np.uint16).reshape(10, 10)
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, "PNG")
    out = read_image(buf.getvalue())
    assert out.dtype == np.uint8 and out.shape == (10, 10, 1)
    assert out.min() == 0 and out.max() == 255
    assert np.all(np.diff(out.reshape(-1).astype(int)) >= 0)  # order preserved


def test_rgba_is_composited_on_black_and_palette_is_expanded():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # fully transparent pixel
    rgba[1, 1, 3] = 128
    out = read_image(_png(rgba))
    assert out.shape == (4, 4, 3)
    assert out[0, 0, 0] == 0 and out[2, 2, 0] == 200 and 95 <= out[1, 1, 0] <= 105
    palette = Image.fromarray(np.full((5, 5, 3), (10, 200, 30), np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=4
    )
    buf = io.BytesIO()
    palette.save(buf, "PNG")
    out = read_image(buf.getvalue())
    assert out.shape == (5, 5, 3) and tuple(out[0, 0]) == (10, 200, 30)


def test_jpeg_grey_and_bilevel():
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16), 77, np.uint8)).save(buf, "JPEG")
    assert abs(int(read_image(buf.getvalue()).mean()) - 77) <= 1
    buf = io.BytesIO()
    Image.fromarray(np.eye(8, dtype=bool)).save(buf, "PNG")
    out = read_image(buf.getvalue())
    assert out.shape == (8, 8, 1) and set(np.unique(out)) == {0, 255}


def test_errors_are_specific(tmp_path):
    with pytest.raises(ImageReadError, match="empty"):
        read_image(b"")
    with pytest.raises(ImageReadError, match="too large"):
        read_image(b"x" * 2000, max_bytes=1000)
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 5000)
    with pytest.raises(ImageReadError, match="too large"):
        read_image(big, max_bytes=1000)
    text = tmp_path / "notes.png"
    text.write_text("patient notes, definitely not a picture\n")
    with pytest.raises(
        ImageReadError, match=r"'notes.png' is not an image \(it looks like a text file\)"
    ):
        read_image(text)
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(bytes(range(256)) * 4)
    good = _png(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(good[: len(good) // 2], name="half.png")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)).save(
        buf, "JPEG"
    )
    with pytest.raises(ImageReadError, match="'half.jpg' is a truncated or corrupt image"):
        read_image(buf.getvalue()[: len(buf.getvalue()) // 2], name="half.jpg")
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)
    with pytest.raises(TypeError):
        read_image(123)  # type: ignore[arg-type]


def _dicom(tmp_path, pixels: np.ndarray | None, **attrs) -> bytes:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(tmp_path / "x.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Phantom^Test"
    ds.Modality = "DX"
    if pixels is not None:
        ds.Rows, ds.Columns = pixels.shape[:2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = attrs.pop("PhotometricInterpretation", "MONOCHROME2")
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = pixels.astype(np.uint16).tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_dicom_with_pixels_monochrome_and_window(tmp_path):
    pixels = np.linspace(0, 4000, 12 * 10).reshape(12, 10).astype(np.uint16)
    out = read_image(_dicom(tmp_path, pixels), name="scan.dcm")
    assert out.shape == (12, 10, 1) and out.dtype == np.uint8
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    inverted = read_image(_dicom(tmp_path, pixels, PhotometricInterpretation="MONOCHROME1"))
    np.testing.assert_array_equal(inverted, 255 - out)
    # rescale then window: values below the window are black, above it white
    windowed = read_image(
        _dicom(
            tmp_path,
            pixels,
            RescaleSlope=1,
            RescaleIntercept=-1000,
            WindowCenter=0,
            WindowWidth=1000,
        )
    )
    hu = pixels.astype(float) - 1000
    assert np.all(windowed[..., 0][hu <= -500] == 0) and np.all(windowed[..., 0][hu >= 500] == 255)
    middle = (hu > -400) & (hu < 400)
    assert np.all((windowed[..., 0][middle] > 0) & (windowed[..., 0][middle] < 255))


def test_dicom_without_pixel_data(tmp_path):
    with pytest.raises(ImageReadError, match="without pixel data"):
        read_image(_dicom(tmp_path, None), name="report.dcm")


def test_resize_and_channels():
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (3, 20, 30, 1), dtype=np.uint8)
    out = resize(batch, 10)
    assert out.shape == (3, 10, 10, 1) and out.dtype == np.uint8
    assert resize(batch, (8, 12), channels=3).shape == (3, 8, 12, 3)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert resize(rgb, 32, channels=1).shape == (32, 32, 1)
    np.testing.assert_array_equal(resize(batch, (20, 30)), batch)
    flat = np.full((1, 40, 40, 1), 90, np.uint8)
    assert np.all(resize(flat, 7) == 90)
    with pytest.raises(TypeError):
        resize(batch.astype(np.float32), 10)


def test_prepare_for_model():
    image = np.full((50, 60), 255, np.uint8)
    x = prepare_for_model(image, (28, 28, 3))
    assert x.shape == (1, 28, 28, 3) and x.dtype == np.float32 and np.allclose(x, 1.0)
    x = prepare_for_model(np.zeros((30, 30, 3), np.uint8), (None, 64, 64, 1))
    assert x.shape == (1, 64, 64, 1)
    with pytest.raises(ImageReadError, match="too small"):
        prepare_for_model(np.zeros((5, 5), np.uint8), (28, 28, 1))
    with pytest.raises(ImageReadError, match="odd shape"):
        prepare_for_model(np.zeros((10, 200), np.uint8), (28, 28, 1))


def test_text_renamed_dicom_is_not_an_image(tmp_path):
    path = tmp_path / "scan.dcm"
    path.write_text("PatientName: nobody\n")
    with pytest.raises(ImageReadError, match="'scan.dcm' is not an image"):
        read_image(path)


# --------------------------------------------------- bad input and odd-but-valid input
def test_exif_orientation_is_applied():
    pixels = np.zeros((30, 50, 3), np.uint8)
    pixels[:, :10] = 255  # a white band on the left of the stored image
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", exif=exif, quality=95)
    out = read_image(buf.getvalue(), name="phone.jpg")
    assert out.shape == (50, 30, 3)  # displayed upright: height and width swap
    assert out[:10].mean() > 200 and out[-10:].mean() < 50  # the band is now at the top
    from xai_lab.data import decode_image

    assert decode_image(buf.getvalue()).original_size == (50, 30)


def test_a_file_named_dcm_that_is_not_dicom_is_called_so(tmp_path):
    junk = tmp_path / "scan.dcm"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ImageReadError, match="'scan.dcm' is not a DICOM file") as err:
        read_image(junk)
    assert "without pixel data" not in str(err.value)
    png = tmp_path / "really_a_png.dcm"
    png.write_bytes(_png(np.full((9, 9), 7, np.uint8)))
    assert read_image(png).shape == (9, 9, 1)  # the contents decide, not the name


def test_dicom_without_preamble_is_still_read():
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.Rows, ds.Columns = 8, 10
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.arange(80, dtype=np.uint16).tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, implicit_vr=True, little_endian=True)  # no preamble, no file meta
    raw = buf.getvalue()
    assert raw[128:132] != b"DICM"
    out = read_image(raw, name="raw.dcm")
    assert out.shape == (8, 10, 1) and out[0, 0, 0] == 0 and out[-1, -1, 0] == 255


def _png_header_only(width: int, height: int, colour_type: int = 2) -> bytes:
    """A PNG declaring ``width x height`` in its header, with almost no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)  # the start of the first row only
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_pixel_limit_follows_the_memory_budget_and_is_checked_from_the_header():
    from xai_lab.data.budget import DECODE_BUDGET_BYTES, decode_cost

    header = _png_header_only(9400, 9400)  # 88 megapixels declared in 41 bytes
    with pytest.raises(ImageReadError, match=r"9400 x 9400 pixels \(RGB\).*MiB allowed") as err:
        read_image(header, name="bomb.png")
    assert "Downscale" in str(err.value)
    assert decode_cost("RGB", 9400, 9400) > DECODE_BUDGET_BYTES
    grey = _png(np.full((300, 400), 9, np.uint8))
    assert read_image(grey).shape == (300, 400, 1)
    with pytest.raises(ImageReadError, match="too large to decode"):
        read_image(grey, budget=decode_cost("L", 400, 300) - 1)
    assert read_image(grey, budget=decode_cost("L", 400, 300)).shape == (300, 400, 1)


def test_jpeg_decoded_at_reduced_scale_counts_against_the_budget():
    from xai_lab.data import decode_image
    from xai_lab.data.budget import decode_cost

    buf = io.BytesIO()
    Image.new("RGB", (800, 600), (10, 20, 30)).save(buf, "JPEG")
    small_budget = decode_cost("RGB", 200, 150)  # enough only at 1/4 scale
    with pytest.raises(ImageReadError):
        decode_image(buf.getvalue(), budget=small_budget)
    out = decode_image(buf.getvalue(), budget=small_budget, reduce_to=100)
    assert out.pixels.shape == (150, 200, 3) and out.original_size == (600, 800)


def test_error_messages_never_quote_the_file():
    secret = b"Patient: Jane Doe, DOB 1970-01-01\n"
    for data in (secret, b"\x01\x02SECRETBYTES" + bytes(range(200))):
        with pytest.raises(ImageReadError) as err:
            read_image(data, name="upload.png")
        assert "Jane" not in str(err.value) and "SECRET" not in str(err.value)
        assert "\\x01" not in str(err.value)


@pytest.mark.parametrize(
    ("mode", "channels"),
    [("LA", 1), ("I", 1), ("F", 1), ("I;16", 1), ("P", 3), ("RGBA", 3), ("1", 1), ("CMYK", 3)],
)
def test_odd_but_valid_modes_are_accepted(mode, channels):
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 256, (12, 14, 4), dtype=np.uint8), "RGBA")
    im = base.convert("L").convert(mode) if mode in ("I", "F", "I;16") else base.convert(mode)
    buf = io.BytesIO()
    im.save(buf, {"CMYK": "JPEG", "F": "TIFF", "I": "TIFF"}.get(mode, "PNG"))
    out = read_image(buf.getvalue())
    assert out.shape == (12, 14, channels) and out.dtype == np.uint8


def test_a_single_image_without_a_batch_axis_is_prepared():
    x = prepare_for_model(np.full((40, 40), 128, np.uint8), (None, 28, 28, 1))
    assert x.shape == (1, 28, 28, 1)
    x = prepare_for_model(np.full((1, 40, 40, 3), 128, np.uint8), (28, 28, 3))
    assert x.shape == (1, 28, 28, 3)


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=2000), name=st.sampled_from(["x.png", "x.jpg", "x.dcm", None]))
def test_property_random_bytes_give_an_image_or_an_image_read_error(payload, name):
    try:
        out = read_image(payload, name=name)
    except ImageReadError:
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[-1] in (1, 3)


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from(["L", "RGB", "RGBA", "LA", "P", "I;16", "1"]),
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    fmt=st.sampled_from(["PNG", "TIFF", "BMP"]),
    cut=st.one_of(st.none(), st.integers(0, 200)),
    seed=st.integers(0, 2**16),
)
def test_property_real_images_decode_to_their_size_or_fail_cleanly(mode, height, width, fmt, cut, seed):
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    try:
        im.save(buf, fmt)
    except (OSError, ValueError, KeyError):
        return  # Pillow cannot write this mode in this format
    data = buf.getvalue() if cut is None else buf.getvalue()[:cut]
    try:
        out = read_image(data)
    except ImageReadError:
        assert cut is not None
        return
    assert out.shape[:2] == (height, width) and out.dtype == np.uint8
