"""Bad npz files: every class of bad input gets a clear error, never a silent cast or a traceback.

Covers float images (0-1, NaN, above 255), fractional / negative / out-of-range labels, empty
splits, absurd declared shapes (refused before allocating), mismatched counts, object arrays,
a file whose images do not match its size; large splits memory-mapped from the cache; and
property-based tests over random arrays and random bytes.
"""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xai_lab import config, data
from xai_lab.data import budget, store
from xai_lab.data.medmnist import npz_headers


def _write(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def _good(n: int = 6, size: int = 28) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "train_images": rng.integers(0, 256, (n, size, size), dtype=np.uint8),
        "train_labels": (np.arange(n) % 2).reshape(-1, 1).astype(np.uint8),
    }


def _load(tmp_path: Path, **arrays):
    _write(tmp_path / "medmnist" / "pneumoniamnist.npz", **arrays)
    return data.load("pneumoniamnist", "train", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.random.default_rng(0).random((4, 28, 28)), r"\[0, 1\]"),
        (np.full((4, 28, 28), np.nan, np.float32), "NaN"),
        (np.full((4, 28, 28), 300.0), "outside 0-255"),
        (np.full((4, 28, 28), 300, np.int16), "outside 0-255"),
        (np.full((4, 28, 28), -1, np.int16), "outside 0-255"),
        (np.ones((4, 28, 28), bool), "dtype bool"),
    ],
)
def test_bad_images_are_refused_with_the_file_and_what_to_do(tmp_path, images, match):
    with pytest.raises(data.CorruptFileError, match=match) as err:
        _load(tmp_path, train_images=images, train_labels=np.zeros((4, 1), np.uint8))
    assert "pneumoniamnist.npz" in str(err.value) and "train_images" in str(err.value)
    assert "uint8" in str(err.value)


def test_whole_number_floats_and_wider_integers_are_converted_exactly(tmp_path):
    good = _good()
    ds = _load(tmp_path, train_images=good["train_images"].astype(np.float64),
               train_labels=good["train_labels"].astype(np.float32))
    np.testing.assert_array_equal(ds.images[..., 0], good["train_images"])
    np.testing.assert_array_equal(ds.labels, good["train_labels"][:, 0])
    ds = _load(tmp_path, train_images=good["train_images"].astype(">i4"),
               train_labels=good["train_labels"].astype(np.int64))
    np.testing.assert_array_equal(ds.images[..., 0], good["train_images"])


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.array([0.0, 0.5, 1.0, 1.0]), "not whole numbers"),
        (np.array([0, -1, 1, 0]), "negative"),
        (np.array([0, 1, 2, 1]), r"outside 0\.\.1"),
        (np.array([0, np.nan, 1, 0]), "NaN"),
        (np.array(["a", "b", "a", "b"]), "not class indices"),
    ],
)
def test_bad_labels_are_refused(tmp_path, labels, match):
    with pytest.raises(data.CorruptFileError, match=match):
        _load(tmp_path, train_images=np.zeros((4, 28, 28), np.uint8), train_labels=labels)


def test_evaluate_style_reading_without_a_class_count_still_refuses_negative_labels(tmp_path):
    path = _write(tmp_path / "x.npz", val_images=np.zeros((3, 28, 28), np.uint8),
                  val_labels=np.array([0, -2, 1]))
    with pytest.raises(data.CorruptFileError, match="negative"):
        data.read_npz_split(path, "val")


def test_empty_split_mismatched_counts_and_wrong_size(tmp_path):
    with pytest.raises(data.EmptyDatasetError, match="holds no images"):
        _load(tmp_path, train_images=np.zeros((0, 28, 28), np.uint8), train_labels=np.zeros((0, 1)))
    with pytest.raises(data.CorruptFileError, match="3 labels for 4 images"):
        _load(tmp_path, train_images=np.zeros((4, 28, 28), np.uint8), train_labels=np.zeros(3, np.uint8))
    with pytest.raises(data.CorruptFileError, match="multi-label"):
        _load(tmp_path, train_images=np.zeros((4, 28, 28), np.uint8), train_labels=np.zeros((4, 3), np.uint8))
    with pytest.raises(data.CorruptFileError, match="shape"):
        _load(tmp_path, train_images=np.zeros((4, 28), np.uint8), train_labels=np.zeros(4, np.uint8))
    with pytest.raises(data.CorruptFileError, match="channel"):
        _load(tmp_path, train_images=np.zeros((4, 28, 28, 3), np.uint8), train_labels=np.zeros(4, np.uint8))
    _write(tmp_path / "medmnist" / "pneumoniamnist_128.npz", **_good(size=28))
    with pytest.raises(data.CorruptFileError, match="28 x 28 images, not 128 x 128"):
        data.load("pneumoniamnist", "train", size=128, data_dir=tmp_path)


