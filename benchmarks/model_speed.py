"""Speed of candidate architectures at high resolution on this CPU: images/s of a training step
and of inference, and the parameter count and last feature map of each.

What chose ``stem_resnet``'s defaults and the 128 px recipes: every candidate is trained for a few
batches of random images with the same optimiser as :func:`xai_lab.training.fit` (AdamW on
sparse cross-entropy of logits), timed after two warm-up steps, then run in inference mode. The
depthwise-separable candidate (MobileNet-style blocks: Howard et al., arXiv:1704.04861, 2017)
is built here only: LRP's canonisation does not cover DepthwiseConv2D, so it is measured to
know what it would buy, not offered as a family.

Run: ``python benchmarks/model_speed.py [--size 128] [--channels 1] [--steps 8]``. Images per
wall second depend on what else runs on the CPU (the load average is printed); images per
CPU second of this process (all its threads) depend much less on it, and on a quiet machine
with ``C`` cores the wall rate approaches ``C`` times it at best. Compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

CANDIDATES: dict[str, tuple[str, dict]] = {
    "cnn (28 px recipe)": ("cnn", {"filters": (32, 64, 128), "convs_per_block": 1, "dense": 128}),
    "resnet (28 px family)": ("resnet", {"filters": (32, 64, 128)}),
    "stem_resnet basic 8x8": ("stem_resnet", {}),
    "stem_resnet basic 2-2-2 8x8": ("stem_resnet", {"blocks": 2}),
    "stem_resnet basic 16x16": ("stem_resnet", {"stem_pool": False, "filters": (24, 48, 96)}),
    "stem_resnet basic 4 stages 8x8": ("stem_resnet", {"stem_pool": False, "stem_filters": 16, "filters": (16, 32, 64, 128)}),
    "stem_resnet bottleneck 8x8": ("stem_resnet", {"block": "bottleneck", "filters": (64, 128, 256)}),
    "depthwise-separable 8x8": ("depthwise", {}),
}


def depthwise(input_shape, n_classes, filters=(32, 64, 128), stem_filters=24):
    """Stem as stem_resnet, then per stage two DepthwiseConv3x3-BN-ReLU-Conv1x1-BN-ReLU blocks."""
    import keras
    from keras import layers

    inp = keras.Input(shape=input_shape)
    x = layers.Conv2D(stem_filters, 5, strides=2, padding="same", use_bias=False)(inp)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    for s, f in enumerate(filters):
        for b in range(2):
            stride = 2 if s > 0 and b == 0 else 1
            x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
            x = layers.Conv2D(f, 1, use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(n_classes)(x))


def last_map(model) -> str:
    try:
        shape = model.get_layer("last_relu").output.shape
    except ValueError:
        shape = [s for s in (layer.output.shape for layer in model.layers) if len(s) == 4][-1]
    return f"{shape[1]}x{shape[2]}x{shape[3]}"


def measure(family: str, options: dict, size: int, channels: int, batch: int, steps: int) -> dict:
    import keras

    from xai_lab import models, training

    keras.utils.set_random_seed(0)
    shape = (size, size, channels)
    if family == "depthwise":
        model = depthwise(shape, 2, **options)
    else:
        model = models.build(family, shape, 2, **options)
    training.compile_model(model, learning_rate=1e-3)
    rng = np.random.default_rng(0)
    x = rng.random((batch, *shape), dtype=np.float32)
    y = rng.integers(0, 2, batch)
    for _ in range(2):
        model.train_on_batch(x, y)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(x, y)
    train_ips = steps * batch / (time.perf_counter() - start)
    train_cpu = steps * batch / (time.process_time() - cpu)
    model.predict_on_batch(x)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.predict_on_batch(x)
    infer_ips = steps * batch / (time.perf_counter() - start)
    infer_cpu = steps * batch / (time.process_time() - cpu)
    return {"params": model.count_params(), "last": last_map(model), "train": train_ips, "infer": infer_ips,
            "train_cpu": train_cpu, "infer_cpu": infer_cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names (substrings)")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# candidate speed at {args.size} px x {args.channels} channel(s), batch {args.batch}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cores} CPU cores, "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print(f"{'candidate':<32} {'params':>8} {'last map':>10} {'train img/s':>11} {'img/cpu-s':>9} "
          f"{'infer img/s':>11} {'img/cpu-s':>9} {'load':>5}")
    for label, (family, options) in CANDIDATES.items():
        if args.only and not any(o in label for o in args.only):
            continue
        r = measure(family, options, args.size, args.channels, args.batch, args.steps)
        print(f"{label:<32} {r['params']:>8} {r['last']:>10} {r['train']:>11.1f} {r['train_cpu']:>9.1f} "
              f"{r['infer']:>11.1f} {r['infer_cpu']:>9.1f} {os.getloadavg()[0]:>5.1f}", flush=True)
    print("Note: the CPU is shared with other jobs (see load average): compare rows of one run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
