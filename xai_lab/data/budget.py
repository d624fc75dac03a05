"""The data layer's memory budgets, in one place (Binder: 2 GB for everything, TensorFlow 0.7 GB).

``IN_MEMORY_BYTES``
    A decoded image array larger than this stays on disk: the loaders return it memory-mapped
    from the local cache (``numpy.memmap``, copy-on-write, so writing to it never touches the
    file), and :func:`~xai_lab.data.make_tf_dataset` streams it batch by batch instead of
    copying it into TensorFlow. Smaller arrays are loaded into memory, as at 28 px. The value
    comes from ``benchmarks/data_pipeline.py`` (table in ``datasets/README.md``): the
    in-memory pipeline holds the array about three times (NumPy, the tensor that
    ``from_tensor_slices`` copies, the shuffle buffer). One training epoch peaked at 1301 MiB
    in memory for chest_xray at 128 px (73 MiB of images: kept in memory), at 1952 MiB in
    memory against 1587 MiB streamed for HAM10000 at 128 px (196 MiB), and at 2248 against
    1750 MiB for chest_xray at 224 px (225 MiB); Binder stops at 2 GB.
``DECODE_BUDGET_BYTES``
    The most memory that decoding one image file may take (the decoder's buffer and the
    conversions to uint8). The pixel limit of :func:`~xai_lab.data.read_image` follows from
    it and from the file's mode (:func:`decode_cost`), read from the header before decoding.
"""

from __future__ import annotations

MiB = 1 << 20

IN_MEMORY_BYTES = 128 * MiB
DECODE_BUDGET_BYTES = 384 * MiB

# Peak bytes per pixel of read_image + prepare_for_model by Pillow mode (the decoder's own
# buffer, the NumPy copy, the conversions and the resize), measured on 16-megapixel files with
# `python benchmarks/data_decode_memory.py --modes` and rounded up to the next whole byte plus
# one: 1 4.2, L 3.1, P 11.1, LA 9.1, I;16 10.1, I 13.3, F 13.3, RGB 10.1, RGBA 17.1 (PNG / TIFF),
# L 3.1 and RGB 10.1 (JPEG). Modes not listed count as the most expensive.
_BYTES_PER_PIXEL = {
    "1": 6,
    "L": 5,
    "P": 13,
    "PA": 19,
    "LA": 11,
    "La": 11,
    "I;16": 12,
    "I;16B": 12,
    "I;16L": 12,
    "I;16N": 12,
    "I": 15,
    "F": 15,
    "RGB": 12,
    "RGBX": 12,
    "CMYK": 12,
    "YCbCr": 12,
    "LAB": 12,
    "HSV": 12,
    "RGBA": 19,
    "RGBa": 19,
}
_WORST = max(_BYTES_PER_PIXEL.values())


def decode_cost(mode: str, width: int, height: int) -> int:
    """Estimated peak bytes of decoding a ``width x height`` image of Pillow ``mode``."""
    return int(width) * int(height) * _BYTES_PER_PIXEL.get(mode, _WORST)


def max_pixels(mode: str, budget: int = DECODE_BUDGET_BYTES) -> int:
    """The largest pixel count of ``mode`` that fits ``budget`` bytes of decoding."""
    return int(budget) // _BYTES_PER_PIXEL.get(mode, _WORST)
