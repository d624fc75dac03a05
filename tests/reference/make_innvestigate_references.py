"""Generate the iNNvestigate 2.1.2 reference files for ``test_lrp_reference.py``.

Never run in CI (the tests only load its builder functions, which take the ``keras``
module as an argument and import nothing themselves). iNNvestigate 2.1.2 needs Python < 3.12,
TensorFlow < 2.15 (Keras 2) and numpy < 2, so it runs in a side virtual environment
outside the repository::

    python3.11 -m venv /tmp/innv-venv
    /tmp/innv-venv/bin/pip install "numpy<2" tensorflow-cpu==2.14.1 innvestigate==2.1.2
    /tmp/innv-venv/bin/python tests/reference/make_innvestigate_references.py --write

It builds small architectures (``BUILDERS``; ``test_lrp_reference.py`` builds the same ones
with Keras 3) with Keras 2, sets deterministic weights, runs iNNvestigate's
``deep_taylor``, ``deep_taylor.bounded`` (with ``low``/``high``), ``lrp.epsilon`` and
``lrp.z`` analyzers on a few inputs with explicit target indices, and stores one npz per
architecture in ``tests/reference/data/``: ``w/<layer>/<i>`` (the layer's ``get_weights()``,
same order in Keras 3), ``x``, ``targets``, ``logits``, ``low``, ``high`` and one
``<analyzer>`` array (N, H, W, C) per analyzer. Without ``--write`` it only prints what it
would store (files are regenerated only on that explicit flag).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DATA = Path(__file__).resolve().parent / "data"
ANALYZERS = ("deep_taylor", "deep_taylor.bounded", "lrp.epsilon", "lrp.z")


def build_cnn(keras):
    L = keras.layers
    inp = keras.Input((16, 16, 1), name="image")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling2D(2, name="pool2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(16, activation="relu", name="dense1")(x)
    x = L.Dropout(0.5, name="dropout")(x)
    out = L.Dense(3, name="logits")(x)
    return keras.Model(inp, out)


def build_bn(keras):
    L = keras.layers
    inp = keras.Input((12, 12, 3), name="image")
    x = L.Conv2D(6, 3, padding="valid", name="conv1")(inp)
    x = L.BatchNormalization(name="bn1")(x)  # folded into conv1 on our side
    x = L.ReLU(name="relu1")(x)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = L.BatchNormalization(name="bn2")(x)  # after a ReLU: a standalone affine layer
    x = L.AveragePooling2D(2, name="avg")(x)
    x = L.Conv2D(8, 1, activation="relu", name="conv3")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(3, name="logits")(x)
    return keras.Model(inp, out)


def build_mlp(keras):
    L = keras.layers
    inp = keras.Input((8, 8, 1), name="image")
    x = L.Flatten(name="flatten")(inp)
    x = L.Dense(12, activation="relu", name="dense1")(x)
    x = L.Dense(10, activation="relu", name="dense2")(x)
    out = L.Dense(4, name="logits")(x)
    return keras.Model(inp, out)


BUILDERS = {"cnn": build_cnn, "bn": build_bn, "mlp": build_mlp}
BOUNDS = {
    "cnn": (0.0, 1.0),
    "bn": (np.array([0.0, -0.5, 0.0], np.float32), np.array([1.0, 1.0, 1.5], np.float32)),
    "mlp": (0.0, 1.0),
}


def set_weights(model, seed: int) -> None:
    """He-normal kernels, small biases (logits: around +0.5); BatchNorm with positive gamma and variance."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if type(layer).__name__ == "BatchNormalization":
            c = weights[0].shape[0]
            new = [
                rng.uniform(0.5, 1.5, c),  # gamma > 0
                rng.normal(0.0, 0.2, c),  # beta
                rng.normal(0.0, 0.2, c),  # moving mean
                rng.uniform(0.5, 2.0, c),  # moving variance
            ]
        else:
            kernel = weights[0]
            fan_in = int(np.prod(kernel.shape[:-1]))
            new = [rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape)]
            if len(weights) > 1:
                # a positive offset on the logits so that the argmax logit is positive and
                # deep Taylor (which explains max(logit, 0)) has something to explain
                mean = 0.5 if layer.name == "logits" else 0.0
                new.append(rng.normal(mean, 0.1, weights[1].shape))
        layer.set_weights([w.astype(np.float32) for w in new])


def make(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    import innvestigate
    import tensorflow as tf
    from tensorflow import keras

    model = BUILDERS[name](keras)
    set_weights(model, seed)
    rng = np.random.default_rng(seed + 100)
    n = 5
    x = rng.random((n, *model.input_shape[1:])).astype(np.float32)
    logits = model.predict(x, verbose=0)
    # argmax for most images, the runner-up for one and the smallest logit for one (often
    # negative: deep Taylor then gives zeros, LRP propagates the negative logit).
    targets = logits.argmax(axis=1)
    targets[1] = np.argsort(logits[1])[-2]
    targets[2] = logits[2].argmin()
    low, high = BOUNDS[name]
    out: dict[str, np.ndarray] = {
        "x": x,
        "targets": targets.astype(np.int64),
        "logits": logits.astype(np.float32),
        "low": np.asarray(low, np.float32),
        "high": np.asarray(high, np.float32),
        "versions": np.array(
            [f"innvestigate {innvestigate.__version__}", f"tensorflow {tf.__version__}"]
        ),
    }
    for layer in model.layers:
        for i, w in enumerate(layer.get_weights()):
            out[f"w/{layer.name}/{i}"] = w.astype(np.float32)
    for analyzer in ANALYZERS:
        kwargs = {"low": low, "high": high} if analyzer == "deep_taylor.bounded" else {}
        try:
            an = innvestigate.create_analyzer(
                analyzer, model, neuron_selection_mode="index", **kwargs
            )
        except NotImplementedError:
            # iNNvestigate's LRP analyzers refuse a standalone ReLU layer ("LRP is only
            # tested for convolutional neural networks"): no reference for this pair.
            print(f"{name}: iNNvestigate's {analyzer} refuses this model; not stored")
            continue
        out[analyzer] = np.asarray(an.analyze(x, neuron_selection=targets), np.float32)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the npz files")
    parser.add_argument("names", nargs="*", default=list(BUILDERS))
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    DATA.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        ref = make(name)
        summary = ", ".join(
            f"{a}: sum {ref[a].reshape(len(ref['x']), -1).sum(1).round(4).tolist()}"
            for a in ANALYZERS
            if a in ref
        )
        print(f"{name}: logits at targets "
              f"{ref['logits'][np.arange(len(ref['x'])), ref['targets']].round(4).tolist()}; "
              f"{summary}")
        if args.write:
            path = DATA / f"innvestigate_{name}.npz"
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, **ref)
            os.replace(tmp, path)
            print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
