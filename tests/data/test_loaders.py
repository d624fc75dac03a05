"""Loaders on small files written in tmp_path: npz, downloads, image folders, CSV (always run)."""

from __future__ import annotations

import hashlib
import io
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xai_lab import config, data
from xai_lab.data import download as download_module
from xai_lab.data import folders


def _official_npz(
    path: Path, grey: bool = True, with_test: bool = True, size: int = 28
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shape = (size, size) if grey else (size, size, 3)
    arrays = {}
    for split, n in (("train", 12), ("val", 4), ("test", 6)):
        if split == "test" and not with_test:
            continue
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, 1), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def test_official_file_with_all_splits_loads_test(tmp_path):
    arrays = _official_npz(tmp_path / "medmnist" / "pneumoniamnist.npz")
    for split in ("train", "val", "test"):
        ds = data.load("pneumoniamnist", split, data_dir=tmp_path)
        assert ds.images.shape == (len(arrays[f"{split}_labels"]), 28, 28, 1)
        assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64 and ds.labels.ndim == 1
        np.testing.assert_array_equal(ds.images[..., 0], arrays[f"{split}_images"])
        np.testing.assert_array_equal(ds.labels, arrays[f"{split}_labels"][:, 0])
        assert ds.origin == "data_dir" and ds.split == split


def test_file_directly_in_data_dir_and_other_sizes(tmp_path):
    _official_npz(tmp_path / "pneumoniamnist_64.npz", size=64)
    ds = data.load("pneumoniamnist", "val", size=64, data_dir=tmp_path)
    assert len(ds) == 4 and ds.images.shape[1:] == (64, 64, 1)
    with pytest.raises(ValueError, match="sizes"):
        data.load("pneumoniamnist", "val", size=32, data_dir=tmp_path)


def test_missing_split_names_split_and_file(tmp_path):
    _official_npz(tmp_path / "medmnist" / "pneumoniamnist.npz", with_test=False)
    with pytest.raises(data.SplitNotFoundError) as err:
        data.load("pneumoniamnist", "test", data_dir=tmp_path)
    assert "'test'" in str(err.value) and "pneumoniamnist.npz" in str(err.value)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", "truncated"])
def test_corrupt_npz_gives_a_clear_error(tmp_path, content):
    path = tmp_path / "medmnist" / "pneumoniamnist.npz"
    _official_npz(path)
    if content == "truncated":
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(data.CorruptFileError) as err:
        data.load("pneumoniamnist", "train", data_dir=tmp_path)
    assert "pneumoniamnist.npz" in str(err.value) and "download it again" in str(err.value)


def test_not_found_offline_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.delenv("XAI_LAB_DATA_DIR", raising=False)
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("retinamnist", "train")
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "retinamnist.npz" in message and "XAI_LAB_DATA_DIR (not set)" in message
    assert str(config.cache_dir() / "medmnist" / "retinamnist.npz") in message
    assert data.INFO["retinamnist"]["files"][28]["url"] in message
    assert err.value.searched and err.value.url


def _file_url(path: Path) -> str:
    return path.resolve().as_uri()


def _point_info_at(monkeypatch, name: str, path: Path, md5: str) -> None:
    entry = dict(data.INFO[name]["files"][28], url=_file_url(path), md5=md5)
    files = {**data.INFO[name]["files"], 28: entry}
    monkeypatch.setitem(data.INFO[name], "files", files)


def test_download_into_cache_with_md5_check(tmp_path, monkeypatch):
    source = tmp_path / "remote" / "src.npz"
    _official_npz(source)
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    monkeypatch.setenv("XAI_LAB_CACHE_DIR", str(cache))
    monkeypatch.delenv("XAI_LAB_OFFLINE")
    monkeypatch.delenv("XAI_LAB_DATA_DIR", raising=False)
    _point_info_at(monkeypatch, "pneumoniamnist", source, md5)
    ds = data.load("pneumoniamnist", "test")
    assert ds.origin == "download" and len(ds) == 6
    assert (cache / "medmnist" / "pneumoniamnist.npz").read_bytes() == source.read_bytes()
    again = data.load("pneumoniamnist", "val")
    assert again.origin == "cache"
    assert sorted(p.name for p in (cache / "medmnist").iterdir()) == ["pneumoniamnist.npz"]


