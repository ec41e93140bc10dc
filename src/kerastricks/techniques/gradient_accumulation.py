"""Gradient accumulation, through Keras's optimizer option."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique


@register_technique(
    "gradient_accumulation",
    description="Average gradients over `steps` batches before each update (larger effective batch).",
)
class GradientAccumulation(Technique):
    """Accumulate gradients over ``steps`` mini-batches per optimizer update.

    Uses Keras's ``gradient_accumulation_steps`` optimizer option: the
    effective batch size is ``steps * batch_size`` while memory stays that of
    one batch. Learning-rate schedules count *batches*, not updates, in Keras;
    the trainer keeps that convention.

    Args:
        steps: Batches per update (>= 2).
    """

    def __init__(self, steps: Annotated[int, Field(ge=2)] = 4) -> None:
        self.steps = steps

    def check(self, recipe) -> None:
        own = recipe.optimizer.get("gradient_accumulation_steps")
        if own not in (None, self.steps):
            raise ConfigError(
                "set gradient accumulation in one place only",
                file=recipe.source,
                key="optimizer.gradient_accumulation_steps",
                expected=f"unset or {self.steps} (techniques.gradient_accumulation.steps)",
                received=own,
            )

    def optimizer_options(self, options: dict, ctx: TrainContext) -> dict:
        return {**options, "gradient_accumulation_steps": self.steps}
