"""Deep Taylor decomposition and layer-wise relevance propagation (LRP) for Keras 3.

``LRP`` (registered as ``lrp``) with presets ``lrp.epsilon``, ``lrp.z_plus``,
``deep_taylor`` and ``deep_taylor.bounded`` (see :mod:`.presets`); the rules in
:mod:`.rules`; the model canonisation (BatchNorm folding, softmax stripping, the supported
layers) in :mod:`.canonize`; propagation through non-linear layers in :mod:`.propagate`.
"""

from .canonize import SUPPORTED_LAYERS, CanonicalGraph, canonize, forward
from .presets import LRP
from .rules import RULES, make_rule

__all__ = ["LRP", "RULES", "SUPPORTED_LAYERS", "CanonicalGraph", "canonize", "forward", "make_rule"]
