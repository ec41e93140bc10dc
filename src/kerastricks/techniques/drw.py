"""Deferred re-weighting (DRW) of a long-tail loss (Cao et al. 2019)."""

from __future__ import annotations

from typing import Optional

from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import Fraction, NonNegativeInt

#: Losses that hold per-class weights DRW can switch.
DRW_LOSSES = ("ldam", "logit_adjusted", "balanced_softmax")


@register_technique(
    "drw",
    description="Deferred re-weighting: class-balanced loss weights from a late epoch on (LDAM-DRW).",
)
class DRW(Technique):
    """Train with unit class weights, then switch the loss to class-balanced weights.

    Args:
        start_epoch: First (0-based) epoch with class-balanced weights;
            default ``round(0.8 * epochs)`` (Cao et al.: epoch 160 of 200).
        beta: Effective-number hyper-parameter of the weights (0.9999).
    """

    def __init__(self, start_epoch: Optional[NonNegativeInt] = None, beta: Fraction = 0.9999) -> None:
        self.start_epoch = start_epoch
        self.beta = beta
        self._loss = None

    def check(self, recipe) -> None:
        if recipe.loss["name"] not in DRW_LOSSES:
            raise ConfigError("drw re-weights a long-tail loss", file=recipe.source, key="loss.name",
                              expected=f"one of {', '.join(DRW_LOSSES)}", received=recipe.loss["name"])

    def apply_to_loss(self, loss, ctx: TrainContext):
        self._loss = loss
        return loss

    def callbacks(self, ctx: TrainContext):
        start = self.start_epoch if self.start_epoch is not None else round(0.8 * ctx.epochs)
        ctx.notes[self.name] = {"start_epoch": int(start)}
        from kerastricks.callbacks.deferred_reweighting import DeferredReweighting

        return [DeferredReweighting(int(start), beta=self.beta, loss=self._loss)]