def _npy_bytes(shape: tuple[int, ...], dtype: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + payload


def test_absurd_declared_shape_is_refused_before_allocating(tmp_path):
    path = tmp_path / "medmnist" / "pneumoniamnist.npz"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train_images.npy", _npy_bytes((10**9, 28, 28), "|u1", b"\0" * 784))
        zf.writestr("train_labels.npy", _npy_bytes((10**9,), "|u1", b"\0"))
    tracemalloc.start()
    try:
        with pytest.raises(data.CorruptFileError, match="declares shape") as err:
            data.load("pneumoniamnist", "train", data_dir=tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "1000000000" in str(err.value).replace(",", "")
    assert peak < 20 * 2**20  # nothing near the declared 784 GB was allocated


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "medmnist" / "pneumoniamnist.npz"
    path.parent.mkdir(parents=True)
    np.savez(path, train_images=np.array([{"a": 1}] * 4, dtype=object), train_labels=np.zeros(4))
    with pytest.raises(data.CorruptFileError, match="Python objects"):
        data.load("pneumoniamnist", "train", data_dir=tmp_path)


def test_damaged_member_data_is_reported_as_corrupt(tmp_path):
    path = _write(tmp_path / "medmnist" / "pneumoniamnist.npz", **_good(n=200))
    raw = bytearray(path.read_bytes())
    start = raw.index(b"train_images.npy") + 200  # inside the compressed image data
    raw[start : start + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.raises(data.CorruptFileError, match="download it again"):
        data.load("pneumoniamnist", "train", data_dir=tmp_path)


def test_large_split_is_memory_mapped_from_the_cache_and_written_atomically(tmp_path, monkeypatch):
    good = _good(n=50)
    path = _write(tmp_path / "medmnist" / "pneumoniamnist.npz", **good)
    monkeypatch.setattr(budget, "IN_MEMORY_BYTES", 1000)
    ds = data.load("pneumoniamnist", "train", data_dir=tmp_path)
    assert store.is_file_backed(ds.images)
    np.testing.assert_array_equal(ds.images[..., 0], good["train_images"])
    stored = list((config.cache_dir() / "decoded").glob("pneumoniamnist-train-*.npy"))
    assert len(stored) == 1
    assert not list((config.cache_dir() / "decoded").glob(".*"))  # no temporary files left
    ds.images[0, 0, 0, 0] = 255 - ds.images[0, 0, 0, 0]  # copy-on-write: the file is unchanged
    np.testing.assert_array_equal(np.load(stored[0])[..., 0], good["train_images"])
    again = data.load("pneumoniamnist", "train", data_dir=tmp_path)
    np.testing.assert_array_equal(again.images[..., 0], good["train_images"])
    # an invalid file is refused the same way on this path, and nothing is left behind
    bad = dict(good, train_images=good["train_images"] / 255.0)
    _write(path, **bad)
    with pytest.raises(data.CorruptFileError, match=r"\[0, 1\]"):
        data.load("pneumoniamnist", "train", data_dir=tmp_path)
    assert not list((config.cache_dir() / "decoded").glob(".*"))


# ------------------------------------------------------------------------- property-based
_DTYPES = st.sampled_from(["u1", "i1", "<u2", ">i2", "<i4", "<i8", "<f4", ">f8", "?"])


@st.composite
def _arrays(draw):
    n = draw(st.integers(0, 5))
    size = draw(st.integers(1, 6))
    rank = draw(st.sampled_from([3, 3, 4, 4, 2]))
    shape = (n, size, size, draw(st.sampled_from([1, 3, 3, 2])))[:rank]
    images = draw(st.sampled_from(["whole", "whole", "unit", "wild"]))
    dtype = np.dtype(draw(_DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if images == "whole":
        x = rng.integers(0, 256, shape)
    elif images == "unit":
        x = rng.random(shape)
    else:
        x = rng.normal(100, 400, shape)
        if draw(st.booleans()) and x.size:
            x.flat[0] = np.nan
    with np.errstate(invalid="ignore", over="ignore"):
        x = x.astype(dtype)
    low, high = draw(st.sampled_from([0, 0, 0, -1])), draw(st.sampled_from([3, 3, 3, 4]))
    label_shape = draw(st.sampled_from([(n,), (n, 1), (n,), (n, 1), (n, 2), (max(n - 1, 0),)]))
    labels = rng.integers(low, high, label_shape)
    return x, labels.astype(np.dtype(draw(_DTYPES)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrays=_arrays())
def test_property_any_npz_is_read_exactly_or_refused_with_a_data_error(tmp_path, arrays):
    x, y = arrays
    path = tmp_path / "p.npz"
    np.savez(path, val_images=x, val_labels=y)
    try:
        images, labels = data.read_npz_split(path, "val", n_classes=3)
    except data.DataError:
        return
    assert images.dtype == np.uint8 and images.ndim == 4 and labels.dtype == np.int64
    assert len(images) == len(labels) > 0 and labels.min() >= 0 and labels.max() < 3
    np.testing.assert_array_equal(images.reshape(x.shape), x)  # exact: no cast, no wrap
    np.testing.assert_array_equal(labels, np.asarray(y).reshape(-1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=600), cut=st.integers(0, 4000))
def test_property_random_or_truncated_bytes_give_only_corrupt_file_errors(tmp_path, payload, cut):
    good = tmp_path / "good.npz"
    if not good.exists():
        _write(good, **_good(n=8))
    path = tmp_path / "p.npz"
    path.write_bytes(good.read_bytes()[:cut] + payload)
    try:
        images, labels = data.read_npz_split(path, "train")
    except data.DataError as exc:
        assert isinstance(exc, (data.CorruptFileError, data.SplitNotFoundError))
        return
    assert images.shape == (8, 28, 28, 1) and labels.shape == (8,)


def test_npz_headers_reads_no_data(tmp_path):
    path = _write(tmp_path / "h.npz", **_good(n=3))
    headers = npz_headers(path)
    assert headers["train_images"].shape == (3, 28, 28)
    assert headers["train_labels"].dtype == np.uint8
