"""Helpers of the edge tests (imported by name: the tests folder is on sys.path)."""

from __future__ import annotations

import numpy as np


def write_npz(path, n=(60, 24), size=28, channels=1, classes=2, seed=0):
    """A MedMNIST-style npz with train / val splits whose classes differ in brightness."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val"), n, strict=True):
        y = np.arange(count) % classes
        shape = (count, size, size) if channels == 1 else (count, size, size, channels)
        x = rng.integers(0, 120, shape) + (y * (130 // max(classes - 1, 1))).reshape((-1,) + (1,) * (len(shape) - 1))
        x[:, 0, 0] = 0  # every image spans black ...
        x[:, -1, -1] = 255  # ... to white, as real images do
        arrays[f"{split}_images"] = x.astype(np.uint8)
        arrays[f"{split}_labels"] = y.reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def small_cnn(shape=(28, 28, 1), n_classes=2, seed=0):
    import keras

    from xai_lab import models

    keras.utils.set_random_seed(seed)
    return models.build("cnn", shape, n_classes, filters=(8, 16), convs_per_block=1, dense=16)
