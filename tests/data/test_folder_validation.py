"""Bad input to the class-folder and CSV loaders: named, refused or skipped, never read from
outside the data folder, never quoted, never half-written into the cache.

Covers symlinks and ``..`` / absolute image ids leaving the data folder, a CSV with only a
header, empty class folders, grey and colour mixed, images far smaller than the requested
size, a size above the source resolution, an interrupted decode, a corrupt cache file, and a
property-based test over random folders.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from xai_lab import config, data
from xai_lab.data import decode as decode_module

SECRET = "TOP-SECRET-PATIENT-LIST"


def _jpeg(value: int | tuple[int, int, int], size: int = 40) -> bytes:
    buf = io.BytesIO()
    mode = "L" if isinstance(value, int) else "RGB"
    Image.new(mode, (size, size), value).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _classes(root: Path, counts=(3, 3), size: int = 40) -> Path:
    for c, n in enumerate(counts):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(n):
            (folder / f"img{i}.jpeg").write_bytes(_jpeg(40 + 60 * c + i, size))
    return root


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside the data folder with a readable image and a text file in it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    (folder / "real.jpeg").write_bytes(_jpeg(200))
    return folder


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """The names of the files that reach the image decoder."""
    names: list[str] = []
    original = decode_module.decode_image

    def spy(source, **kw):
        names.append(str(source))
        return original(source, **kw)

    monkeypatch.setattr(decode_module, "decode_image", spy)
    return names


def test_symlinks_out_of_the_folder_are_refused_unread_and_unquoted(tmp_path, outside, opened):
    root = _classes(tmp_path / "data")
    os.symlink(outside / "secret.txt", root / "class0" / "notes.png")
    os.symlink(outside / "real.jpeg", root / "class1" / "linked.jpeg")
    os.symlink(root / "class0" / "img0.jpeg", root / "class1" / "inside.jpeg")  # stays inside
    with pytest.warns(UserWarning) as record:
        ds = data.load_image_folder(root, 16, 1, cache=False)
    message = " ".join(str(w.message) for w in record)
    assert "class0/notes.png" in message and "class1/linked.jpeg" in message
    assert "outside the data folder" in message and SECRET not in message
    assert not any("elsewhere" in n or "notes.png" in n or "linked" in n for n in opened)
    assert len(ds) == 7 and "class1/inside.jpeg" in ds.files
    assert {f for f, _ in ds.skipped} == {"class0/notes.png", "class1/linked.jpeg"}


def _ham(root: Path, ids: list[str], n_lesions: int = 21) -> Path:
    folder = root / "ham10000"
    (folder / "images").mkdir(parents=True)
    codes = data.INFO["ham10000"]["label_codes"]
    rows = []
    for k in range(n_lesions):
        image_id = f"ISIC_{k:07d}"
        (folder / "images" / f"{image_id}.jpg").write_bytes(_jpeg((30 + 9 * k, 90, 160), 48))
        rows.append(dict(image_id=image_id, lesion_id=f"HAM_{k:07d}", dx=codes[k % 7]))
    for j, image_id in enumerate(ids):
        rows.append(dict(image_id=image_id, lesion_id=f"HAM_X{j}", dx="nv"))
    pd.DataFrame(rows).to_csv(folder / "metadata.csv", index=False)
    return folder


def test_csv_ids_leaving_the_data_folder_are_refused_before_reading(tmp_path, outside, opened):
    absolute = str(outside / "real.jpeg")
    folder = _ham(tmp_path, ["../../elsewhere/real", "../../elsewhere/secret.txt", absolute, "a\0b"])
    with pytest.warns(UserWarning) as record:
        ds = data.load("ham10000", "all", size=32, data_dir=tmp_path, cache=False)
    message = " ".join(str(w.message) for w in record)
    assert SECRET not in message and "refused and not read" in message
    assert len(ds) == 21 and len(ds.skipped) == 4
    assert not any("elsewhere" in n for n in opened)
    assert set(ds.metadata.image_id) == {f"ISIC_{k:07d}" for k in range(21)}
    with pytest.raises(data.ImageReadError, match="outside the data folder"):
        data.load("ham10000", "all", size=32, data_dir=tmp_path, cache=False, on_error="raise")
    assert folder.is_dir()


def test_csv_with_only_a_header_or_missing_ids_is_a_clear_error(tmp_path):
    folder = _ham(tmp_path, [])
    (folder / "metadata.csv").write_text("image_id,lesion_id,dx,dx_type,age,sex,localization\n")
    with pytest.raises(data.EmptyDatasetError, match="has a header but no rows"):
        data.load("ham10000", "train", size=32, data_dir=tmp_path)
    (folder / "metadata.csv").write_text("")
    with pytest.raises(data.CorruptFileError, match="cannot be read as CSV"):
        data.load("ham10000", "train", size=32, data_dir=tmp_path)
    (folder / "metadata.csv").write_text("image_id,lesion_id,dx\nISIC_0000000,,nv\n")
    with pytest.raises(data.CorruptFileError, match=r"lack an image_id or a lesion_id \(lines \[2\]\)"):
        data.load("ham10000", "train", size=32, data_dir=tmp_path)
    (folder / "metadata.csv").write_text("image_id,lesion_id,dx\nISIC_0000000,L1,\n")
    with pytest.raises(data.CorruptFileError, match="unknown dx"):
        data.load("ham10000", "train", size=32, data_dir=tmp_path)
    (folder / "metadata.csv").write_text("image_id,lesion_id,dx\nISIC_0000000,L1,nv\n")
    with pytest.raises(data.EmptyDatasetError, match="split 'val'.*holds no images"):
        data.load("ham10000", "val", size=32, data_dir=tmp_path)


def test_empty_class_folder_is_an_error_not_an_empty_dataset(tmp_path):
    root = _classes(tmp_path / "data")
    (root / "class2").mkdir()
    (root / "class2" / "README.txt").write_text("no images here")
    with pytest.raises(data.EmptyDatasetError, match="class2 holds no image files"):
        data.load_image_folder(root, 16, 1, cache=False)


def test_nothing_readable_is_an_error(tmp_path):
    root = tmp_path / "data"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        (root / c / "x.png").write_text("not an image")
    with pytest.raises(data.EmptyDatasetError, match="none of the 2 file"):
        data.load_image_folder(root, 16, 1, cache=False)


def test_grey_and_colour_mixed_are_converted_and_named(tmp_path):
    root = _classes(tmp_path / "data")
    (root / "class0" / "photo.jpeg").write_bytes(_jpeg((200, 30, 40)))  # a colour picture
    (root / "class1" / "rgb_grey.jpeg").write_bytes(_jpeg((90, 90, 90)))  # grey stored as RGB
    with pytest.warns(UserWarning, match="changed the colour of 1 file") as record:
        grey = data.load_image_folder(root, 16, 1, cache=False)
    message = " ".join(str(w.message) for w in record)
    assert "class0/photo.jpeg" in message and "converted to grey" in message
    assert "rgb_grey" not in message
    assert grey.images.shape == (8, 16, 16, 1)
    with pytest.warns(UserWarning, match="changed the colour of 6 file"):  # the grey JPEGs
        colour = data.load_image_folder(root, 16, 3, cache=False)
    assert colour.images.shape == (8, 16, 16, 3)


def test_far_smaller_images_are_skipped_by_name(tmp_path):
    root = _classes(tmp_path / "data", size=64)
    (root / "class1" / "thumb.jpeg").write_bytes(_jpeg(120, 12))
    with pytest.warns(UserWarning, match="thumb.jpeg") as record:
        ds = data.load_image_folder(root, 32, 1, cache=False)
    assert "far smaller than the requested 32 x 32" in str(record[0].message)
    assert len(ds) == 6 and ds.skipped[0][0] == "class1/thumb.jpeg"


def test_size_above_the_source_resolution_is_refused_before_decoding(tmp_path, opened):
    root = _classes(tmp_path / "data", size=40)
    with pytest.raises(data.ResolutionError, match="40 pixels on their shorter side.*size=64"):
        data.load_image_folder(root, 64, 1)
    assert opened == []
    _ham(tmp_path, [])
    with pytest.raises(data.ResolutionError, match="size <= 48"):
        data.load("ham10000", "train", size=64, data_dir=tmp_path)
    assert len(data.load_image_folder(root, 40, 1, cache=False)) == 6


def test_an_interrupted_decode_leaves_nothing_in_the_cache(tmp_path, monkeypatch):
    root = _classes(tmp_path / "data")
    original = decode_module.decode_file
    calls = {"n": 0}

    def interrupted(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(*args, **kw)

    monkeypatch.setattr(decode_module, "decode_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.load_image_folder(root, 16, 1, name="interrupted")
    cache = config.cache_dir() / "decoded"
    assert not list(cache.glob("interrupted-*")) and not list(cache.glob(".*"))
    monkeypatch.setattr(decode_module, "decode_file", original)
    ds = data.load_image_folder(root, 16, 1, name="interrupted")
    assert len(ds) == 6 and len(list(cache.glob("interrupted-*.npy"))) == 1


def test_a_corrupt_cache_file_is_rebuilt(tmp_path):
    root = _classes(tmp_path / "data")
    first = data.load_image_folder(root, 16, 1, name="rebuilt")
    (stored,) = (config.cache_dir() / "decoded").glob("rebuilt-*.npy")
    stored.write_bytes(stored.read_bytes()[:100])  # truncated
    again = data.load_image_folder(root, 16, 1, name="rebuilt")
    np.testing.assert_array_equal(first.images, again.images)


# ------------------------------------------------------------------------- property-based
_CONTENT = st.sampled_from(["jpeg", "png", "tiny", "text", "empty", "junk", "truncated", "rgb"])


def _content(kind: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if kind == "jpeg":
        return _jpeg(int(rng.integers(0, 256)), 40)
    if kind == "rgb":
        return _jpeg(tuple(int(v) for v in rng.integers(0, 256, 3)), 40)
    if kind == "png":
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (36, 50), dtype=np.uint8)).save(buf, "PNG")
        return buf.getvalue()
    if kind == "tiny":
        return _jpeg(100, 4)
    if kind == "text":
        return b"patient list\n" * 3
    if kind == "junk":
        return rng.bytes(int(rng.integers(1, 300)))
    if kind == "truncated":
        return _jpeg(50, 40)[: int(rng.integers(10, 200))]
    return b""


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(
        st.tuples(st.sampled_from(["a", "b"]), _CONTENT, st.sampled_from([".png", ".jpeg", ".dcm", ".txt"])),
        min_size=0, max_size=8,
    ),
    seed=st.integers(0, 1000),
)
def test_property_any_folder_gives_a_dataset_or_a_data_error(tmp_path_factory, files, seed):
    root = tmp_path_factory.mktemp("folder")
    for c in ("a", "b"):
        (root / c).mkdir()
    for i, (cls, kind, suffix) in enumerate(files):
        (root / cls / f"f{i}{suffix}").write_bytes(_content(kind, seed + i))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = data.load_image_folder(root, 16, 1, cache=bool(seed % 2))
    except data.DataError as exc:
        assert "patient list" not in str(exc)
        return
    listed = [f"{c}/f{i}{s}" for i, (c, _, s) in enumerate(files) if s != ".txt"]
    assert sorted(ds.files + [f for f, _ in ds.skipped]) == sorted(listed)
    assert ds.images.shape[1:] == (16, 16, 1) and ds.images.dtype == np.uint8
    assert all("patient list" not in r for _, r in ds.skipped)
