"""The networks of the landmark task: the agent's Q-network and the two baselines' CNNs.

All are functional Keras 3 models taking float32 images in [0, 1] and built only from layers
the package's explainers know (Conv2D, ReLU, MaxPooling2D, Flatten, Dense, UpSampling2D), so
Grad-CAM, the gradient family and LRP can read them.
"""

from __future__ import annotations

import keras


def q_network(crop_size: int, channels: int = 1, n_actions: int = 4, width: int = 16) -> keras.Model:
    """The agent's Q-network: a crop (N, c, c, C) -> one Q-value per action (N, n_actions).

    A 3x3 convolution at the crop's resolution, a 2x2 max-pooling, two more convolutions (the
    last named ``"last_conv"``, Grad-CAM's layer), then Flatten (where something lies inside the
    crop matters: a landmark to the left asks for "left") and two Dense layers. One
    (N, n_actions) output of scores, the contract of the explainers: the Q-value of an action
    plays the role of a logit. Small on purpose: one update (a minibatch of 64 through the online
    network twice and the target network once) costs about 2 MFLOP per transition, which keeps
    training on two CPU cores within minutes.

    References
    ----------
    Mnih, V., et al. (2015). Human-level control through deep reinforcement learning. Nature
    518, 529-533 (the Q-network); Alansary, A., et al. (2019). Evaluating reinforcement learning
    agents for anatomical landmark detection. Medical Image Analysis 53, 156-164.
    """
    inputs = keras.Input(shape=(int(crop_size), int(crop_size), int(channels)), name="crop")
    x = keras.layers.Conv2D(width, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", name="conv2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", name="last_conv")(x)
    x = keras.layers.ReLU(name="last_relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(64, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(int(n_actions), name="q_values")(x)
    return keras.Model(inputs, outputs, name="q_network")


def coordinate_cnn(size: int, channels: int = 1, width: int = 16) -> keras.Model:
    """Direct coordinate regression: an image (N, H, W, C) -> (row, column) / size, shape (N, 2).

    Three blocks of [3x3 conv -> ReLU -> 2x2 max-pool], Flatten, a Dense layer and a linear
    output of the normalised coordinates (as in the regression baselines of Payer et al. 2019).
    """
    inputs = keras.Input(shape=(int(size), int(size), int(channels)), name="image")
    x = inputs
    for b, f in enumerate((width, 2 * width, 4 * width), start=1):
        x = keras.layers.Conv2D(f, 3, padding="same", name=f"conv{b}")(x)
        x = keras.layers.ReLU(name=f"relu{b}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{b}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(2, name="coordinates")(x)
    return keras.Model(inputs, outputs, name="coordinate_cnn")


def heatmap_cnn(size: int, channels: int = 1, width: int = 16) -> keras.Model:
    """Heatmap regression: an image (N, H, W, C) -> one score per pixel (N, H, W) (logits).

    A small encoder-decoder (two poolings down, two nearest-neighbour upsamplings back, with skip
    connections from the encoder, as a U-Net; Ronneberger et al. 2015). Trained with a softmax
    over the pixels against a Gaussian around the landmark; the prediction is the score-weighted
    mean position around the best pixel.
    """
    inputs = keras.Input(shape=(int(size), int(size), int(channels)), name="image")

    def conv(x, f, name):
        x = keras.layers.Conv2D(f, 3, padding="same", name=name)(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    e1 = conv(inputs, width, "enc1")
    e2 = conv(keras.layers.MaxPooling2D(2, name="pool1")(e1), 2 * width, "enc2")
    e3 = conv(keras.layers.MaxPooling2D(2, name="pool2")(e2), 4 * width, "enc3")
    e3 = conv(e3, 4 * width, "enc3b")
    d2 = keras.layers.UpSampling2D(2, name="up2")(e3)
    d2 = conv(keras.layers.Concatenate(name="skip2")([d2, e2]), 2 * width, "dec2")
    d1 = keras.layers.UpSampling2D(2, name="up1")(d2)
    d1 = conv(keras.layers.Concatenate(name="skip1")([d1, e1]), width, "dec1")
    scores = keras.layers.Conv2D(1, 1, name="heatmap")(d1)
    outputs = keras.layers.Reshape((int(size), int(size)), name="scores")(scores)
    return keras.Model(inputs, outputs, name="heatmap_cnn")
