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


# ----------------------------------------------------------------- streaming from disk
def _epoch(pipe) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*pipe.as_numpy_iterator(), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_memory_mapped_images_are_streamed_once_per_epoch_with_their_labels(tmp_path):
    pytest.importorskip("tensorflow")
    from xai_lab.data import pipeline, store

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (45, 12, 12, 1), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(45)  # an id in each image
    labels = np.arange(45) % 3
    np.save(tmp_path / "x.npy", images)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="c")
    assert store.is_file_backed(mapped) and pipeline.streams(mapped)
    assert not pipeline.streams(images)
    pipe = data.make_tf_dataset(mapped, batch_size=8, labels=labels, seed=5)
    orders = []
    for _ in range(2):
        x, y = _epoch(pipe)
        ids = np.rint(x[:, 0, 0, 0] * 255).astype(int)
        assert sorted(ids) == list(range(45))  # every image once
        np.testing.assert_array_equal(y, labels[ids])  # with its own label
        np.testing.assert_allclose(x, images[ids] / 255.0, atol=1e-6)
        orders.append(ids)
    assert not np.array_equal(orders[0], orders[1])  # reshuffled every epoch
    again, _ = _epoch(data.make_tf_dataset(mapped, batch_size=8, labels=labels, seed=5))
    np.testing.assert_array_equal(np.rint(again[:, 0, 0, 0] * 255).astype(int), orders[0])
    # augmentation and an explicit choice of way work on both ways
    x, _ = _epoch(data.make_tf_dataset(mapped, batch_size=8, labels=labels, augment="xray", stream=True))
    assert x.shape == (45, 12, 12, 1) and 0.0 <= x.min() and x.max() <= 1.0
    x, y = _epoch(data.make_tf_dataset(mapped, batch_size=8, labels=labels, shuffle=False, stream=False))
    np.testing.assert_array_equal(y, labels)


def test_large_in_memory_arrays_are_streamed(monkeypatch):
    pytest.importorskip("tensorflow")
    from xai_lab.data import budget, pipeline

    images = np.zeros((10, 8, 8, 1), np.uint8)
    monkeypatch.setattr(budget, "IN_MEMORY_BYTES", images.nbytes - 1)
    assert pipeline.streams(images)
    x, y = _epoch(data.make_tf_dataset(images, labels=np.zeros(10), batch_size=4))
    assert x.shape == (10, 8, 8, 1) and len(y) == 10
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        data.make_tf_dataset(images, labels=np.zeros(9))


def test_fit_trains_on_a_dataset_the_loader_memory_mapped(tmp_path, monkeypatch):
    pytest.importorskip("keras")
    import keras

    from xai_lab import training
    from xai_lab.data import budget, store

    rng = np.random.default_rng(0)
    x = rng.integers(0, 100, (64, 16, 16)) + 120 * (np.arange(64) % 2)[:, None, None]
    arrays = {f"{s}_images": x.astype(np.uint8) for s in ("train", "val")}
    arrays.update({f"{s}_labels": (np.arange(64) % 2).reshape(-1, 1) for s in ("train", "val")})
    np.savez_compressed(tmp_path / "pneumoniamnist_64.npz", **{
        k: (np.repeat(np.repeat(v, 4, 1), 4, 2) if k.endswith("images") else v) for k, v in arrays.items()
    })
    monkeypatch.setattr(budget, "IN_MEMORY_BYTES", 1000)
    train = data.load("pneumoniamnist", "train", size=64, data_dir=tmp_path)
    val = data.load("pneumoniamnist", "val", size=64, data_dir=tmp_path)
    assert store.is_file_backed(train.images)
    inputs = keras.Input((64, 64, 1))
    h = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h)))
    result = training.fit(model, train, val, epochs=2, batch_size=16, augment="auto", seed=0)
    assert result.epochs_run == 2 and np.isfinite(result.history["loss"]).all()
