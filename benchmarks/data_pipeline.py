"""Peak memory and speed of the two ways data reach training: in memory, or streamed from disk.

For each case (dataset, size) and each way, a fresh Python process (TensorFlow, Keras and the
package imported first, as in a notebook):

1. loads the ``train`` and ``val`` splits with :func:`xai_lab.data.load` (decoded beforehand
   by a warm-up process, so only the load from the cache is timed);
2. runs one epoch of :func:`xai_lab.data.make_tf_dataset` (batch 64, the dataset's
   augmentation) and reports the pipeline's images per second;
3. trains a small strided CNN (4 convolutions, global pooling: a stand-in for the zoo's
   high-resolution models) for ``--epochs`` epochs with :func:`xai_lab.training.fit` and
   reports training images per second and the process's peak resident memory (``VmHWM``), and
   the peak of its anonymous and file-backed parts (``RssAnon`` / ``RssFile``, sampled every
   0.1 s: file-backed pages are the page cache of the memory-mapped array, which the kernel
   can drop under pressure).

"memory": ``budget.IN_MEMORY_BYTES`` is raised above the array, so the loader returns it in
memory and the pipeline copies it into TensorFlow (``from_tensor_slices``). "stream": it is set
to 0, so the loader memory-maps the cached array and the pipeline reads batches by index.

Usage::

    XAI_LAB_DATA_DIR=../shared/data python benchmarks/data_pipeline.py
    python benchmarks/data_pipeline.py --cases chest_xray:128 ham10000:128 --epochs 1 --json out.json

The machine's other load changes the speeds; memory figures do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
DEFAULT_CASES = ("pneumoniamnist:28", "chest_xray:128", "ham10000:128", "chest_xray:224")

CHILD = r"""
import json, sys, threading, time
from pathlib import Path

def status():
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024
    return out

peaks = {"RssAnon": 0, "RssFile": 0}
stop = threading.Event()
def sample():
    while not stop.is_set():
        s = status()
        for k in peaks:
            peaks[k] = max(peaks[k], s.get(k, 0))
        time.sleep(0.1)

import keras
import numpy as np
import tensorflow as tf
from xai_lab import data, training
from xai_lab.data import budget

name, size, way, epochs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
budget.IN_MEMORY_BYTES = 0 if way == "stream" else 1 << 40
threading.Thread(target=sample, daemon=True).start()
base = status()
t0 = time.perf_counter()
train = data.load(name, "train", size=size)
val = data.load(name, "val", size=size)
load_s = time.perf_counter() - t0
augment = train.info.get("augment")
pipe = data.make_tf_dataset(train, batch_size=64, augment=augment, seed=0)
t0 = time.perf_counter()
n = sum(int(x.shape[0]) for x, _ in pipe)
pipe_s = time.perf_counter() - t0

def small_cnn(shape, k):
    inputs = keras.Input(shape=shape)
    x = inputs
    for f in (16, 32, 64, 96):
        x = keras.layers.Conv2D(f, 3, strides=2, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(k)(x))

keras.utils.set_random_seed(0)
model = small_cnn(train.images.shape[1:], train.n_classes)
t0 = time.perf_counter()
result = training.fit(model, train, val, epochs=epochs, batch_size=64, augment="auto", seed=0)
fit_s = time.perf_counter() - t0
stop.set()
end = status()
print(json.dumps({
    "n_train": len(train), "n_val": len(val), "train_mib": train.images.nbytes / 2**20,
    "memory_mapped": bool(data.store.is_file_backed(train.images)),
    "load_s": load_s, "pipeline_images_per_s": n / pipe_s, "pipeline_images": n,
    "fit_s": fit_s, "train_images_per_s": len(train) * epochs / fit_s,
    "val_auc": result.history.get("val_auc", [float("nan")])[-1],
    "base_rss": base["VmRSS"], "peak_rss": end["VmHWM"],
    "peak_anon": peaks["RssAnon"], "peak_file": peaks["RssFile"],
}))
"""


def run_child(name: str, size: int, way: str, epochs: int, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, name, str(size), way, str(epochs)],
        capture_output=True, text=True, env=env, check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def warm_up(name: str, size: int, env: dict[str, str]) -> float:
    """Decode the splits into the cache once (both ways then read the same cache)."""
    code = (
        "import sys, warnings; warnings.simplefilter('ignore'); from xai_lab import data; "
        "[data.load(sys.argv[1], s, size=int(sys.argv[2])) for s in ('train', 'val')]"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, name, str(size)], env=env, check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), help="NAME:SIZE ...")
    parser.add_argument("--ways", nargs="+", default=["memory", "stream"], choices=["memory", "stream"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3",
               TF_ENABLE_ONEDNN_OPTS=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "0"))
    print(f"{platform.node()} | {os.cpu_count()} CPUs | python {platform.python_version()} | "
          f"epochs {args.epochs} | data {os.environ.get('XAI_LAB_DATA_DIR', '(not set)')}")
    header = (f"{'case':18s} {'way':7s} {'train MiB':>9s} {'mmap':>4s} {'load s':>6s} "
              f"{'pipe img/s':>10s} {'fit img/s':>9s} {'peak RSS':>8s} {'anon':>6s} {'file':>6s} "
              f"{'base':>6s}  (MiB)")
    print(header)
    rows = []
    for case in args.cases:
        name, size = case.split(":")
        warm = warm_up(name, int(size), env)
        print(f"{case}: decoded into the cache in {warm:.0f} s (or found there)")
        for way in args.ways:
            row = run_child(name, int(size), way, args.epochs, env)
            row.update(case=case, way=way)
            rows.append(row)
            if "error" in row:
                print(f"{case:18s} {way:7s} {row['error']}")
                continue
            print(
                f"{case:18s} {way:7s} {row['train_mib']:9.0f} {'yes' if row['memory_mapped'] else 'no':>4s} "
                f"{row['load_s']:6.1f} {row['pipeline_images_per_s']:10.0f} "
                f"{row['train_images_per_s']:9.0f} {row['peak_rss'] / MiB:8.0f} "
                f"{row['peak_anon'] / MiB:6.0f} {row['peak_file'] / MiB:6.0f} {row['base_rss'] / MiB:6.0f}"
            )
        pair = {r["way"]: r for r in rows if r["case"] == case and "error" not in r}
        if len(pair) == 2:
            m, s = pair["memory"], pair["stream"]
            print(
                f"{case:18s} stream / memory: peak RSS {s['peak_rss'] / m['peak_rss']:.2f}, "
                f"peak anon {s['peak_anon'] / m['peak_anon']:.2f}, "
                f"pipeline speed {s['pipeline_images_per_s'] / m['pipeline_images_per_s']:.2f}, "
                f"training speed {s['train_images_per_s'] / m['train_images_per_s']:.2f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
