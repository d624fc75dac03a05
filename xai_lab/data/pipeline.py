"""A tf.data input pipeline: scaling, modality-aware augmentation, batching, class weights.

TensorFlow is imported inside the functions that need it, so ``import xai_lab.data`` stays
light. Images leave the pipeline as float32 in [0, 1] (the package's model-input convention:
no Rescaling layer inside the models), labels as int32.

Augmentation per modality (``augment=``)
----------------------------------------
``"xray"``
    Small rotations (+-7 degrees), shifts (+-6 %), zoom (+-8 %), brightness (+-0.08) and
    contrast (x0.85-1.15): patient positioning and exposure vary between radiographs.
    **No left-right flip**: chest anatomy is lateralised (the heart lies on the patient's left,
    situs inversus is a finding), and laterality markers and text would be mirrored, so a
    flipped radiograph is not a plausible radiograph. No vertical flip either.
``"dermoscopy"``
    Horizontal and vertical flips and 90-degree rotations (a dermoscopic image has no
    canonical orientation), small shifts and zoom, and small colour jitter (brightness +-0.05,
    saturation x0.9-1.1, hue +-0.02): large colour changes would alter diagnostic colour cues
    (blue-grey veil, red vascular structures).
``"fundus"``
    Flips and rotations (any angle up to +-20 degrees; left and right eyes are mirror images
    of each other, so a flip gives a plausible fundus of the other eye) and mild brightness
    (+-0.05) and contrast (x0.9-1.1) for illumination differences between cameras.

Two ways in
-----------
Arrays up to :data:`~xai_lab.data.budget.IN_MEMORY_BYTES` (128 MiB: every 28 px set, chest_xray
at 128 px) go in whole (``from_tensor_slices``), as they always did. Larger ones, and arrays
memory-mapped from the local cache (what the loaders return for large sets), are **streamed**:
a shuffled index per epoch, batches read from the array (from disk for a memory-mapped one) by
``tf.numpy_function``, then the same scaling, augmentation, batching and prefetching. Only a
few batches are in memory at a time; the in-memory way holds the array about three times
(NumPy, TensorFlow's copy, the shuffle buffer). ``stream=`` overrides the choice;
:func:`streams` says which way an array goes. Figures: ``benchmarks/data_pipeline.py``.

References
----------
Shorten, C., Khoshgoftaar, T. M. (2019). A survey on image data augmentation for deep
learning. Journal of Big Data 6, 60. doi:10.1186/s40537-019-0197-0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import budget
from .store import is_file_backed

AUGMENTATIONS = ("xray", "dermoscopy", "fundus")

_SETTINGS: dict[str, dict[str, float | bool]] = {
    "xray": dict(
        rotate=7.0,
        shift=0.06,
        zoom=0.08,
        brightness=0.08,
        contrast=0.15,
        hflip=False,
        vflip=False,
        rot90=False,
        saturation=0.0,
        hue=0.0,
    ),
    "dermoscopy": dict(
        rotate=0.0,
        shift=0.05,
        zoom=0.05,
        brightness=0.05,
        contrast=0.0,
        hflip=True,
        vflip=True,
        rot90=True,
        saturation=0.1,
        hue=0.02,
    ),
    "fundus": dict(
        rotate=20.0,
        shift=0.03,
        zoom=0.05,
        brightness=0.05,
        contrast=0.1,
        hflip=True,
        vflip=True,
        rot90=False,
        saturation=0.0,
        hue=0.0,
    ),
}


def class_weights(labels: Any, n_classes: int | None = None) -> dict[int, float]:
    """Balanced class weights ``n / (k * n_c)`` (as scikit-learn's ``"balanced"``).

    Classes absent from ``labels`` (when ``n_classes`` is larger) get weight 0.
    """
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    k = int(n_classes if n_classes is not None else labels.max() + 1 if labels.size else 0)
    counts = np.bincount(labels, minlength=k)
    present = int((counts > 0).sum())
    return {c: (float(len(labels) / (present * counts[c])) if counts[c] else 0.0) for c in range(k)}


def _affine(tf: Any, image: Any, seed: Any, s: dict[str, float | bool]) -> Any:
    """Random rotation, shift and zoom with one projective transform (nearest-edge fill)."""
    h = tf.cast(tf.shape(image)[0], tf.float32)
    w = tf.cast(tf.shape(image)[1], tf.float32)
    u = tf.random.stateless_uniform([4], seed=seed, minval=-1.0, maxval=1.0)
    angle = u[0] * float(s["rotate"]) * math.pi / 180.0
    scale = 1.0 + u[1] * float(s["zoom"])
    tx, ty = u[2] * float(s["shift"]) * w, u[3] * float(s["shift"]) * h
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    # output pixel (x, y) samples input at A (x - c) + c - t
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = cx - a0 * cx - a1 * cy - tx
    b2 = cy - b0 * cx - b1 * cy - ty
    transform = tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])[None]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=transform,
        output_shape=tf.shape(image)[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )
    return out[0]


def augment_image(image: Any, seed: Any, kind: str) -> Any:
    """Augment one float32 (H, W, C) image in [0, 1] with a stateless seed (shape [2])."""
    import tensorflow as tf

    s = _SETTINGS[kind]
    seeds = tf.random.experimental.stateless_split(seed, 8)
    if s["hflip"]:
        image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    if s["vflip"]:
        image = tf.image.stateless_random_flip_up_down(image, seeds[1])
    if s["rot90"] and image.shape[0] == image.shape[1]:
        k = tf.random.stateless_uniform([], seeds[2], minval=0, maxval=4, dtype=tf.int32)
        image = tf.image.rot90(image, k)
    if s["rotate"] or s["shift"] or s["zoom"]:
        image = _affine(tf, image, seeds[3], s)
    if s["brightness"]:
        image = tf.image.stateless_random_brightness(image, float(s["brightness"]), seeds[4])
    if s["contrast"]:
        image = tf.image.stateless_random_contrast(
            image, 1 - float(s["contrast"]), 1 + float(s["contrast"]), seeds[5]
        )
    if image.shape[-1] == 3 and s["saturation"]:
        image = tf.image.stateless_random_saturation(
            image, 1 - float(s["saturation"]), 1 + float(s["saturation"]), seeds[6]
        )
    if image.shape[-1] == 3 and s["hue"]:
        image = tf.image.stateless_random_hue(image, float(s["hue"]), seeds[7])
    return tf.clip_by_value(image, 0.0, 1.0)


def streams(images: Any) -> bool:
    """True when :func:`make_tf_dataset` streams ``images`` by default: memory-mapped from a
    file, or larger than :data:`~xai_lab.data.budget.IN_MEMORY_BYTES`."""
    return is_file_backed(images) or int(np.asarray(images).nbytes) > budget.IN_MEMORY_BYTES


def _streamed(tf: Any, images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool,
              seed: int) -> Any:
    """Unbatched ``(uint8 image, int32 label)`` read in batches by index from ``images``."""
    n = len(images)

    def read(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.sort(index)  # ascending reads are sequential on disk; a batch is a set
        return np.ascontiguousarray(images[index]), labels[index]

    def read_batch(index: Any) -> tuple[Any, Any]:
        x, y = tf.numpy_function(read, [index], (tf.uint8, tf.int32), stateful=False)
        x.set_shape((None,) + images.shape[1:])
        y.set_shape((None,))
        return x, y

    index = tf.data.Dataset.range(n)
    if shuffle:
        index = index.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return (
        index.batch(batch_size)
        .map(read_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .unbatch()
        .apply(tf.data.experimental.assert_cardinality(n))  # Keras then knows an epoch's steps
    )


def make_tf_dataset(
    ds: Any,
    batch_size: int = 64,
    augment: str | None = None,
    shuffle: bool = True,
    seed: int = 0,
    labels: Any | None = None,
    drop_remainder: bool = False,
    stream: bool | None = None,
) -> Any:
    """A batched ``tf.data.Dataset`` of ``(images float32 [0, 1], labels int32)``.

    Parameters
    ----------
    ds : Dataset or array
        A :class:`~xai_lab.data.Dataset`, or uint8 images (N, H, W, C) with ``labels``.
    batch_size : int
    augment : None, ``"xray"``, ``"dermoscopy"`` or ``"fundus"``
        Modality-aware random augmentation (see the module docstring for what and why);
        deterministic for ``seed`` and different in every epoch.
    shuffle : bool
        Reshuffle every epoch (seeded).
    seed : int
    stream : bool, optional
        Read batches from the array (from disk when it is memory-mapped) instead of copying it
        into TensorFlow; default :func:`streams` (large or memory-mapped arrays).
    """
    import tensorflow as tf

    if augment is not None and augment not in _SETTINGS:
        raise ValueError(f"augment must be None or one of {AUGMENTATIONS}, got {augment!r}")
    if hasattr(ds, "images"):
        images, labels = ds.images, ds.labels
    else:
        images = ds
        if labels is None:
            raise ValueError("pass labels= with a bare image array")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    labels = np.asarray(labels).reshape(-1).astype(np.int32)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if stream is None:
        stream = streams(images)
    if stream:
        data = _streamed(tf, images, labels, batch_size, shuffle, seed)
    else:
        data = tf.data.Dataset.from_tensor_slices((images, labels))
        if shuffle:
            data = data.shuffle(min(len(images), 10_000), seed=seed, reshuffle_each_iteration=True)

    def scale(x: Any, y: Any) -> tuple[Any, Any]:
        return tf.cast(x, tf.float32) / 255.0, y

    data = data.map(scale, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augment is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        data = tf.data.Dataset.zip((data, seeds)).map(
            lambda xy, s: (
                augment_image(xy[0], tf.cast(s, tf.int64) % (2**31 - 1), augment),
                xy[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return data.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
