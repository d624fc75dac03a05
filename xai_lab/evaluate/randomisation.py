"""Sanity checks by randomisation: does the map change when the model stops knowing anything?

After

    Adebayo, J., Gilmer, J., Muelly, M., Goodfellow, I., Hardt, M. & Kim, B. (2018).
    Sanity checks for saliency maps. NeurIPS 2018. arXiv:1810.03292.

*Model parameter randomisation* re-initialises the weights of a copy of the model, from the
top (output) layer down (``cascading``) or one layer at a time (``independent``), explains
the same images for the same classes again, and measures how similar the new maps are to the
original ones. A method whose maps stay similar once the weights are random does not explain
what the model learned. *Data (label) randomisation* trains a copy on shuffled labels and
compares its maps with the original model's.

Similarity is Spearman rank correlation (of the absolute maps by default, as in the paper)
or SSIM (Wang et al. 2004). The user's model is never touched: every randomisation works on
a clone (``keras.models.clone_model`` + ``set_weights`` on the clone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, stats

from ..explain.explanation import Explanation
from .base import Metric, check_explanation, explainer_for, model_images

MODES = ("cascading", "independent")
MEASURES = ("spearman", "ssim")


# ------------------------------------------------------------------------------ similarity
def ssim(
    a: np.ndarray,
    b: np.ndarray,
    data_range: float = 1.0,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Mean structural similarity of two 2-D maps (Wang et al. 2004).

    Local statistics use an 11 x 11 circular Gaussian window of ``sigma`` 1.5 (the paper's
    choice); the mean is taken over the positions where the window fits inside the image
    (as scikit-image's ``structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False)``).

    References
    ----------
    Wang, Z., Bovik, A. C., Sheikh, H. R. & Simoncelli, E. P. (2004). Image quality
    assessment: from error visibility to structural similarity. IEEE Transactions on Image
    Processing 13(4), 600-612.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim needs two 2-D maps of the same shape, got {a.shape} and {b.shape}")
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    truncate = 3.5  # radius int(3.5 * 1.5 + 0.5) = 5 -> an 11 x 11 window
    radius = int(truncate * sigma + 0.5)

    def blur(z: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(z, sigma=sigma, truncate=truncate, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    if min(a.shape) > 2 * radius:
        s = s[radius:-radius, radius:-radius]
    return float(s.mean())


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (flattened); NaN when either is constant."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    if a.max() == a.min() or b.max() == b.min():
        return float("nan")
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def map_similarity(
    maps_a: np.ndarray, maps_b: np.ndarray, measure: str = "spearman", absolute: bool = True
) -> np.ndarray:
    """Per-image similarity of two batches of maps, float64 (N,).

    Parameters
    ----------
    measure : {"spearman", "ssim"}
        ``spearman``: rank correlation (NaN where a map is constant: it has no ranking).
        ``ssim``: each map is scaled by its largest absolute value first (an all-zero map
        stays zero), data range 1 for absolute maps, 2 for signed ones.
    absolute : bool
        Compare ``|map|`` (Adebayo et al.'s default) or the signed maps.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown similarity {measure!r}; choose one of {MEASURES}")
    a = np.asarray(maps_a, dtype=np.float64)
    b = np.asarray(maps_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps of shape {a.shape} and {b.shape} cannot be compared")
    if absolute:
        a, b = np.abs(a), np.abs(b)
    out = np.full(len(a), np.nan)
    for i in range(len(a)):
        if not (np.isfinite(a[i]).all() and np.isfinite(b[i]).all()):
            continue
        if measure == "spearman":
            out[i] = spearman(a[i], b[i])
        else:
            sa, sb = np.abs(a[i]).max(), np.abs(b[i]).max()
            na = a[i] / sa if sa > 0 else a[i]
            nb = b[i] / sb if sb > 0 else b[i]
            out[i] = ssim(na, nb, data_range=1.0 if absolute else 2.0)
    return out


# ------------------------------------------------------------------------------ model copies
def weighted_layers(model: Any) -> list[str]:
    """Names of the model's top-level layers that hold trainable weights, input to output.

    A nested model (a keras.applications backbone) counts as one layer.
    """
    return [layer.name for layer in model.layers if layer.trainable_weights]


def clone_with_weights(model: Any) -> Any:
    """A copy of ``model`` with the same architecture and weights; ``model`` is not touched."""
    import keras

    try:
        clone = keras.models.clone_model(model)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise ValueError(
            f"cannot copy model {getattr(model, 'name', model)!r} for a randomisation test "
            f"(keras.models.clone_model failed: {exc}); use a functional or Sequential model"
        ) from exc
    clone.set_weights(model.get_weights())
    return clone


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return z * std


def randomise_layer(clone: Any, name: str, seed: int) -> None:
    """Re-initialise the trainable weights of layer ``name`` of ``clone`` in place.

    Each trainable array is replaced by truncated-normal draws (within two standard
    deviations, as in Adebayo et al.) with the standard deviation of the array it replaces,
    so activations keep their scale; constant arrays (untrained zero biases, BatchNorm at
    initialisation) and non-trainable state (BatchNorm moving statistics) are kept. The draw
    depends only on ``seed`` and the layer's name, so cascading and independent tests draw
    the same weights for the same layer.
    """
    layer = clone.get_layer(name)
    key = [seed] + [ord(c) for c in name]
    rng = np.random.default_rng(key)
    values = []
    for variable in layer.weights:
        arr = np.asarray(variable.numpy())
        std = float(arr.std())
        if variable.trainable and std > 0:
            arr = _truncated_normal(rng, arr.shape, std).astype(arr.dtype)
        values.append(arr)
    layer.set_weights(values)


# ------------------------------------------------------------------------------ results
@dataclass
class RandomisationResult:
    """Similarity of the maps after each randomisation step.

    Attributes
    ----------
    mode : str
        ``cascading`` (row ``i``: layers ``layers[0..i]`` randomised, from the top down) or
        ``independent`` (row ``i``: only ``layers[i]``) or ``labels`` (one row: a model
        trained on shuffled labels).
    measure : str
        ``spearman`` or ``ssim``.
    layers : list of str
        The layer randomised at each step (top layer first).
    similarity : ndarray, float64, shape (n_layers, N)
        Similarity of each image's map to its original map after each step; NaN where
        undefined (a constant map has no rank correlation).
    """

    mode: str
    measure: str
    layers: list[str]
    similarity: np.ndarray

    def to_frame(self) -> Any:
        """A tidy pandas DataFrame: step, layer, image, similarity."""
        import pandas as pd

        n_layers, n = self.similarity.shape
        return pd.DataFrame(
            {
                "mode": self.mode,
                "measure": self.measure,
                "step": np.repeat(np.arange(1, n_layers + 1), n),
                "layer": np.repeat(np.array(self.layers, dtype=object), n),
                "image": np.tile(np.arange(n), n_layers),
                "similarity": self.similarity.ravel(),
            }
        )


# ------------------------------------------------------------------------------ metrics
class ModelParameterRandomisation(Metric):
    """Model parameter randomisation test (Adebayo et al. 2018).

    Parameters
    ----------
    mode : {"cascading", "independent"}
        Randomise from the top layer down, accumulating, or one layer at a time.
    measure : {"spearman", "ssim"}
        Similarity between the original and the randomised-model map; see
        :func:`map_similarity`.
    absolute : bool
        Compare absolute maps (default, as in the paper) or signed ones.
    explainer : Explainer or str, optional
        The explainer to re-run; by default the one that made the explanation, rebuilt with
        ``xai_lab.explain.get(explanation.method, **explanation.parameters)``.
    layers : list of str, optional
        Layers to randomise (default: every top-level layer with trainable weights).
    seed : int
        Seed of the random weights.
    verify : bool
        After the last step, explain once more on a fresh copy with the final weights and
        raise if the maps differ (an explainer that cached weights would otherwise make every
        similarity silently wrong). Costs one extra explanation.

    Notes
    -----
    ``metric(model, explanation, images)`` returns one score per image: for ``cascading`` the
    similarity once every layer is randomised, for ``independent`` the mean similarity over
    the layers. Lower means the map depends on the weights (a passed sanity check), so
    ``higher_is_better`` is False. :meth:`layer_table` gives the whole per-layer table.
    Targets are the explanation's targets, so the randomised model is asked about the same
    class. The model given is never modified.
    """

    name = "model_randomisation"
    higher_is_better = False
    reference = (
        "Adebayo, J. et al. (2018). Sanity checks for saliency maps. NeurIPS."
    )

    def __init__(
        self,
        mode: str = "cascading",
        measure: str = "spearman",
        absolute: bool = True,
        explainer: Any = None,
        layers: list[str] | None = None,
        seed: int = 0,
        verify: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
        if measure not in MEASURES:
            raise ValueError(f"unknown similarity {measure!r}; choose one of {MEASURES}")
        super().__init__(mode=mode, measure=measure, absolute=bool(absolute), seed=int(seed))
        self.mode = mode
        self.measure = measure
        self.absolute = bool(absolute)
        self.explainer = explainer
        self.layers = None if layers is None else list(layers)
        self.seed = int(seed)
        self.verify = bool(verify)

    def randomised_maps(
        self, model: Any, explanation: Explanation, images: Any = None
    ) -> tuple[list[str], np.ndarray]:
        """The layers randomised at each step (top first) and the maps after each step.

        Returns
        -------
        layers : list of str
        maps : ndarray, float32, shape (n_layers, N, H, W)
            The explanation's images explained again (same targets) after each step.
        """
        explanation = check_explanation(explanation)
        x = model_images(explanation, images)
        explainer = explainer_for(explanation, self.explainer)
        names = weighted_layers(model) if self.layers is None else list(self.layers)
        if not names:
            raise ValueError("the model has no layer with trainable weights to randomise")
        order = names[::-1]  # top (output) layer first
        clone = clone_with_weights(model)
        original = clone.get_weights()
        maps = []
        for name in order:
            if self.mode == "independent":
                clone.set_weights(original)
            randomise_layer(clone, name, self.seed)
            maps.append(explainer.explain(clone, x, target=explanation.targets).maps)
        if self.verify:
            self._verify_live_weights(clone, explainer, x, explanation.targets, maps[-1])
        return order, np.stack(maps)

    @staticmethod
    def _verify_live_weights(clone: Any, explainer: Any, x: np.ndarray, targets: np.ndarray, last: np.ndarray) -> None:
        """Guard against an explainer that cached the clone's weights from an earlier step.

        The steps reuse one clone whose weights change in place. A fresh copy with the final
        weights must give the same maps; otherwise the explainer read stale weights and
        every similarity would be silently wrong.
        """
        fresh = clone_with_weights(clone)
        again = explainer.explain(fresh, x, target=targets).maps
        scale = max(float(np.abs(again).max()), 1e-12)
        if not np.allclose(last, again, rtol=1e-3, atol=1e-4 * scale, equal_nan=True):
            raise RuntimeError(
                f"{getattr(explainer, 'name', explainer)!r} gave different maps for the same "
                "weights on a model changed in place and on a fresh copy: it caches weights, so "
                "the randomisation test cannot reuse one clone (pass verify=False to skip this check "
                "only if the explainer is known to be stochastic)"
            )

    def layer_table(self, model: Any, explanation: Explanation, images: Any = None) -> RandomisationResult:
        """Similarity to the original maps after each randomisation step, top layer first."""
        order, maps = self.randomised_maps(model, explanation, images)
        return self.compare(explanation, order, maps)

    def compare(
        self, explanation: Explanation, layers: list[str], maps: np.ndarray, measure: str | None = None
    ) -> RandomisationResult:
        """A :class:`RandomisationResult` from :meth:`randomised_maps` output.

        ``measure`` overrides the metric's own, so one set of randomised maps can be scored
        with both Spearman correlation and SSIM.
        """
        measure = self.measure if measure is None else measure
        rows = [map_similarity(explanation.maps, m, measure, self.absolute) for m in maps]
        return RandomisationResult(self.mode, measure, list(layers), np.stack(rows))

    def __call__(self, model: Any, explanation: Explanation, images: Any = None, masks: Any = None) -> np.ndarray:
        return self.score(self.layer_table(model, explanation, images))

    def score(self, result: RandomisationResult) -> np.ndarray:
        """One score per image from a :meth:`layer_table` result (see the class notes)."""
        if result.mode == "cascading":
            return result.similarity[-1].astype(np.float64)
        sims = result.similarity
        n_ok = np.isfinite(sims).sum(axis=0)
        out = np.full(sims.shape[1], np.nan)
        ok = n_ok > 0
        out[ok] = np.nansum(sims[:, ok], axis=0) / n_ok[ok]
        return out


def default_train(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, seed: int) -> Any:
    """Train ``model`` (a fresh copy) on ``(x, y)``.

    Uses :func:`xai_lab.training.fit` (no validation split, so no best-epoch selection);
    falls back to Keras ``Model.fit`` with Adam and cross-entropy on logits when the training
    package does not offer ``fit``.
    """
    import keras

    keras.utils.set_random_seed(seed)
    from .. import training

    fit = getattr(training, "fit", None)
    if fit is not None:
        fit(model, (x, y), None, epochs=epochs, batch_size=batch_size, seed=seed)
        return model
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    return model


class LabelRandomisation(Metric):
    """Data (label) randomisation test (Adebayo et al. 2018).

    A copy of the model's architecture with fresh weights is trained on the training images
    with their labels shuffled; the explanation's images are explained again on that model
    (same targets) and compared with the original maps. Low similarity is a passed check.

    Parameters
    ----------
    train_images, train_labels : array-like
        Training data (uint8 or float images in [0, 1], integer labels).
    train_fn : callable, optional
        ``train_fn(model, x, y) -> model`` trains the fresh copy on shuffled labels; default
        :func:`default_train` (``xai_lab.training.fit`` for ``epochs`` epochs). Adebayo et
        al. train until the network memorises the random labels; a few epochs on a small
        set test a weaker version of the claim (``train_accuracy`` says how far it got).
    epochs, batch_size : int
        For the default training.
    measure, absolute, explainer, seed
        As in :class:`ModelParameterRandomisation`.

    Notes
    -----
    The trained random-label model is kept (``random_model``) and reused by later calls
    with the same model, so several explainers can be checked against one training run.
    """

    name = "label_randomisation"
    higher_is_better = False
    reference = "Adebayo, J. et al. (2018). Sanity checks for saliency maps. NeurIPS."

    def __init__(
        self,
        train_images: Any,
        train_labels: Any,
        train_fn: Callable[[Any, np.ndarray, np.ndarray], Any] | None = None,
        epochs: int = 3,
        batch_size: int = 64,
        measure: str = "spearman",
        absolute: bool = True,
        explainer: Any = None,
        seed: int = 0,
    ) -> None:
        from ..explain.base import as_model_input

        if measure not in MEASURES:
            raise ValueError(f"unknown similarity {measure!r}; choose one of {MEASURES}")
        super().__init__(epochs=int(epochs), batch_size=int(batch_size), measure=measure,
                         absolute=bool(absolute), seed=int(seed))
        self.x = as_model_input(train_images)
        self.y = np.asarray(train_labels).astype(np.int64).ravel()
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} training images but {len(self.y)} labels")
        self.train_fn = train_fn
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.measure = measure
        self.absolute = bool(absolute)
        self.explainer = explainer
        self.seed = int(seed)
        # Shared by shallow copies (the runner copies a metric to give it an explainer),
        # so one training run serves every explainer of the same model.
        self._cache: dict[str, Any] = {}

    @property
    def random_model(self) -> Any:
        """The last model trained on shuffled labels (None before the first call)."""
        return self._cache.get("model")

    @property
    def train_accuracy(self) -> float:
        """Accuracy of :attr:`random_model` on its shuffled training labels (NaN before)."""
        return float(self._cache.get("accuracy", float("nan")))

    def fit_random_model(self, model: Any) -> Any:
        """Train (once per model) a fresh copy of ``model``'s architecture on shuffled labels."""
        if self._cache.get("model") is not None and self._cache.get("for") is model:
            return self._cache["model"]
        import keras

        keras.utils.set_random_seed(self.seed)
        fresh = keras.models.clone_model(model)  # new layers, freshly initialised weights
        y = np.random.default_rng(self.seed).permutation(self.y)
        if self.train_fn is None:
            trained = default_train(fresh, self.x, y, self.epochs, self.batch_size, self.seed)
        else:
            trained = self.train_fn(fresh, self.x, y)
        from .base import predict_logits

        pred = predict_logits(trained, self.x).argmax(axis=1)
        self._cache.update(model=trained, accuracy=float((pred == y).mean()))
        self._cache["for"] = model
        return trained

    def __call__(self, model: Any, explanation: Explanation, images: Any = None, masks: Any = None) -> np.ndarray:
        explanation = check_explanation(explanation)
        x = model_images(explanation, images)
        explainer = explainer_for(explanation, self.explainer)
        random_model = self.fit_random_model(model)
        e = explainer.explain(random_model, x, target=explanation.targets)
        return map_similarity(explanation.maps, e.maps, self.measure, self.absolute)