def test_wrong_md5_leaves_nothing_behind(tmp_path, monkeypatch):
    source = tmp_path / "src.npz"
    _official_npz(source)
    cache = tmp_path / "cache"
    monkeypatch.setenv("XAI_LAB_CACHE_DIR", str(cache))
    monkeypatch.delenv("XAI_LAB_OFFLINE")
    monkeypatch.delenv("XAI_LAB_DATA_DIR", raising=False)
    _point_info_at(monkeypatch, "pneumoniamnist", source, "0" * 32)
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("pneumoniamnist", "train")
    assert "checksum mismatch" in str(err.value)
    assert list((cache / "medmnist").iterdir()) == []


def test_network_error_leaves_nothing_behind(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("XAI_LAB_CACHE_DIR", str(cache))
    monkeypatch.delenv("XAI_LAB_OFFLINE")
    monkeypatch.delenv("XAI_LAB_DATA_DIR", raising=False)
    _point_info_at(monkeypatch, "retinamnist", tmp_path / "does-not-exist.npz", "0" * 32)
    with pytest.raises(data.DatasetNotFoundError, match="download failed"):
        data.load("retinamnist", "train")
    assert not any((cache / "medmnist").iterdir())


class _Response(io.BytesIO):
    """A fake HTTP response that fails after some bytes."""

    def __init__(self, payload: bytes, fail_with: BaseException):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload) * 2)}
        self.fail_with = fail_with

    def read(self, size: int = -1) -> bytes:
        block = super().read(size)
        if not block:
            raise self.fail_with
        return block


@pytest.mark.parametrize("error", [KeyboardInterrupt(), ConnectionResetError("connection reset")])
def test_interrupted_download_leaves_no_partial_file(tmp_path, error):
    dest = tmp_path / "cache" / "medmnist" / "x.npz"
    opener = lambda url, timeout: _Response(b"x" * 200_000, error)  # noqa: E731
    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else data.DownloadError
    with pytest.raises(expected):
        download_module.download_file(
            "https://example.invalid/x.npz", dest, "0" * 32, opener=opener, progress=True
        )
    assert list(dest.parent.iterdir()) == []


def test_download_file_with_urlopen_and_file_url(tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"abc" * 1000)
    dest = tmp_path / "out" / "a.bin"
    download_module.download_file(
        _file_url(src),
        dest,
        hashlib.md5(src.read_bytes()).hexdigest(),
        opener=urllib.request.urlopen,
        progress=False,
    )
    assert dest.read_bytes() == src.read_bytes()
    assert download_module.md5sum(dest) == hashlib.md5(src.read_bytes()).hexdigest()


def test_download_false_does_not_download(tmp_path, monkeypatch):
    monkeypatch.delenv("XAI_LAB_OFFLINE")
    monkeypatch.delenv("XAI_LAB_DATA_DIR", raising=False)
    with pytest.raises(data.DatasetNotFoundError, match="download=False"):
        data.load("dermamnist", "train", download=False)


