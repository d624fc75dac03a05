"""Splits and duplicate finding on synthetic data (always run)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from xai_lab import data
from xai_lab.data import hygiene, phantoms


def test_stratified_split_keeps_proportions_and_is_deterministic():
    labels = np.array([0] * 80 + [1] * 20)
    train, val = data.stratified_split(labels, 0.25, seed=1)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 100
    assert np.bincount(labels[val]).tolist() == [20, 5]
    again = data.stratified_split(labels, 0.25, seed=1)
    assert np.array_equal(val, again[1])
    assert not np.array_equal(val, data.stratified_split(labels, 0.25, seed=2)[1])
    with pytest.raises(ValueError):
        data.stratified_split(labels, 1.5)


def test_grouped_split_never_splits_a_group():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(300), rng.integers(1, 5, 300))
    group_label = rng.integers(0, 4, 300)
    labels = group_label[groups]
    train, val = data.grouped_split(labels, groups, 0.2, seed=0)
    assert not set(groups[train]) & set(groups[val])
    assert len(train) + len(val) == len(labels)
    assert 0.17 < len(val) / len(labels) < 0.23
    for c in range(4):
        assert 0.12 < (labels[val] == c).sum() / (labels == c).sum() < 0.28
    assert np.array_equal(val, data.grouped_split(labels, groups, 0.2, seed=0)[1])


def test_grouped_split_single_group_class_stays_in_train():
    labels = np.array([0, 0, 0, 0, 1, 1])
    groups = np.array(["a", "b", "c", "d", "e", "e"])
    train, val = data.grouped_split(labels, groups, 0.5)
    assert set(labels[train]) == {0, 1} and 4 in train and 5 in train


def _jpeg_roundtrip(images: np.ndarray, quality: int = 75) -> np.ndarray:
    out = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).save(buf, "JPEG", quality=quality)
        arr = np.asarray(Image.open(buf))
        out.append(arr[..., None] if arr.ndim == 2 else arr)
    return np.stack(out)


def test_find_duplicates_exact_and_near_across_sets():
    a = phantoms.make("pneumonia", 60, size=28, seed=0).images
    b = phantoms.make("pneumonia", 30, size=28, seed=1).images.copy()
    b[3] = a[10]  # exact copy
    b[7] = _jpeg_roundtrip(a[20:21])[0]  # re-encoded copy
    b[9] = np.clip(a[30].astype(int) + 12, 0, 255).astype(np.uint8)  # brightened copy
    report = data.find_duplicates(a, b)
    assert report.across and report.sizes == (60, 30)
    assert report.exact_pairs.tolist() == [[10, 3]]
    assert sorted(map(tuple, report.near_pairs.tolist())) == [(20, 7), (30, 9)]
    assert report.affected(1).tolist() == [3, 7, 9]
    assert "1 exact and 2 near" in report.summary()
    exact_only = data.find_duplicates(a, b, max_distance=-1)
    assert exact_only.n_exact == 1 and exact_only.n_near == 0


def test_find_duplicates_within_one_set_and_colour():
    skin = phantoms.make("skin", 40, size=28, seed=0).images.copy()
    skin[25] = skin[5]
    # synthetic flat-coloured phantoms suffer more from JPEG at 28 px than real images do
    skin[30] = _jpeg_roundtrip(skin[12:13], quality=95)[0]
    report = data.find_duplicates(skin)
    assert not report.across
    assert report.exact_pairs.tolist() == [[5, 25]]
    assert [12, 30] in report.near_pairs.tolist()
    assert np.all(report.pairs[:, 0] < report.pairs[:, 1])
    overlaps = data.split_overlaps({"train": skin[:20], "val": skin[20:]})
    assert set(overlaps) == {"train", "val", "train/val"}
    assert overlaps["train/val"].exact_pairs.tolist() == [[5, 5]]


def test_distinct_images_are_not_duplicates():
    ds = phantoms.make("retina", 50, size=28, seed=0)
    report = data.find_duplicates(ds.images)
    assert report.n_exact == 0
    assert np.all(report.mean_abs_diff[~report.exact] < 20)


def test_hashes():
    x = phantoms.make("skin", 5, size=28, seed=0).images
    assert hygiene.dhash(x).dtype == np.uint64 and hygiene.phash(x).shape == (5,)
    d = hygiene.hamming(hygiene.dhash(x), hygiene.dhash(x))
    assert np.all(np.diag(d) == 0)
    bright = np.clip(x.astype(int) + 20, 0, 255).astype(np.uint8)
    assert np.all(hygiene._popcount(hygiene.phash(x) ^ hygiene.phash(bright)) <= 4)


def test_import_does_not_load_tensorflow():
    code = "import sys, xai_lab.data; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_grouped_splits_three_way_grouped_stratified_and_stable():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(300), rng.integers(1, 4, 300))
    labels = (groups % 5 == 0).astype(int)  # one label per group, 20 % positive groups
    parts = data.grouped_splits(labels, groups, {"val": 0.15, "test": 0.15}, seed=0)
    assert set(parts) == {"train", "val", "test"}
    sides = [set(groups[parts[s]]) for s in ("train", "val", "test")]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert sum(len(p) for p in parts.values()) == len(labels)
    for s in ("val", "test"):
        for c in (0, 1):
            share = (labels[parts[s]] == c).sum() / (labels == c).sum()
            assert 0.1 < share < 0.2, (s, c)
    again = data.grouped_splits(labels, groups, {"val": 0.15, "test": 0.15}, seed=0)
    assert all(np.array_equal(parts[s], again[s]) for s in parts)
    other = data.grouped_splits(labels, groups, {"val": 0.15, "test": 0.15}, seed=1)
    assert not np.array_equal(parts["val"], other["val"])


def test_grouped_splits_refuses_fractions_that_leave_no_training_data():
    with pytest.raises(ValueError, match="add up"):
        data.grouped_splits([0, 1, 0, 1], [1, 2, 3, 4], {"val": 0.5, "test": 0.5})
    with pytest.raises(ValueError, match="implied"):
        data.grouped_splits([0, 1], [1, 2], {"train": 0.5})


def test_grouped_splits_of_nothing_is_empty_not_an_argmax_error():
    parts = data.grouped_splits([], [], {"val": 0.15, "test": 0.15})
    assert {k: len(v) for k, v in parts.items()} == {"train": 0, "val": 0, "test": 0}
    train, val = data.grouped_split([], [], 0.2)
    assert len(train) == len(val) == 0
