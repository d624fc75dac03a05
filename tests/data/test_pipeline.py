"""The tf.data pipeline and class weights (imports TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab import data
from xai_lab.data import phantoms


def test_class_weights_balanced():
    weights = data.class_weights([0, 0, 0, 1])
    assert weights == pytest.approx({0: 4 / 6, 1: 2.0})
    assert data.class_weights([0, 2, 2], n_classes=3)[1] == 0.0
    counts = np.array([3, 1])
    assert sum(weights[c] * counts[c] for c in range(2)) == pytest.approx(4)


def test_make_tf_dataset_scaling_batching_and_determinism():
    pytest.importorskip("tensorflow")
    ds = phantoms.make("pneumonia", 50, size=28, seed=0)
    plain = data.make_tf_dataset(ds, batch_size=16, shuffle=False)
    batches = list(plain.as_numpy_iterator())
    assert [len(y) for _, y in batches] == [16, 16, 16, 2]
    x = np.concatenate([b[0] for b in batches])
    assert x.dtype == np.float32 and x.shape == (50, 28, 28, 1)
    np.testing.assert_allclose(x, ds.images / 255.0, atol=1e-6)
    assert np.array_equal(np.concatenate([b[1] for b in batches]), ds.labels)
    shuffled = data.make_tf_dataset(ds, batch_size=50, seed=3)
    first = next(iter(shuffled))[1].numpy()
    assert sorted(first) == sorted(ds.labels) and not np.array_equal(first, ds.labels)
    assert np.array_equal(
        first, next(iter(data.make_tf_dataset(ds, batch_size=50, seed=3)))[1].numpy()
    )


@pytest.mark.parametrize(
    "kind,task", [("xray", "pneumonia"), ("dermoscopy", "skin"), ("fundus", "retina")]
)
def test_augmentation_is_seeded_changes_images_and_keeps_range(kind, task):
    pytest.importorskip("tensorflow")
    ds = phantoms.make(task, 24, size=28, seed=0)
    a = data.make_tf_dataset(ds, batch_size=24, augment=kind, shuffle=False, seed=5)
    x1 = next(iter(a))[0].numpy()
    x2 = next(iter(a))[0].numpy()  # a new epoch: new random draws
    x3 = next(iter(data.make_tf_dataset(ds, batch_size=24, augment=kind, shuffle=False, seed=5)))[
        0
    ].numpy()
    assert x1.shape == ds.images.shape and x1.min() >= 0.0 and x1.max() <= 1.0
    np.testing.assert_array_equal(x1, x3)
    assert not np.array_equal(x1, x2)
    assert np.abs(x1 - ds.images / 255.0).mean() > 0.005  # it did something


def test_xray_augmentation_never_flips_left_right():
    pytest.importorskip("tensorflow")
    # an image whose left half is black and right half white stays so (up to small shifts)
    image = np.zeros((1, 32, 32, 1), np.uint8)
    image[..., 16:, :] = 255
    ds = data.Dataset(
        np.repeat(image, 64, 0),
        np.zeros(64, int),
        phantoms.PHANTOM_INFO["pneumonia"],
        "t",
        "train",
        "test",
    )
    x = next(iter(data.make_tf_dataset(ds, batch_size=64, augment="xray", seed=0)))[0].numpy()
    assert np.all(x[:, :, :8].mean(axis=(1, 2, 3)) < 0.35)
    assert np.all(x[:, :, 24:].mean(axis=(1, 2, 3)) > 0.5)


def test_bad_augment_name():
    pytest.importorskip("tensorflow")
    with pytest.raises(ValueError, match="augment"):
        data.make_tf_dataset(phantoms.make("skin", 7), augment="mri")
