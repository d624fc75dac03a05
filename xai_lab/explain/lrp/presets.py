"""The LRP explainer and its registered presets (deep Taylor, z+, epsilon).

========================  ===============================================================
registry name             what it is
========================  ===============================================================
``lrp``                   :class:`LRP` with its defaults: epsilon rule (eps=1e-7) on every
                          Conv2D/Dense, ``w_square`` on standalone BatchNorm, Add split by z.
``lrp.epsilon``           epsilon rule with eps=0.1 (a stabilised, less noisy LRP).
``lrp.z_plus``            z+ on every Conv2D/Dense, explaining the raw (possibly negative)
                          target logit.
``deep_taylor``           deep Taylor decomposition (Montavon et al. 2017) as iNNvestigate
                          2.1.2's ``deep_taylor``: z+ on every Conv2D/Dense including the last,
                          bias ignored, relevance starting at ``max(logit, 0)``, average
                          pooling by its gradient, standalone BatchNorm passed through
                          (w^2 rule). Unlike iNNvestigate, Add splits relevance by the z rule
                          (``add="gradient"`` copies it, as iNNvestigate does).
``deep_taylor.bounded``   as ``deep_taylor`` with the z^B rule on the first layer and the input
                          domain ``[low, high] = [0, 1]`` (iNNvestigate's
                          ``deep_taylor.bounded``).
========================  ===============================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..base import Explainer, MapResult, UnsupportedModelError, register
from ..info import MethodInfo
from .propagate import RuleMap, analyzer_for, graph_for
from .rules import RULES, make_rule


@register()
class LRP(Explainer):
    """Layer-wise relevance propagation with a configurable rule per layer type.

    Relevance starts at the target class's logit (the pre-softmax score; a final softmax in
    the model is stripped) on the target output neuron and zero elsewhere, and is propagated
    back to the input with one rule per linear layer (see :mod:`xai_lab.explain.lrp.rules`)
    and the fixed rules of :mod:`xai_lab.explain.lrp.propagate` for ReLU, pooling, reshapes
    and Add. BatchNorm is folded into the Conv2D/Dense right before it (on tensors computed
    from the weights; the model is never modified); a BatchNorm elsewhere is an elementwise
    affine layer explained with ``bn_rule``.

    Parameters
    ----------
    rule : str
        Rule for Conv2D and Dense layers: ``"epsilon"``, ``"z"``, ``"z_plus"``,
        ``"alpha_beta"``, ``"zb"``, ``"w_square"`` or ``"flat"``.
    conv_rule, dense_rule : str or None
        Override ``rule`` for Conv2D / Dense layers.
    first_rule : str or None
        Rule for the layer(s) reading the input (``"zb"`` for a bounded pixel domain,
        ``"w_square"`` or ``"flat"`` for an unbounded one); None: the layer type's rule.
    bn_rule : str
        Rule for a BatchNorm that is not folded (``"w_square"`` passes relevance through
        unchanged; ``"gradient"`` multiplies it by ``gamma / sqrt(var + eps)``, which is
        what iNNvestigate 2.1.2's ``deep_taylor`` does).
    fold_batchnorm : bool
        Fold each BatchNorm into the Conv2D/Dense right before it (default). With
        ``fold_batchnorm=False, bn_rule="gradient"`` the deep Taylor presets reproduce
        iNNvestigate 2.1.2 on networks with BatchNorm too.
    epsilon : float
        Stabiliser of the epsilon rule.
    alpha, beta : float
        Weights of the alpha-beta rule (``alpha - beta = 1``).
    low, high : float or sequence of float
        Input domain of the ``zb`` rule: scalars or one value per channel (in the model's
        input units; our models see [0, 1]).
    add : {"z", "gradient"}
        Relevance through Add: split in proportion to the summands (``"z"``, conserving) or
        copied to each (``"gradient"``, iNNvestigate 2.1.2's deep Taylor).
    avgpool : {"z", "gradient"}
        Relevance through (global) average pooling: ``R_i = x_i / sum x * R`` (``"z"``,
        conserving) or spread evenly over the window (``"gradient"``, iNNvestigate 2.1.2's
        deep Taylor; relevance landing on zero activations is lost at the ReLU below).
    output_relu : bool
        Start from ``max(logit, 0)`` instead of the logit (deep Taylor explains positive
        evidence only: a negative target logit gives an all-zero map).
    batch_size : int
        At most this many images per compiled call; fewer where the pass's largest tensor
        would exceed :data:`~xai_lab.models.working_set.WORKING_SET_BYTES` (16 MiB: 32
        images of 64x64 under the zoo's cnn, 2 of 224x224), which keeps the memory-bound steps
        in cache and bounds peak memory.

    References
    ----------
    Bach, S., Binder, A., Montavon, G., Klauschen, F., Müller, K.-R., Samek, W. (2015). On
    pixel-wise explanations for non-linear classifier decisions by layer-wise relevance
    propagation. PLoS ONE 10(7): e0130140.
    Montavon, G., Lapuschkin, S., Binder, A., Samek, W., Müller, K.-R. (2017). Explaining
    nonlinear classification decisions with deep Taylor decomposition. Pattern Recognition
    65: 211-222.
    """

    name = "lrp"
    predicts = True
    info = MethodInfo(
        "LRP (ε = 1e-7)", signed=True,
        meaning="the score of {target} passed back layer by layer to the pixels (the values "
                "sum to the score)",
        high="raised the score of {target}", low="lowered the score of {target}",
    )
    reference = (
        "Bach et al. (2015) On pixel-wise explanations for non-linear classifier decisions by "
        "layer-wise relevance propagation. PLoS ONE 10(7): e0130140."
    )

    def __init__(
        self,
        rule: str = "epsilon",
        *,
        conv_rule: str | None = None,
        dense_rule: str | None = None,
        first_rule: str | None = None,
        bn_rule: str = "w_square",
        fold_batchnorm: bool = True,
        epsilon: float = 1e-7,
        alpha: float = 1.0,
        beta: float = 0.0,
        low: float | Any = 0.0,
        high: float | Any = 1.0,
        add: str = "z",
        avgpool: str = "z",
        output_relu: bool = False,
        batch_size: int = 64,
    ) -> None:
        for label, value in (("rule", rule), ("conv_rule", conv_rule),
                             ("dense_rule", dense_rule), ("first_rule", first_rule),
                             ("bn_rule", bn_rule)):
            if value is not None and value not in RULES:
                raise ValueError(
                    f"{label}={value!r} is not an LRP rule; choose one of {', '.join(sorted(RULES))}"
                )
        if add not in ("z", "gradient"):
            raise ValueError(f"add must be 'z' or 'gradient', got {add!r}")
        if avgpool not in ("z", "gradient"):
            raise ValueError(f"avgpool must be 'z' or 'gradient', got {avgpool!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        low_p = low if np.isscalar(low) else [float(v) for v in np.ravel(low)]
        high_p = high if np.isscalar(high) else [float(v) for v in np.ravel(high)]
        super().__init__(
            rule=rule, conv_rule=conv_rule, dense_rule=dense_rule, first_rule=first_rule,
            bn_rule=bn_rule, fold_batchnorm=bool(fold_batchnorm), epsilon=float(epsilon), alpha=float(alpha), beta=float(beta),
            low=low_p, high=high_p, add=add, avgpool=avgpool, output_relu=bool(output_relu),
            batch_size=int(batch_size),
        )
        settings = {"epsilon": epsilon, "alpha": alpha, "beta": beta, "low": low, "high": high}
        self._rules = RuleMap(
            conv=make_rule(conv_rule or rule, **settings),
            dense=make_rule(dense_rule or rule, **settings),
            bn=make_rule(bn_rule, **settings),
            first=None if first_rule is None else make_rule(first_rule, **settings),
            add=add,
            avgpool=avgpool,
            output_relu=bool(output_relu),
        )
        self._key = repr(sorted((k, repr(v)) for k, v in self.parameters.items()
                                if k != "batch_size"))

    def check_model(self, model: Any) -> None:
        graph_for(model, self.parameters["fold_batchnorm"])  # raises UnsupportedModelError naming the layer

    def degenerate_reason(self, code: str, heatmap: np.ndarray, logits: np.ndarray, target: int,
                          prediction: int, layer: str | None, model: Any) -> str:
        score = float(logits[target])
        if code == "zero" and self.parameters["output_relu"] and score <= 0:
            why = (" (the class was predicted because the other classes scored lower still)"
                   if target == prediction and len(logits) > 1 else "")
            return (f"no positive evidence for {{target}}: its score (logit) is {score:.3g}, not "
                    f"positive, and {self.title} distributes only a positive score, so the map is "
                    f"zero everywhere{why}")
        return super().degenerate_reason(code, heatmap, logits, target, prediction, layer, model)

    def analyzer(self, model: Any):
        """The compiled analyzer for ``model`` (cached per model and settings)."""
        return analyzer_for(model, self._key, self._rules, self.parameters["fold_batchnorm"])

    def _explain_predicting(self, model: Any, x: np.ndarray, targets: np.ndarray
                            ) -> tuple[MapResult, np.ndarray]:
        # The analyzer's forward pass over the canonical graph gives the logits (equal to the
        # model's up to float rounding where BatchNorm is folded): no second forward pass.
        analyzer = self.analyzer(model)
        shape = analyzer.graph.input_shape[1:]
        if any(d is not None and d != g for d, g in zip(shape, x.shape[1:], strict=True)):
            raise UnsupportedModelError(f"images {x.shape[1:]} do not fit the input {shape}")
        attributions, logits = analyzer(x, targets, batch_size=self.parameters["batch_size"])
        return MapResult(maps=attributions.sum(axis=-1), attributions=attributions), logits


_DEEP_TAYLOR = ("how the positive score of {target} is shared among the pixels (the values sum "
                "to the score; zero everywhere when the score is not positive)")

register("lrp.epsilon", rule="epsilon", epsilon=0.1, info=MethodInfo(
    "LRP-ε (ε = 0.1)", signed=True,
    meaning="the score of {target} passed back layer by layer to the pixels, small "
            "contributions damped (the values sum to about the score)",
    high="raised the score of {target}", low="lowered the score of {target}",
))(LRP)
register("lrp.z_plus", rule="z_plus", info=MethodInfo(
    "LRP z+", signed=True,
    meaning="the score of {target} passed back through positive weights only: the map has the "
            "sign of the score everywhere",
    high="carries the score of {target} (when positive)",
    low="carries the score of {target} (when negative)",
))(LRP)
register("deep_taylor", rule="z_plus", output_relu=True, avgpool="gradient", info=MethodInfo(
    "Deep Taylor", signed=False, meaning=_DEEP_TAYLOR,
    high="carries evidence for {target}", low="none",
))(LRP)
register("deep_taylor.bounded", rule="z_plus", first_rule="zb", low=0.0, high=1.0,
         output_relu=True, avgpool="gradient", info=MethodInfo(
    "Deep Taylor (bounded input)", signed=True,
    meaning=_DEEP_TAYLOR[:-1] + "; the first layer's rule can give negative values)",
    high="evidence for {target}", low="evidence against {target}",
))(LRP)
