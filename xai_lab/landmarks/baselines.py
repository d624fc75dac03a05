"""The two supervised baselines the agent is measured against: coordinate and heatmap regression.

Both see the whole image at once (the agent sees one crop per step), train with Adam on the same
images, and stop at a wall-time budget checked after every batch, so that the benchmark can give
every method the same training time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .phantoms import LandmarkSet, landmark_index


def _wall_clock(seconds: float | None, start: float) -> Any:
    """A Keras callback counting batches and stopping at the first batch that ends more than
    ``seconds`` after ``start`` (a ``time.perf_counter()`` reading: building the network counts)."""
    import keras

    class WallClock(keras.callbacks.Callback):
        batches = 0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.batches += 1
            if seconds is not None and time.perf_counter() - start >= seconds:
                self.model.stop_training = True

    return WallClock()


class _Regressor:
    """Shared by the baselines: settings, data checks, the training loop, prediction."""

    title = ""

    def __init__(self, landmark: str = "carina", *, learning_rate: float = 1e-3, batch_size: int = 32,
                 epochs: int = 1000, seed: int = 0) -> None:  # fmt: skip
        landmark_index(landmark)
        if not learning_rate > 0 or int(batch_size) < 1 or int(epochs) < 1:
            raise ValueError("learning_rate, batch_size and epochs must be positive")
        self.landmark = landmark
        self.settings = {"learning_rate": float(learning_rate), "batch_size": int(batch_size),
                         "epochs": int(epochs), "seed": int(seed)}  # fmt: skip
        self.network: Any = None
        self.size: int | None = None
        self.seconds = 0.0
        self.epochs_run = 0.0

    def __repr__(self) -> str:
        state = f"trained on {self.size} px" if self.network is not None else "untrained"
        return f"{type(self).__name__}({self.landmark!r}, {state})"

    def _data(self, data: Any, need_targets: bool) -> tuple[np.ndarray, np.ndarray | None]:
        if isinstance(data, LandmarkSet):
            return data.images, data.point(self.landmark).astype(np.float64)
        images, targets = data if isinstance(data, tuple) else (data, None)
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != images.shape[2]:
            raise ValueError(f"images must be square uint8 (N, H, W, C), got {images.dtype} {images.shape}")
        if targets is not None:
            targets = np.asarray(targets, np.float64)
            if targets.shape != (len(images), 2):
                raise ValueError(f"targets must be (N, 2), got {targets.shape}")
        if need_targets and targets is None:
            raise ValueError("fit needs the landmark of every image: pass a LandmarkSet or (images, targets)")
        return images, targets

    def fit(self, data: Any, *, seconds: float | None = None, epochs: int | None = None,
            verbose: bool = False) -> _Regressor:  # fmt: skip
        """Train on a LandmarkSet or (images, targets) for ``epochs`` or until ``seconds`` pass."""
        import keras

        images, targets = self._data(data, need_targets=True)
        if seconds is not None and not float(seconds) > 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        t0 = time.perf_counter()
        keras.utils.set_random_seed(self.settings["seed"])
        self.size, channels = int(images.shape[1]), int(images.shape[-1])
        self.network = self._build(self.size, channels)
        self.network.compile(optimizer=keras.optimizers.Adam(self.settings["learning_rate"]), loss=self._loss())
        clock = _wall_clock(None if seconds is None else float(seconds), t0)
        self.network.fit(
            images.astype(np.float32) / 255.0, self._encode(targets), batch_size=self.settings["batch_size"],
            epochs=self.settings["epochs"] if epochs is None else int(epochs), shuffle=True,
            callbacks=[clock], verbose=2 if verbose else 0,
        )  # fmt: skip
        # epochs of training, a fraction when the time budget stopped one midway
        self.epochs_run = clock.batches * self.settings["batch_size"] / len(images)
        self.seconds = time.perf_counter() - t0
        return self

    def predict(self, data: Any) -> np.ndarray:
        """(N, 2) predicted (row, column) in pixels."""
        if self.network is None:
            raise RuntimeError(f"{type(self).__name__} is not trained: call fit(...) first")
        images, _ = self._data(data, need_targets=False)
        if images.shape[1] != self.size:
            raise ValueError(f"images of {images.shape[1]} px do not fit this model, trained on {self.size} px")
        out = []
        for i in range(0, len(images), 64):
            out.append(np.asarray(self.network.predict_on_batch(images[i : i + 64].astype(np.float32) / 255.0)))
        return self._decode(np.concatenate(out))

    # subclasses
    def _build(self, size: int, channels: int) -> Any:
        raise NotImplementedError

    def _loss(self) -> Any:
        raise NotImplementedError

    def _encode(self, targets: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _decode(self, outputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class CoordinateRegressor(_Regressor):
    """A CNN that regresses the landmark's (row, column) directly (mean squared error).

    The targets are ``(position + 0.5) / size`` (0 to 1 across the image).

    References
    ----------
    Payer, C., Stern, D., Bischof, H., & Urschler, M. (2019). Integrating spatial configuration
    into heatmap regression based CNNs for landmark localization. Medical Image Analysis 54,
    207-219 (compares coordinate and heatmap regression).
    """

    title = "coordinate regression CNN"

    def _build(self, size: int, channels: int) -> Any:
        from .networks import coordinate_cnn

        return coordinate_cnn(size, channels)

    def _loss(self) -> Any:
        return "mean_squared_error"

    def _encode(self, targets: np.ndarray) -> np.ndarray:
        return ((targets + 0.5) / self.size).astype(np.float32)

    def _decode(self, outputs: np.ndarray) -> np.ndarray:
        return outputs.astype(np.float64) * self.size - 0.5


class HeatmapRegressor(_Regressor):
    """A fully convolutional network that scores every pixel; the landmark is where the scores peak.

    Trained with a softmax over the pixels against a Gaussian of ``sigma`` px around the landmark
    (cross-entropy). The prediction is the softmax-weighted mean position in the 5x5 window
    around the best pixel (sub-pixel).

    Parameters
    ----------
    sigma : float
        Width of the target Gaussian, in pixels.

    References
    ----------
    Payer, C., Stern, D., Bischof, H., & Urschler, M. (2019). Integrating spatial configuration
    into heatmap regression based CNNs for landmark localization. Medical Image Analysis 54,
    207-219; Tompson, J., et al. (2014). Joint training of a convolutional network and a
    graphical model for human pose estimation. NeurIPS.
    """

    title = "heatmap regression CNN"

    def __init__(self, landmark: str = "carina", *, sigma: float = 1.5, **settings: Any) -> None:
        super().__init__(landmark, **settings)
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.settings["sigma"] = float(sigma)

    def _build(self, size: int, channels: int) -> Any:
        from .networks import heatmap_cnn

        return heatmap_cnn(size, channels)

    def _loss(self) -> Any:
        import keras

        def pixel_softmax_cross_entropy(y_true, y_pred):
            n = keras.ops.shape(y_pred)[0]
            return keras.losses.categorical_crossentropy(
                keras.ops.reshape(y_true, (n, -1)), keras.ops.reshape(y_pred, (n, -1)), from_logits=True)

        return pixel_softmax_cross_entropy

    def _encode(self, targets: np.ndarray) -> np.ndarray:
        grid = np.arange(self.size, dtype=np.float32)
        s2 = 2 * self.settings["sigma"] ** 2
        gy = np.exp(-((grid[None, :] - targets[:, :1].astype(np.float32)) ** 2) / s2)
        gx = np.exp(-((grid[None, :] - targets[:, 1:].astype(np.float32)) ** 2) / s2)
        heat = gy[:, :, None] * gx[:, None, :]
        return (heat / heat.sum(axis=(1, 2), keepdims=True)).astype(np.float32)

    def _decode(self, outputs: np.ndarray) -> np.ndarray:
        n, size = len(outputs), outputs.shape[1]
        flat = outputs.reshape(n, -1).astype(np.float64)
        best = flat.argmax(axis=1)
        by, bx = best // size, best % size
        off = np.arange(-2, 3)
        rows = np.clip(by[:, None] + off[None, :], 0, size - 1)
        cols = np.clip(bx[:, None] + off[None, :], 0, size - 1)
        window = outputs[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].astype(np.float64)
        w = np.exp(window - window.max(axis=(1, 2), keepdims=True))
        w /= w.sum(axis=(1, 2), keepdims=True)
        y = (w * rows[:, :, None]).sum(axis=(1, 2))
        x = (w * cols[:, None, :]).sum(axis=(1, 2))
        return np.stack([y, x], axis=1)
