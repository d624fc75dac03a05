"""Tests on the shared real data (skip with a reason when XAI_LAB_DATA_DIR is not set)."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab import data
from xai_lab.data import chest_xray_split, ham10000_split, list_image_folder


def test_pneumoniamnist_train_and_val(real_data_dir):
    train = data.load("pneumoniamnist", "train", data_dir=real_data_dir)
    assert train.images.shape == (4708, 28, 28, 1)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert train.labels.shape == (4708,)
    assert train.class_counts.tolist() == [1214, 3494]
    assert train.task == "binary" and train.label_names == ["normal", "pneumonia"]
    val = data.load("pneumoniamnist", "val", data_dir=real_data_dir)
    assert len(val) == 524


def test_env_var_is_used_without_data_dir(real_data_dir):
    ds = data.load("pneumoniamnist", "val")
    assert ds.origin == "XAI_LAB_DATA_DIR" and ds.source.startswith(str(real_data_dir))


def test_retinamnist_and_dermamnist(real_data_dir):
    r_train = data.load("retinamnist", "train", data_dir=real_data_dir)
    r_val = data.load("retinamnist", "val", data_dir=real_data_dir)
    assert (len(r_train), len(r_val)) == (1080, 120)
    assert r_train.images.shape[1:] == (28, 28, 3) and r_train.task == "ordinal"
    assert r_train.n_classes == 5
    d_train = data.load("dermamnist", "train", data_dir=real_data_dir)
    d_val = data.load("dermamnist", "val", data_dir=real_data_dir)
    assert (len(d_train), len(d_val)) == (7007, 1003)
    assert d_train.images.shape[1:] == (28, 28, 3) and d_train.n_classes == 7


def test_missing_test_split_names_split_and_file(real_data_dir):
    with pytest.raises(data.SplitNotFoundError) as err:
        data.load("pneumoniamnist", "test", data_dir=real_data_dir)
    message = str(err.value)
    assert "'test'" in message and "pneumoniamnist.npz" in message
    assert "train" in message and "val" in message  # says which splits the file holds


def test_missing_size_offline_says_where_it_looked(real_data_dir):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("pneumoniamnist", "train", size=64, data_dir=real_data_dir)
    message = str(err.value)
    assert "pneumoniamnist_64.npz" in message
    assert str(real_data_dir) in message and "XAI_LAB_DATA_DIR" in message
    assert "zenodo.org" in message and "XAI_LAB_OFFLINE" in message


def test_load_best_reports_the_source(real_data_dir):
    ds, text = data.load_best("pneumoniamnist", "val")
    assert len(ds) == 524 and "XAI_LAB_DATA_DIR" in text and "\n" not in text


def test_chest_xray_folder_counts_and_subset(real_data_dir):
    root = real_data_dir / "chest_xray" / "train"
    paths, labels, classes = list_image_folder(root, ("NORMAL", "PNEUMONIA"))
    assert classes == ["NORMAL", "PNEUMONIA"]
    assert np.bincount(labels).tolist() == [1341, 3875]
    ds = data.load("chest_xray", "val", size=32, data_dir=real_data_dir, per_class=40)
    assert ds.images.shape == (80, 32, 32, 1) and ds.images.dtype == np.uint8
    assert ds.class_counts.tolist() == [40, 40]
    assert ds.images.std() > 10  # real radiographs, not blanks
    assert all(f.split("/")[0] in ("NORMAL", "PNEUMONIA") for f in ds.files)


def test_chest_xray_patient_split_of_the_training_folder(real_data_dir):
    root = real_data_dir / "chest_xray" / "train"
    paths, labels, _ = list_image_folder(root, ("NORMAL", "PNEUMONIA"))
    train, val = (chest_xray_split(paths, labels, s) for s in ("train", "val"))
    assert len(train) + len(val) == len(paths) == 5216
    assert 0.09 < len(val) / len(paths) < 0.11
    patients = [{data.chest_xray_patient(str(paths[i])) for i in part} for part in (train, val)]
    assert not patients[0] & patients[1]
    for c in (0, 1):  # stratified
        share = (labels[val] == c).sum() / (labels == c).sum()
        assert 0.08 < share < 0.12


def test_ham10000_grouped_split_keeps_lesions_on_one_side(real_data_dir):
    import pandas as pd

    meta = pd.read_csv(real_data_dir / "ham10000" / "metadata.csv")
    parts = ham10000_split(meta)
    sides = [set(meta.lesion_id.iloc[parts[s]]) for s in ("train", "val", "test")]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert sum(len(parts[s]) for s in ("train", "val", "test")) == len(meta) == 5984
    for side in ("val", "test"):
        assert 0.13 < len(parts[side]) / len(meta) < 0.17
        # stratified: every class on each side in about the same proportion
        for code in meta.dx.unique():
            share = (meta.dx.iloc[parts[side]] == code).sum() / (meta.dx == code).sum()
            assert 0.08 < share < 0.22, (side, code)
    # a copy with fewer lesions keeps almost every lesion on its side
    sub = meta.sample(frac=0.7, random_state=1).reset_index(drop=True)
    again = ham10000_split(sub)
    side_of = {lesion: s for s in ("train", "val", "test") for lesion in meta.lesion_id.iloc[parts[s]]}
    moved = sum(side_of[lesion] != s for s in ("train", "val", "test") for lesion in sub.lesion_id.iloc[again[s]])
    assert moved < 0.02 * len(sub)


def test_ham10000_loader_keeps_clinical_columns(real_data_dir):
    ds = data.load("ham10000", "val", size=32, data_dir=real_data_dir, per_class=3)
    assert ds.images.shape == (21, 32, 32, 3)
    assert {"lesion_id", "dx", "age", "sex", "localization"} <= set(ds.metadata.columns)
    assert len(ds.metadata) == len(ds)
    codes = data.INFO["ham10000"]["label_codes"]
    assert [codes[i] for i in ds.labels] == ds.metadata.dx.tolist()
    train_lesions = set(
        data.load(
            "ham10000", "train", size=16, data_dir=real_data_dir, per_class=30
        ).metadata.lesion_id
    )
    assert not train_lesions & set(ds.metadata.lesion_id)


def test_duplicate_finder_reports_pneumoniamnist_train_val_overlaps(real_data_dir):
    train = data.load("pneumoniamnist", "train", data_dir=real_data_dir)
    val = data.load("pneumoniamnist", "val", data_dir=real_data_dir)
    report = data.find_duplicates(train.images, val.images)
    # measured: 8 validation images have pixel-identical copies in train (10 pairs)
    assert report.n_exact == 10 and len(report.affected(1)) == 8
    for i, j in report.exact_pairs:
        assert np.array_equal(train.images[i], val.images[j])
    # no false near duplicates: anything reported is visually the same image
    assert np.all(report.mean_abs_diff < 3.0)
    assert "10 exact" in report.summary()


def test_sizes_above_the_shared_copies_are_refused(real_data_dir):
    with pytest.raises(data.ResolutionError, match="224 pixels.*size=256"):
        data.load("chest_xray", "val", size=256, data_dir=real_data_dir)
    with pytest.raises(data.ResolutionError, match="128 pixels.*size=256"):
        data.load("ham10000", "val", size=256, data_dir=real_data_dir)


def test_no_false_colour_or_skip_warnings_on_the_shared_copies(real_data_dir):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a skipped or colour-converted file would raise here
        grey = data.load("chest_xray", "val", size=64, data_dir=real_data_dir, per_class=60)
        colour = data.load("ham10000", "val", size=64, data_dir=real_data_dir)
    assert grey.skipped == [] and colour.skipped == [] and len(colour) == 897
