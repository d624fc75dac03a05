"""A tiny model zoo for the conformance suite, built with plain Keras, plus one 128 px model of
the package's ``stem_resnet`` family (the family of the 128 px recipes) at a small width.

Every model outputs logits for 3 classes and gets fixed random weights from a seed (Keras
initialisers seeded per layer, then BatchNorm statistics set to non-trivial values), so the
suite is reproducible. ``images(name)`` gives 3 fixed input images in [0, 1].
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 3
SHAPES = {
    "cnn": (28, 28, 1),
    "resnet": (32, 32, 3),
    "sequential": (28, 28, 1),
    "nested": (32, 32, 3),
    "stem_resnet": (128, 128, 1),
}


def _init(seed: int):
    import keras

    return keras.initializers.GlorotUniform(seed=seed)


def cnn(input_shape=(28, 28, 1), n_classes=N_CLASSES, seed=0, name="tiny_cnn"):
    """Functional CNN: Conv2D(relu) -> MaxPool -> Conv2D(relu) -> Flatten -> Dense."""
    import keras
    from keras import layers

    inp = keras.Input(shape=input_shape)
    x = layers.Conv2D(6, 3, activation="relu", kernel_initializer=_init(seed), name="conv1")(inp)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(8, 3, activation="relu", kernel_initializer=_init(seed + 1), name="conv2")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(n_classes, kernel_initializer=_init(seed + 2), name="logits")(x)
    return keras.Model(inp, out, name=name)


def resnet(input_shape=(32, 32, 3), n_classes=N_CLASSES, seed=0):
    """Tiny ResNet: Conv -> BN -> ReLU, one residual block with Add, GAP, Dense."""
    import keras
    from keras import layers

    inp = keras.Input(shape=input_shape)
    x = layers.Conv2D(8, 3, padding="same", kernel_initializer=_init(seed), name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    y = layers.Conv2D(8, 3, padding="same", kernel_initializer=_init(seed + 1), name="b1_conv")(x)
    y = layers.BatchNormalization(name="b1_bn")(y)
    y = layers.ReLU(name="b1_relu")(y)
    x = layers.Add(name="b1_add")([x, y])
    x = layers.ReLU(name="b1_out")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(n_classes, kernel_initializer=_init(seed + 2), name="logits")(x)
    model = keras.Model(inp, out, name="tiny_resnet")
    _randomise_batchnorm(model, seed)
    return model


def sequential(input_shape=(28, 28, 1), n_classes=N_CLASSES, seed=0):
    """Sequential CNN declared with keras.Input."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(6, 3, activation="relu", kernel_initializer=_init(seed), name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(8, 3, activation="relu", kernel_initializer=_init(seed + 1), name="conv2"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(n_classes, kernel_initializer=_init(seed + 2), name="logits"),
        ],
        name="tiny_sequential",
    )


def nested(input_shape=(32, 32, 3), n_classes=N_CLASSES, seed=0):
    """A keras.applications MobileNetV2 (alpha 0.35, random weights) used as a layer."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    backbone = keras.applications.MobileNetV2(
        alpha=0.35, weights=None, include_top=False, input_shape=input_shape
    )
    inp = keras.Input(shape=input_shape)
    x = backbone(inp)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(n_classes, kernel_initializer=_init(seed + 2), name="logits")(x)
    model = keras.Model(inp, out, name="tiny_nested")
    _randomise_batchnorm(model, seed)
    return model


def stem_resnet(input_shape=(128, 128, 1), n_classes=N_CLASSES, seed=0):
    """``xai_lab.models.build("stem_resnet")`` at 128 px and a small width: strided stem
    (Conv 5x5 / 2 + MaxPool 3x3 / 2), three basic residual blocks with strided convolutions and
    1x1 projections on the shortcut, last map 8x8 (``last_conv`` / ``last_relu``)."""
    import keras

    from xai_lab import models

    keras.utils.set_random_seed(seed)
    model = models.build("stem_resnet", input_shape, n_classes, stem_filters=8, filters=(8, 12, 16))
    _randomise_batchnorm(model, seed)
    return model


def _randomise_batchnorm(model, seed: int) -> None:
    """Non-trivial BatchNorm parameters, and moving statistics set from calibration images.

    Random gamma/beta, then one training-mode pass with momentum 0 over 32 calibration
    images sets every BatchNorm's moving mean/variance to the statistics it sees, so that a
    deep random network (MobileNetV2) keeps a signal in inference mode instead of vanishing.
    """
    import keras

    from xai_lab.explain import _graph

    rng = np.random.default_rng(seed)
    bns = [layer for layer in _graph.leaf_layers(model)
           if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in bns:
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights(
            [
                rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                rng.normal(0, 0.2, beta.shape).astype("float32"),
                mean,
                var,
            ]
        )
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0
    shape = tuple(model.inputs[0].shape[1:])
    calib = np.random.default_rng(seed + 100).uniform(0, 1, (32, *shape)).astype("float32")
    model(calib, training=True)
    for bn, momentum in zip(bns, momenta, strict=True):
        bn.momentum = momentum


BUILDERS = {"cnn": cnn, "resnet": resnet, "sequential": sequential, "nested": nested, "stem_resnet": stem_resnet}


def build(name: str, seed: int = 0):
    return BUILDERS[name](seed=seed)


def images(name: str, n: int = 3, seed: int = 1) -> np.ndarray:
    """``n`` smooth random images in [0, 1] for the model ``name`` (float32)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, *SHAPES[name]))
    x = gaussian_filter(x, sigma=(0, 1.5, 1.5, 0))
    x = (x - x.min()) / (x.max() - x.min())
    return x.astype(np.float32)
