"""Per-image latency at batch 1: a ``.tflite`` file in the LiteRT interpreter, or a Keras model.

What a device does per image is timed: set the input tensor, invoke, read the output (for
an int8 model the input is quantised beforehand, as a camera's uint8 pixels minus 128 would
be). A Keras model is timed through one compiled ``tf.function`` call per image. The
benchmark (``benchmarks/edge.py``) runs both on one thread; TensorFlow's own thread count is
set per process (``tf.config.threading``) before it runs anything.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models.io import as_input
from .runtime import TFLiteModel, _interpreter_class, _quantise, quiet_native_output


@dataclass(frozen=True)
class Latency:
    """Seconds per image at batch 1 over ``n`` timed calls (after ``warmup`` untimed ones)."""

    median_ms: float
    p95_ms: float
    n: int
    threads: int | None
    runtime: str
    samples_ms: tuple[float, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        return (f"Latency({self.runtime}: median {self.median_ms:.3f} ms, p95 {self.p95_ms:.3f} ms "
                f"over {self.n} images, {self.threads or 'default'} thread(s))")


def _summary(seconds: list[float], threads: int | None, runtime: str) -> Latency:
    ms = np.asarray(seconds) * 1e3
    return Latency(float(np.median(ms)), float(np.percentile(ms, 95)), len(ms), threads, runtime,
                   tuple(float(v) for v in ms))


def pooled(latencies: list[Latency]) -> Latency:
    """One :class:`Latency` over the samples of several runs of the same model (interleaved
    rounds, so that a change of load on a shared machine hits every model alike)."""
    if not latencies:
        raise ValueError("no latencies to pool")
    samples = [s for lat in latencies for s in lat.samples_ms]
    return _summary([s / 1e3 for s in samples], latencies[0].threads, latencies[0].runtime)


def measure_latency(model: Any, images: Any, n: int = 200, warmup: int = 10,
                    num_threads: int | None = 1) -> Latency:
    """Median and 95th-percentile latency per image at batch 1.

    Parameters
    ----------
    model : TFLiteModel, path to a ``.tflite`` file, or keras.Model
    images : array
        Images cycled through (uint8 or float in [0, 1], (N, H, W, C)).
    n, warmup : int
        Timed and untimed calls.
    num_threads : int, optional
        Interpreter threads (a fresh interpreter is made). Ignored for Keras models, whose
        threads are TensorFlow's process-wide setting.
    """
    x = as_input(images)
    if len(x) == 0 or n < 1:
        raise ValueError("measure_latency needs at least one image and n >= 1")
    if isinstance(model, (str, os.PathLike)):
        model = TFLiteModel(model)
    if isinstance(model, TFLiteModel):
        with quiet_native_output():
            interpreter = _interpreter_class()(model_path=str(model.path), num_threads=num_threads)
            interpreter.allocate_tensors()
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        if tuple(inp["shape"][1:]) != tuple(x.shape[1:]):
            raise ValueError(f"images {x.shape[1:]} do not fit {model.path.name}'s input {tuple(inp['shape'][1:])}")
        q = _quantise(x, inp)
        seconds = []
        for i in range(warmup + n):
            one = q[i % len(q)][None]
            start = time.perf_counter()
            interpreter.set_tensor(inp["index"], one)
            interpreter.invoke()
            interpreter.get_tensor(out["index"])
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
        return _summary(seconds, num_threads, f"LiteRT {model.precision}")
    import tensorflow as tf

    forward = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
    tensors = [tf.constant(image[None]) for image in x[: warmup + n]]
    seconds = []
    for i in range(warmup + n):
        one = tensors[i % len(tensors)]
        start = time.perf_counter()
        np.asarray(forward(one))
        if i >= warmup:
            seconds.append(time.perf_counter() - start)
    threads = tf.config.threading.get_intra_op_parallelism_threads() or None
    return _summary(seconds, threads, "Keras (tf.function)")
