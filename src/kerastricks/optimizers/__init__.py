"""Optimizers: kerastricks's own, a wrapper for any optimizer, and the registry recipes use.

- :class:`Adafactor` (factored second moments, sublinear state), :class:`SM3`;
- :class:`AdaptiveGradientClipping` (``AGC``) and :class:`Lookahead` wrap any optimizer;
- ``OPTIMIZERS`` / :func:`build_optimizer`: every Keras optimizer and ours by name
  (see :mod:`kerastricks.optimizers.registry`; importing it does not import Keras).

Classes are imported on first access, so ``import kerastricks.optimizers`` is cheap.
"""

from kerastricks._lazy import lazy_exports
from kerastricks.optimizers.registry import (
    CONTEXT_ARGS,
    OPTIMIZERS,
    build_optimizer,
    validate_optimizer_options,
)

_EXPORTS = {
    "Adafactor": "kerastricks.optimizers.adafactor:Adafactor",
    "SM3": "kerastricks.optimizers.sm3:SM3",
    "AGC": "kerastricks.optimizers.agc:AGC",
    "Lookahead": "kerastricks.optimizers.lookahead:Lookahead",
    "AdaptiveGradientClipping": "kerastricks.optimizers.agc:AdaptiveGradientClipping",
    "unitwise_clip": "kerastricks.optimizers.agc:unitwise_clip",
    "unitwise_norm": "kerastricks.optimizers.agc:unitwise_norm",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["CONTEXT_ARGS", "OPTIMIZERS", "build_optimizer", "validate_optimizer_options", *_EXPORTS]
