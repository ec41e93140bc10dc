"""Reduce the learning rate on a plateau: Keras's ``ReduceLROnPlateau``, resumable."""

from __future__ import annotations

from typing import Annotated, Literal

import keras
from pydantic import Field

from kerastricks.callbacks.resumable import ResumableMixin
from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import NonNegativeFloat, NonNegativeInt, PositiveInt


class ResumableReduceLROnPlateau(ResumableMixin, keras.callbacks.ReduceLROnPlateau):
    """``keras.callbacks.ReduceLROnPlateau`` whose counters survive ``--resume``.

    The reduced learning rate itself lives in the optimizer's variables, which
    the trainer's checkpoint restores.
    """

    state_attributes = ("wait", "best", "cooldown_counter")


@register_technique(
    "reduce_lr_on_plateau",
    description="Multiply the learning rate by `factor` when the monitored metric plateaus.",
)
class ReduceLROnPlateau(Technique):
    """Cut the learning rate when ``monitor`` stops improving.

    Needs a constant learning rate (``[schedule] name = "constant"``): a
    schedule already decides the rate at every step.

    Args:
        monitor: Metric to watch.
        factor: Multiplier applied to the rate, in (0, 1).
        patience: Epochs without improvement before reducing.
        min_delta: Smallest change that counts as an improvement.
        cooldown: Epochs to wait after a reduction before watching again.
        min_lr: Lower bound of the rate.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: Annotated[float, Field(gt=0, lt=1)] = 0.1,
        patience: PositiveInt = 3,
        min_delta: NonNegativeFloat = 1e-4,
        cooldown: NonNegativeInt = 0,
        min_lr: NonNegativeFloat = 0.0,
        mode: Literal["auto", "min", "max"] = "auto",
    ) -> None:
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.mode = mode

    def check(self, recipe) -> None:
        recipe.require_metric(self.monitor, key="techniques.reduce_lr_on_plateau.monitor")
        if recipe.schedule["name"] != "constant":
            raise ConfigError(
                "reduce_lr_on_plateau sets the rate itself and cannot follow a schedule",
                file=recipe.source,
                key="schedule.name",
                expected="'constant'",
                received=recipe.schedule["name"],
            )

    def callbacks(self, ctx: TrainContext) -> list:
        return [
            ResumableReduceLROnPlateau(
                monitor=self.monitor,
                factor=self.factor,
                patience=self.patience,
                min_delta=self.min_delta,
                cooldown=self.cooldown,
                min_lr=self.min_lr,
                mode=self.mode,
            )
        ]
