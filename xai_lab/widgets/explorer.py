"""ExplanationExplorer: pick an image, a method, a class and a layer; see the map and prediction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..viz.figures import explanation_figure, probability_bar
from ..viz.maps import model_image, render_overlay
from ..viz.overlay import enlarge, scale_for, to_png_bytes
from ._common import (
    AUTO_CMAP,
    App,
    check_cmap,
    class_name,
    cmap_options,
    figure_cmap,
    predict,
    resolve_explainers,
    set_figure,
    spatial_layers,
    takes_layer,
    unpack_images,
    with_layer,
)

_AUTO = "(default)"
_PREDICTED = -1


class ExplanationExplorer(App):
    """Explore one model's explanations image by image.

    Every control has a plain method behind it, so the logic runs without a browser::

        explorer = ExplanationExplorer(model, dataset, methods=["gradcam", "saliency"])
        fig = explorer.select(index=3, method="gradcam", target=1, alpha=0.4)
        explorer.explanation        # the Explanation of the current image
        explorer                    # in Jupyter: the interactive widget

    Parameters
    ----------
    model : keras.Model
        Outputs (N, n_classes) logits; never modified.
    images : Dataset or array
        A :class:`xai_lab.data.Dataset` or (N, H, W, C) images (uint8 or float in [0, 1]).
    labels, label_names : optional
        True classes and class names (taken from a Dataset when given one).
    methods : sequence of str, optional
        Registry names offered in the method menu (default all registered methods).
    explainers : mapping of name to Explainer, optional
        Ready explainers with custom settings (offered before ``methods``).
    index, method, target, layer, alpha, cmap
        The initial selection; ``target=None`` explains the predicted class; ``cmap="auto"``
        follows the house rule (diverging for signed maps, sequential otherwise).
    """

    def __init__(
        self,
        model: Any,
        images: Any,
        labels: Any = None,
        label_names: Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
        explainers: Mapping[str, Any] | None = None,
        index: int = 0,
        method: str | None = None,
        target: int | None = None,
        layer: str | None = None,
        alpha: float = 0.6,
        cmap: str = AUTO_CMAP,
    ) -> None:
        self.model = model
        self.images, self.labels, self.label_names = unpack_images(images, labels, label_names)
        self.explainers = resolve_explainers(methods, explainers)
        self.probabilities = predict(model, self.images)
        self.n_classes = int(self.probabilities.shape[1])
        if self.label_names is None:
            self.label_names = [f"class {k}" for k in range(self.n_classes)]
        try:
            self.layers = spatial_layers(model)
        except (AttributeError, ValueError):
            self.layers = []
        self._cache: dict[tuple[Any, ...], Any] = {}
        self.error: str | None = None
        self.index = 0
        self.method = method or next(iter(self.explainers))
        self.target: int | None = None
        self.layer: str | None = None
        self.alpha = float(alpha)
        self.cmap = check_cmap(cmap)
        self._syncing = False
        self.select(index=index, method=self.method, target=target, layer=layer, alpha=alpha, cmap=cmap)

    # ------------------------------------------------------------------ logic
    @property
    def prediction(self) -> tuple[int, float]:
        """(predicted class, its probability) for the current image."""
        p = self.probabilities[self.index]
        k = int(np.argmax(p))
        return k, float(p[k])

    @property
    def method_takes_layer(self) -> bool:
        return takes_layer(self.explainers[self.method])

    def select(self, **changes: Any) -> Any:
        """Change the selection (``index``, ``method``, ``target``, ``layer``, ``alpha``, ``cmap``)
        and return the current figure (``None`` when the method cannot explain this model;
        then :attr:`error` says why)."""
        unknown = set(changes) - {"index", "method", "target", "layer", "alpha", "cmap"}
        if unknown:
            raise TypeError(f"unknown selection {sorted(unknown)}")
        if "index" in changes:
            i = int(changes["index"])
            if not 0 <= i < len(self.images):
                raise IndexError(f"image index {i} outside 0..{len(self.images) - 1}")
            self.index = i
        if "method" in changes and changes["method"] is not None:
            if changes["method"] not in self.explainers:
                raise KeyError(f"unknown method {changes['method']!r}; choose from {list(self.explainers)}")
            self.method = changes["method"]
        if "target" in changes:
            t = changes["target"]
            if t is not None and t != _PREDICTED and not 0 <= int(t) < self.n_classes:
                raise ValueError(f"target class {t} outside 0..{self.n_classes - 1}")
            self.target = None if t is None or t == _PREDICTED else int(t)
        if "layer" in changes:
            layer = changes["layer"]
            layer = None if layer in (None, _AUTO) else str(layer)
            if layer is not None and self.layers and layer not in self.layers:
                raise ValueError(f"layer {layer!r} is not one of {self.layers}")
            self.layer = layer
        if "alpha" in changes:
            a = float(changes["alpha"])
            if not 0.0 <= a <= 1.0:
                raise ValueError(f"alpha must be in [0, 1], got {a}")
            self.alpha = a
        if "cmap" in changes:
            self.cmap = check_cmap(changes["cmap"])
        self._compute()
        self._refresh()
        return self.figure

    def _key(self) -> tuple[Any, ...]:
        layer = self.layer if self.method_takes_layer else None
        return (self.index, self.method, self.target, layer)

    def _compute(self) -> None:
        from ..explain import UnsupportedModelError

        key = self._key()
        if key in self._cache:
            self.error = None
            return
        explainer = with_layer(self.explainers[self.method], key[3])
        try:
            self._cache[key] = explainer.explain(self.model, self.images[self.index : self.index + 1], self.target)
            self.error = None
        except UnsupportedModelError as exc:
            self.error = f"{self.method} cannot explain this model: {exc}"

    @property
    def explanation(self) -> Any:
        """The Explanation of the current image and selection (``None`` after an error)."""
        return None if self.error else self._cache.get(self._key())

    @property
    def figure(self) -> Any:
        """The current image + overlay figure, or ``None`` after an error."""
        e = self.explanation
        if e is None:
            return None
        return explanation_figure(e, 0, alpha=self.alpha, cmap=figure_cmap(self.cmap),
                                  label_names=self.label_names)

    def probability_figure(self) -> Any:
        return probability_bar(self.probabilities[self.index], self.label_names,
                               title=f"prediction for image #{self.index}")  # fmt: skip

    def summary(self) -> str:
        """One line: the image, its true class, the prediction and what the map explains."""
        k, p = self.prediction
        truth = "" if self.labels is None else f", true {class_name(self.label_names, int(self.labels[self.index]))}"
        explained = class_name(self.label_names, k if self.target is None else self.target)
        e = self.explanation
        title = e.title if e is not None else self.method
        note = f" ({e.note(0, self.label_names)})" if e is not None and e.flagged[0] else ""
        return (f"image #{self.index}{truth}: predicted {class_name(self.label_names, k)} "
                f"(p={p:.2f}); {title} explains {explained}{note}")  # fmt: skip

    # ------------------------------------------------------------------ display
    def static_figure(self) -> Any:
        fig = self.figure
        return fig if fig is not None else self.probability_figure()

    def static_png(self) -> bytes | None:
        e = self.explanation
        if e is None:
            return None
        image = model_image(e, 0)
        size = 200
        mapped = render_overlay(e, 0, self.label_names, size=size, alpha=self.alpha,
                                cmap=figure_cmap(self.cmap))
        pair = np.concatenate([enlarge(image, scale_for(image.shape, size)), mapped], axis=1)
        return to_png_bytes(pair)

    def _build(self) -> Any:
        import ipywidgets as widgets

        from ._common import figure_output

        n = len(self.images)
        self.w_index = widgets.IntSlider(value=self.index, min=0, max=n - 1, description="image",
                                         continuous_update=False)  # fmt: skip
        self.w_method = widgets.Dropdown(options=list(self.explainers), value=self.method, description="method")
        self.w_target = widgets.Dropdown(
            options=[("predicted class", _PREDICTED)] + [(name, k) for k, name in enumerate(self.label_names)],
            value=_PREDICTED if self.target is None else self.target,
            description="explain",
        )
        self.w_layer = widgets.Dropdown(options=[_AUTO, *self.layers], value=self.layer or _AUTO,
                                        description="layer")  # fmt: skip
        self.w_alpha = widgets.FloatSlider(value=self.alpha, min=0.0, max=1.0, step=0.05,
                                           description="opacity", continuous_update=False)  # fmt: skip
        self.w_cmap = widgets.Dropdown(options=cmap_options(), value=self.cmap, description="colours")
        self.w_info = widgets.HTML()
        self.w_figure = figure_output(width=700)
        self.w_probs = figure_output(width=400)
        for w in (self.w_index, self.w_method, self.w_target, self.w_layer, self.w_alpha, self.w_cmap):
            w.observe(self._on_change, names="value")
        for w, cls in ((self.w_index, "xai-image"), (self.w_method, "xai-method"), (self.w_alpha, "xai-alpha"),
                       (self.w_info, "xai-info")):  # fmt: skip
            w.add_class(cls)
        controls = widgets.VBox([self.w_index, self.w_method, self.w_target, self.w_layer, self.w_alpha,
                                 self.w_cmap])  # fmt: skip
        box = widgets.VBox([widgets.HBox([controls, self.w_probs]), self.w_info, self.w_figure])
        self._widget = box
        self._refresh()
        return box

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        name = {id(self.w_index): "index", id(self.w_method): "method", id(self.w_target): "target",
                id(self.w_layer): "layer", id(self.w_alpha): "alpha", id(self.w_cmap): "cmap"}[id(change["owner"])]  # fmt: skip
        self.select(**{name: change["new"]})

    def _refresh(self) -> None:
        if self._widget is None:
            return
        self._syncing = True
        try:
            self.w_index.value = self.index
            self.w_method.value = self.method
            self.w_target.value = _PREDICTED if self.target is None else self.target
            self.w_layer.value = self.layer or _AUTO
            self.w_layer.disabled = not self.method_takes_layer
            self.w_alpha.value = self.alpha
            self.w_cmap.value = self.cmap
        finally:
            self._syncing = False
        fig = self.figure
        if fig is None:
            self.w_info.value = f"<b style='color:#b00'>{self.error}</b>"
            self.w_figure.layout.display = "none"
        else:
            e = self.explanation
            self.w_info.value = f"{self.summary()} &middot; {e.seconds * 1000:.0f} ms"
            self.w_figure.layout.display = None
            set_figure(self.w_figure, fig)
        set_figure(self.w_probs, self.probability_figure())
