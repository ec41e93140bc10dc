"""Exponential moving average of the weights, through Keras's optimizer option."""

from __future__ import annotations

from typing import Optional

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import OpenUnitInterval, PositiveInt


@register_technique(
    "ema",
    description="Keep an exponential moving average of the weights; validate and export with it.",
)
class EMA(Technique):
    """Weight EMA (Polyak averaging) using Keras's own ``use_ema`` optimizer option.

    The average is updated every step as
    ``avg <- momentum * avg + (1 - momentum) * w``. With
    ``evaluate_with_ema`` the validation metrics (and so the best checkpoint)
    are computed with the averaged weights, through Keras's
    ``SwapEMAWeights`` callback; the model left at the end of ``fit`` holds
    the averaged weights (Keras's ``finalize_variable_values``).

    Args:
        momentum: EMA momentum in [0, 1); 0.99 averages over ~100 steps.
        overwrite_frequency: If set, copy the average into the model every
            this many steps (Keras's ``ema_overwrite_frequency``).
        evaluate_with_ema: Validate with the averaged weights.

    Reference:
        Polyak & Juditsky 1992, "Acceleration of stochastic approximation by averaging".
    """

    def __init__(
        self,
        momentum: OpenUnitInterval = 0.99,
        overwrite_frequency: Optional[PositiveInt] = None,
        evaluate_with_ema: bool = True,
    ) -> None:
        self.momentum = momentum
        self.overwrite_frequency = overwrite_frequency
        self.evaluate_with_ema = evaluate_with_ema

    def check(self, recipe) -> None:
        if recipe.optimizer.get("use_ema"):
            raise ConfigError("set the weight EMA in one place only", file=recipe.source, key="optimizer.use_ema",
                              expected="false (the EMA comes from techniques.ema)", received="true")

    def optimizer_options(self, options: dict, ctx: TrainContext) -> dict:
        options = dict(options)
        options["use_ema"] = True
        options["ema_momentum"] = self.momentum
        options["ema_overwrite_frequency"] = self.overwrite_frequency
        return options

    def callbacks(self, ctx: TrainContext) -> list:
        if not self.evaluate_with_ema:
            return []
        swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=False)
        ctx.eval_swap = swap  # the best-model keeper copies the averaged weights through it
        return [swap]
