"""Losses: kerastricks's loss components and the builders recipes use.

Components (imported on first access): :class:`SparseCrossentropy` (integer
labels with label smoothing), the long-tail losses (:class:`ClassBalancedLoss`,
:class:`LDAMLoss`, :class:`LogitAdjustedLoss`, :class:`BalancedSoftmaxLoss`),
:class:`SparseCategoricalFocalCrossentropy`, :class:`Huber`. Builders by name:
:data:`LOSSES` / :func:`build_loss` (:mod:`kerastricks.losses.builders`).
"""

from kerastricks._lazy import lazy_exports
from kerastricks.losses.builders import CONTEXT_ARGS, LOSSES, build_loss, needs_class_counts

_EXPORTS = {
    "SparseCrossentropy": "kerastricks.losses.crossentropy:SparseCrossentropy",
    "smoothed_sparse_crossentropy": "kerastricks.losses.crossentropy:smoothed_sparse_crossentropy",
    "Huber": "kerastricks.losses.regression:Huber",
    **{name: f"kerastricks.losses.long_tail:{name}" for name in (
        "BalancedSoftmaxLoss", "ClassBalancedLoss", "LDAMLoss", "LogitAdjustedLoss", "LogitAdjustment",
        "LongTailLoss", "SparseCategoricalFocalCrossentropy", "class_balanced_weights", "ldam_margins",
        "logit_adjust")},
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["CONTEXT_ARGS", "LOSSES", "build_loss", "needs_class_counts", *_EXPORTS]
