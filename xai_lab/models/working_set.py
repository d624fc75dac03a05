"""How many images one call of a model may take, so that its largest activation stays small.

Every pass over a model in the package (prediction, validation during training, the
explainers' forward and backward passes, the evaluation metrics' perturbed images, the model
calls inside shap and tf-explain) splits its batch into calls of at most :func:`chunk_size`
images: the caller's ``batch_size``, and no more than keep the largest float32 activation of
one call within :data:`WORKING_SET_BYTES`.
"""

from __future__ import annotations

import math
from typing import Any

#: Bytes the largest float32 activation of one call may take: a batch is split into calls of
#: at most ``WORKING_SET_BYTES // (4 * largest activation per image)`` images
#: (:func:`chunk_size`). The passes are memory-bound between their convolutions; on the
#: development machine (32 MiB L3) deep Taylor on 64, 128 and 224 px images ran 5-27 % slower
#: per image when that tensor took 25-103 MB than at 8-17 MB. The cap also bounds peak memory on
#: large images, where a Binder kernel (2 GB) dies: ``benchmarks/working_set.py`` (224 px, the
#: zoo's cnn) measured peak RSS of 806 MiB instead of 3926 for prediction on 256 images, 1290
#: instead of 14510 for a deletion curve on 4, 949 instead of 3691 for deep Taylor on 64, 938
#: instead of 6862 for integrated gradients on 8, 1096 instead of 2536 for shap's gradient
#: explainer on 1, 1096 instead of 3290 for its deep explainer on 1 with 16 background images.
WORKING_SET_BYTES = 16 * 2**20


def leaf_layers(model: Any) -> list[Any]:
    """Every layer of ``model`` that is not itself a model, nested models opened, in order."""
    import keras

    out = []
    for layer in model.layers:
        out.extend(leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return out


def images_per_call(per_image: int, batch_size: int) -> int:
    """At most ``batch_size`` images, and no more than keep a float32 tensor of ``per_image``
    elements per image within :data:`WORKING_SET_BYTES`; at least one."""
    return max(1, min(int(batch_size), WORKING_SET_BYTES // (4 * max(1, int(per_image)))))


def largest_elements(shapes: Any, image_shape: tuple[int, ...]) -> int:
    """Elements of the largest of ``shapes`` (per-image tensor shapes) and of ``image_shape``
    (H, W, C) itself. A size left open (None) counts as the image's larger side."""
    side = max(int(d) for d in image_shape[:2])
    sizes = [math.prod(int(d) for d in image_shape)]
    sizes += [math.prod(side if d is None else int(d) for d in shape) for shape in shapes]
    return max(sizes)


def largest_activation(model: Any, image_shape: tuple[int, ...]) -> int:
    """Elements per image of the largest layer output of ``model`` (nested models opened, the
    input included) for images of ``image_shape`` (H, W, C); see :func:`largest_elements`.

    A layer whose output cannot be read (one called several times) is left out.
    """
    shapes = []
    for layer in leaf_layers(model):
        try:
            out = layer.output
        except (AttributeError, ValueError, RuntimeError):
            continue
        shapes += [tuple(t.shape)[1:] for t in (out if isinstance(out, (list, tuple)) else [out])]
    return largest_elements(shapes, image_shape)


def chunk_size(model: Any, image_shape: tuple[int, ...], batch_size: int) -> int:
    """Images per call of ``model`` on images of ``image_shape``: at most ``batch_size``, and
    no more than keep its largest activation within :data:`WORKING_SET_BYTES`."""
    return images_per_call(largest_activation(model, tuple(image_shape)), batch_size)
