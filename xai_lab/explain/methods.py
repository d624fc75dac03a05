"""Imports every method module so that each registers itself (see ``base.register``)."""

# One line per method module; keep sorted.
from . import (
    attention,  # noqa: F401
    gradcam,  # noqa: F401
    gradients,  # noqa: F401
    lrp,  # noqa: F401
    occlusion,  # noqa: F401
    shap_methods,  # noqa: F401
    tfexplain,  # noqa: F401
)