def test_load_best_falls_back_to_phantoms(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_LAB_DATA_DIR", str(tmp_path / "empty"))
    for name, task, k in (
        ("pneumoniamnist", "binary", 2),
        ("dermamnist", "multiclass", 7),
        ("retinamnist", "ordinal", 5),
    ):
        ds, text = data.load_best(name, "val", phantom_n=40)
        assert ds.origin == "phantom" and ds.task == task and ds.n_classes == k
        assert ds.split == "val" and len(ds) == 40 and ds.masks is not None
        assert text.startswith("phantom fallback") and "\n" not in text and "OFFLINE" in text
    train, _ = data.load_best("pneumoniamnist", "train", phantom_n=40)
    val, _ = data.load_best("pneumoniamnist", "val", phantom_n=40)
    assert not np.array_equal(train.images, val.images)  # different seeds per split


def test_load_best_uses_data_dir(tmp_path, monkeypatch):
    _official_npz(tmp_path / "medmnist" / "pneumoniamnist.npz")
    monkeypatch.setenv("XAI_LAB_DATA_DIR", str(tmp_path))
    ds, text = data.load_best("pneumoniamnist", "test")
    assert len(ds) == 6 and "XAI_LAB_DATA_DIR" in text and str(tmp_path) in text
    monkeypatch.delenv("XAI_LAB_DATA_DIR")
    ds, text = data.load_best("pneumoniamnist", "val", data_dir=tmp_path)
    assert len(ds) == 4 and "data folder given" in text
    ds, text = data.load_best("pneumoniamnist", "val", data_dir=tmp_path / "nothing", phantom_n=10)
    assert ds.origin == "phantom" and len(ds) == 10


def test_unknown_dataset():
    with pytest.raises(KeyError, match="known datasets"):
        data.load("mnist", "train")


# ------------------------------------------------------------------ image folders and CSV
def _jpeg(value: int, size: int = 40) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _make_chest_folder(root: Path, bad: bool = True) -> Path:
    split = root / "chest_xray" / "train"
    for cls, values in (("NORMAL", (40, 60, 80)), ("PNEUMONIA", (150, 170, 190, 210))):
        (split / cls).mkdir(parents=True)
        for i, v in enumerate(values):
            (split / cls / f"img{i}.jpeg").write_bytes(_jpeg(v))
    if bad:
        good = _jpeg(100)
        (split / "PNEUMONIA" / "truncated.jpeg").write_bytes(good[: len(good) // 2])
        (split / "NORMAL" / "notes.png").write_text("this is a text file renamed to .png\n")
    (split / "NORMAL" / "README.txt").write_text("ignored: not an image extension")
    return split


def _folder(root: Path, **options):
    """The class-folder loader on the chest_xray-like folder (all files, no patient split)."""
    return data.load_image_folder(
        root / "chest_xray" / "train", 16, 1, class_names=("NORMAL", "PNEUMONIA"),
        name="chest_xray", **options,
    )


def test_image_folder_skips_bad_files_by_name(tmp_path):
    _make_chest_folder(tmp_path)
    with pytest.warns(UserWarning) as record:
        ds = _folder(tmp_path)
    message = " ".join(str(w.message) for w in record)
    assert "truncated.jpeg" in message and "notes.png" in message
    assert "not an image" in message and "truncated" in message
    assert ds.images.shape == (7, 16, 16, 1) and ds.class_counts.tolist() == [3, 4]
    assert sorted(ds.files)[0] == "NORMAL/img0.jpeg"
    # decoded values follow the files' grey levels (no channel or label mix-up)
    means = {f: float(im.mean()) for f, im in zip(ds.files, ds.images, strict=True)}
    assert abs(means["NORMAL/img0.jpeg"] - 40) < 3 and abs(means["PNEUMONIA/img3.jpeg"] - 210) < 3


def test_image_folder_raise_mode_names_every_bad_file(tmp_path):
    _make_chest_folder(tmp_path)
    with pytest.raises(data.ImageReadError) as err:
        _folder(tmp_path, on_error="raise", cache=False)
    assert "truncated.jpeg" in str(err.value) and "notes.png" in str(err.value)
    assert "2 file(s)" in str(err.value)


def test_image_folder_cache_and_subset(tmp_path):
    split = _make_chest_folder(tmp_path, bad=False)
    first = _folder(tmp_path)
    cached = list((config.cache_dir() / "decoded").glob("chest_xray-*.npy"))
    assert cached and all(p.with_suffix(".json").is_file() for p in cached)
    second = _folder(tmp_path)
    np.testing.assert_array_equal(first.images, second.images)
    # a changed file invalidates the cache
    (split / "NORMAL" / "img0.jpeg").write_bytes(_jpeg(250))
    third = _folder(tmp_path)
    assert third.images[0].mean() > 240
    sub = _folder(tmp_path, per_class=2)
    assert sub.class_counts.tolist() == [2, 2]
    assert len(_folder(tmp_path, limit=3)) == 3
    # the dataset loader reads the same folder through its patient split
    train = data.load("chest_xray", "train", size=16, data_dir=tmp_path)
    val = data.load("chest_xray", "val", size=16, data_dir=tmp_path)
    assert sorted(train.files + val.files) == sorted(first.files)
    assert not list((config.cache_dir() / "decoded").glob(".*.part"))


def _make_kermany_names(root: Path) -> Path:
    """A training folder named like Kermany's: several images per patient, both collections."""
    split = root / "chest_xray" / "train"
    names = {
        "NORMAL": [f"IM-{p:04d}-000{k}.jpeg" for p in range(1, 9) for k in (1, 2)]
        + [f"NORMAL2-IM-{p:04d}-0001-000{k}.jpeg" for p in range(1, 5) for k in (1, 2)],
        "PNEUMONIA": [f"person{p}_bacteria_{10 * p + k}.jpeg" for p in range(1, 13) for k in (1, 2)]
        + [f"person{p}_virus_{10 * p + 5}.jpeg" for p in range(1, 13)],
    }
    for cls, files in names.items():
        (split / cls).mkdir(parents=True)
        for i, f in enumerate(files):
            (split / cls / f).write_bytes(_jpeg(30 + 7 * i % 200))
    return split


@pytest.mark.parametrize(
    ("name", "patient"),
    [
        ("person1234_bacteria_5678.jpeg", "person1234"),
        ("person1_virus_6.jpeg", "person1"),
        ("person1003_virus_2_1.jpeg", "person1003"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("IM-0429-0001-0002.jpeg", "IM-0429"),
        ("NORMAL2-IM-0383-0001.jpeg", "NORMAL2-IM-0383"),
        ("NORMAL2-IM-0395-0001-0002.jpeg", "NORMAL2-IM-0395"),
        ("scan.png", "scan"),
    ],
)
def test_chest_xray_patient_ids(name, patient):
    assert data.chest_xray_patient(f"PNEUMONIA/{name}") == patient


def test_chest_xray_train_val_grouped_by_patient_and_stable(tmp_path):
    _make_kermany_names(tmp_path)
    train = data.load("chest_xray", "train", size=16, data_dir=tmp_path, cache=False)
    val = data.load("chest_xray", "val", size=16, data_dir=tmp_path, cache=False)
    patients = [{data.chest_xray_patient(f) for f in ds.files} for ds in (train, val)]
    assert not patients[0] & patients[1]
    assert len(train) + len(val) == 16 + 8 + 24 + 12
    assert val.class_counts.min() >= 1 and train.class_counts.min() >= 1  # stratified
    again = data.load("chest_xray", "val", size=16, data_dir=tmp_path, cache=False)
    assert again.files == val.files
    # the default size is the dataset's (128 px for chest_xray): above these 40 px images
    with pytest.raises(data.ResolutionError, match="size=128"):
        data.load("chest_xray", "val", data_dir=tmp_path, cache=False)
    with pytest.raises(data.SplitNotFoundError, match="'train' or 'val'"):
        data.load("chest_xray", "all", data_dir=tmp_path)


def test_chest_xray_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("chest_xray", "test", data_dir=tmp_path)
    assert "chest_xray/test" in str(err.value) and "XAI_LAB_DATA_DIR" in str(err.value)
    assert "kaggle" in str(err.value).lower()


def test_generic_image_folder_rgb(tmp_path):
    for cls, colour in (("a", (255, 0, 0)), ("b", (0, 0, 255))):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (20, 30), colour).save(tmp_path / cls / "x.png")
    ds = data.load_image_folder(tmp_path, size=12, channels=3, cache=False)
    assert ds.images.shape == (2, 12, 12, 3) and ds.label_names == ["a", "b"]
    assert ds.images[0, ..., 0].min() == 255 and ds.images[1, ..., 2].min() == 255


def _make_ham(root: Path, n_lesions: int = 40) -> Path:
    import pandas as pd

    folder = root / "ham10000"
    (folder / "images").mkdir(parents=True)
    rows = []
    codes = data.INFO["ham10000"]["label_codes"]
    rng = np.random.default_rng(0)
    k = 0
    for lesion in range(n_lesions):
        dx = codes[lesion % 7]
        for _ in range(1 + lesion % 3):  # 1-3 images per lesion
            image_id = f"ISIC_{k:07d}"
            Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
                folder / "images" / f"{image_id}.jpg"
            )
            rows.append(
                dict(
                    image_id=image_id,
                    lesion_id=f"HAM_{lesion:07d}",
                    dx=dx,
                    dx_type="histo",
                    age=50.0,
                    sex="male",
                    localization="back",
                )
            )
            k += 1
    pd.DataFrame(rows).to_csv(folder / "metadata.csv", index=False)
    return folder


def test_ham10000_csv_loader_grouped_and_named_skips(tmp_path):
    import pandas as pd

    folder = _make_ham(tmp_path)
    (folder / "images" / "ISIC_0000003.jpg").write_text("not a jpeg")
    with pytest.warns(UserWarning, match="ISIC_0000003"):
        every = data.load("ham10000", "all", size=16, data_dir=tmp_path, cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the bad file is in one of the two splits
        train = data.load("ham10000", "train", size=16, data_dir=tmp_path, cache=False)
        val = data.load("ham10000", "val", size=16, data_dir=tmp_path, cache=False)
    assert len(every) == len(pd.read_csv(folder / "metadata.csv")) - 1  # one unreadable file
    assert not set(train.metadata.lesion_id) & set(val.metadata.lesion_id)
    assert {"age", "sex", "localization", "dx_type"} <= set(val.metadata.columns)
    assert train.images.shape[1:] == (16, 16, 3) and len(train.metadata) == len(train)
    test = data.load("ham10000", "test", size=16, data_dir=tmp_path, cache=False)
    assert not set(test.metadata.lesion_id) & (set(train.metadata.lesion_id) | set(val.metadata.lesion_id))
    with pytest.raises(data.SplitNotFoundError, match="'holdout'"):
        data.load("ham10000", "holdout", data_dir=tmp_path)
    with pytest.raises(data.ImageReadError, match="ISIC_0000003"):
        data.load("ham10000", "all", size=16, data_dir=tmp_path, cache=False, on_error="raise")


def test_info_table_matches_medmnist_facts():
    info = data.INFO
    assert set(info) == {"pneumoniamnist", "dermamnist", "retinamnist", "chest_xray", "ham10000"}
    assert info["pneumoniamnist"]["files"][28]["md5"] == "28209eda62fecd6e6a2d98b1501bb15f"
    assert info["retinamnist"]["files"][224]["url"].endswith("retinamnist_224.npz?download=1")
    for name in ("pneumoniamnist", "dermamnist", "retinamnist"):
        assert sorted(info[name]["files"]) == [28, 64, 128, 224]
        assert all(len(f["md5"]) == 32 for f in info[name]["files"].values())
    assert [info[n]["task"] for n in ("pneumoniamnist", "dermamnist", "retinamnist")] == [
        "binary",
        "multiclass",
        "ordinal",
    ]
    assert info["ham10000"]["label_codes"] == ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    assert folders.IMAGE_SUFFIXES


# ------------------------------------------------------- MedMNIST+ sizes on demand (HTTP)
@pytest.fixture
def http_folder(tmp_path):
    """A local HTTP server over a folder: (folder, base URL)."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _serve(monkeypatch, name: str, size: int, url: str, md5: str) -> None:
    entry = dict(data.INFO[name]["files"][size], url=url, md5=md5)
    monkeypatch.setitem(data.INFO[name], "files", {**data.INFO[name]["files"], size: entry})


@pytest.mark.parametrize("name", ["pneumoniamnist", "dermamnist", "retinamnist"])
def test_medmnist_plus_size_downloads_over_http_and_is_cached(tmp_path, monkeypatch, http_folder, name):
    folder, base = http_folder
    grey = data.INFO[name]["n_channels"] == 1
    arrays = _official_npz(folder / f"{name}_128.npz", grey=grey, size=128)
    payload = (folder / f"{name}_128.npz").read_bytes()
    cache = tmp_path / "cache"
    monkeypatch.setenv("XAI_LAB_CACHE_DIR", str(cache))
    monkeypatch.delenv("XAI_LAB_OFFLINE")
    monkeypatch.delenv("XAI_LAB_DATA_DIR", raising=False)
    _serve(monkeypatch, name, 128, f"{base}/{name}_128.npz", hashlib.md5(payload).hexdigest())
    ds = data.load(name, "val", size=128)
    assert ds.origin == "download" and ds.images.shape == (4, 128, 128, 1 if grey else 3)
    np.testing.assert_array_equal(ds.images.reshape(arrays["val_images"].shape), arrays["val_images"])
    stored = cache / "medmnist" / f"{name}_128.npz"
    assert stored.read_bytes() == payload
    assert [p.name for p in stored.parent.iterdir()] == [stored.name]  # renamed into place
    (folder / f"{name}_128.npz").unlink()  # the next load must not need the network
    assert data.load(name, "train", size=128).origin == "cache"


def test_medmnist_plus_bad_checksum_over_http_keeps_nothing(tmp_path, monkeypatch, http_folder):
    folder, base = http_folder
    _official_npz(folder / "pneumoniamnist_64.npz", size=64)
    cache = tmp_path / "cache"
    monkeypatch.setenv("XAI_LAB_CACHE_DIR", str(cache))
    monkeypatch.delenv("XAI_LAB_OFFLINE")
    monkeypatch.delenv("XAI_LAB_DATA_DIR", raising=False)
    _serve(monkeypatch, "pneumoniamnist", 64, f"{base}/pneumoniamnist_64.npz", "f" * 32)
    with pytest.raises(data.DatasetNotFoundError, match="checksum mismatch") as err:
        data.load("pneumoniamnist", "train", size=64)
    assert err.value.not_downloaded.startswith("the download failed")
    assert not list((cache / "medmnist").iterdir())
    _serve(monkeypatch, "pneumoniamnist", 64, f"{base}/missing.npz", "f" * 32)
    with pytest.raises(data.DatasetNotFoundError, match="404"):
        data.load("pneumoniamnist", "train", size=64)
    assert not list((cache / "medmnist").iterdir())


@pytest.mark.parametrize("size", [64, 128, 224])
def test_medmnist_plus_offline_names_the_file_and_where_to_put_it(tmp_path, monkeypatch, size):
    monkeypatch.delenv("XAI_LAB_DATA_DIR", raising=False)
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("dermamnist", "train", size=size)
    message = str(err.value)
    filename = f"dermamnist_{size}.npz"
    assert filename in message and f"<folder>/medmnist/{filename}" in message
    assert "XAI_LAB_DATA_DIR=<folder>" in message and data.INFO["dermamnist"]["files"][size]["md5"] in message
    assert err.value.filename == filename and err.value.not_downloaded == "XAI_LAB_OFFLINE is set"
    ds, text = data.load_best("dermamnist", "val", size=size, phantom_n=8)
    assert ds.origin == "phantom" and ds.images.shape[1:] == (size, size, 3)
    assert filename in text and "XAI_LAB_OFFLINE is set" in text and "\n" not in text
