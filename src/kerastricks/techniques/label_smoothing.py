"""Label smoothing for the cross-entropy loss."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique


@register_technique(
    "label_smoothing",
    description="Train against targets mixed with the uniform distribution (Szegedy et al. 2016).",
)
class LabelSmoothing(Technique):
    """Replace the cross-entropy loss by its label-smoothed form.

    Targets become ``(1 - smoothing) * one_hot + smoothing / C``. Integer labels
    are kept as they are (see :class:`kerastricks.losses.SparseCrossentropy`).

    Args:
        smoothing: ``eps`` in (0, 1); 0.1 is the usual value.
    """

    def __init__(self, smoothing: Annotated[float, Field(gt=0, lt=1)] = 0.1) -> None:
        self.smoothing = smoothing

    def check(self, recipe) -> None:
        if recipe.loss["name"] not in ("auto", "crossentropy"):
            raise ConfigError(
                "label_smoothing applies to the cross-entropy loss",
                file=recipe.source,
                key="loss.name",
                expected="'crossentropy' or 'auto'",
                received=recipe.loss["name"],
            )
        if recipe.loss.get("label_smoothing"):
            raise ConfigError(
                "set label smoothing in one place only",
                file=recipe.source,
                key="loss.label_smoothing",
                expected="unset when techniques.label_smoothing is enabled",
                received=recipe.loss["label_smoothing"],
            )

    def apply_to_loss(self, loss, ctx: TrainContext):
        if ctx.dataset is not None and ctx.dataset.task != "classification":
            raise ConfigError(
                "label_smoothing needs a classification dataset",
                file=ctx.file,
                key="techniques.label_smoothing",
                expected="classification data",
                received=ctx.dataset.task,
            )
        from kerastricks.losses.crossentropy import SparseCrossentropy

        if not isinstance(loss, (SparseCrossentropy, keras.losses.SparseCategoricalCrossentropy)):
            raise ConfigError(
                "label_smoothing applies to the cross-entropy loss",
                file=ctx.file,
                key="loss.name",
                expected="a cross-entropy loss",
                received=type(loss).__name__,
            )
        return SparseCrossentropy(label_smoothing=self.smoothing)
