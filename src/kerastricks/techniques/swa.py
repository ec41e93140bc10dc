"""Stochastic weight averaging as a recipe technique: average, optional SWA rate, BatchNorm update, saved average."""

from __future__ import annotations

from typing import Optional

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import PositiveFloat, PositiveInt


def _rate_owner(optimizer):
    """The optimizer that holds the learning rate (wrappers pass theirs through ``inner_optimizer``)."""
    while hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    return optimizer


@register_technique(
    "swa",
    description="Stochastic weight averaging: average the weights of the last epochs (constant or cyclical rate), "
                "recompute BatchNorm statistics, save the average.",
)
class SWATechnique(Technique):
    """Stochastic weight averaging (Izmailov et al. 2018) over the last epochs of a run.

    From epoch ``start_epoch`` on, the trainable weights at the end of every
    ``every``-th epoch enter an equal-weight average (:class:`kerastricks.swa.SWA`).
    With ``swa_lr`` the learning rate from that epoch on is the constant
    ``swa_lr``, or with ``swa_lr_min`` it falls linearly from ``swa_lr`` to
    ``swa_lr_min`` within each ``every``-epoch cycle, so the averaged points are
    cycle ends (:class:`kerastricks.swa.SWALearningRate`); unset, the recipe's
    schedule runs unchanged. When training ends the average replaces the
    weights (after the best-model selection, which it overrides), BatchNorm
    statistics are recomputed on the training data (:func:`kerastricks.swa.update_bn`),
    and the averaged model is what ``model.keras`` holds and what the test set
    measures. Validation metrics during training are the raw weights'.

    Args:
        start_epoch: First epoch (1-based) of the averaging phase, at most
            ``train.epochs``; default: the last quarter of the run
            (``floor(0.75 * epochs) + 1``).
        every: Epochs per averaging cycle (>= 1); one average per cycle, at its end.
        swa_lr: Learning rate of the averaging phase (> 0); unset: the recipe's schedule.
        swa_lr_min: With ``swa_lr``: the rate at the end of each cycle
            (cyclical SWA, 0 < swa_lr_min <= swa_lr).
        update_bn: Recompute BatchNorm moving statistics for the averaged weights.

    Reference:
        Izmailov, Podoprikhin, Garipov, Vetrov & Wilson, 2018, arXiv:1803.05407.
    """

    def __init__(
        self,
        start_epoch: Optional[PositiveInt] = None,
        every: PositiveInt = 1,
        swa_lr: Optional[PositiveFloat] = None,
        swa_lr_min: Optional[PositiveFloat] = None,
        update_bn: bool = True,
    ) -> None:
        self.start_epoch = start_epoch
        self.every = every
        self.swa_lr = swa_lr
        self.swa_lr_min = swa_lr_min
        self.update_bn = update_bn
        self._callback = None

    def _start(self, epochs: int) -> int:
        from kerastricks.swa import default_start_epoch

        return int(self.start_epoch) if self.start_epoch is not None else default_start_epoch(epochs)

    def check(self, recipe) -> None:
        epochs, file = int(recipe.train.epochs), recipe.source
        start = self._start(epochs)
        if start > epochs:
            raise ConfigError("swa would start after the last epoch", file=file, key="techniques.swa.start_epoch",
                              expected=f"at most train.epochs ({epochs})", received=self.start_epoch)
        if start + self.every - 1 > epochs:
            raise ConfigError("swa would average no weights: the first cycle ends after the last epoch", file=file,
                              key="techniques.swa.every",
                              expected=f"at most train.epochs - start_epoch + 1 ({epochs - start + 1})",
                              received=self.every)
        if self.swa_lr_min is not None and self.swa_lr is None:
            raise ConfigError("a cyclical SWA rate needs its top", file=file, key="techniques.swa.swa_lr_min",
                              expected="techniques.swa.swa_lr set too (the rate at the start of each cycle)",
                              received=self.swa_lr_min)
        if self.swa_lr_min is not None and self.swa_lr_min > self.swa_lr:
            raise ConfigError("the cyclical SWA rate falls from swa_lr to swa_lr_min", file=file,
                              key="techniques.swa.swa_lr_min", expected=f"at most swa_lr ({self.swa_lr})",
                              received=self.swa_lr_min)
        if self.swa_lr is not None and recipe.train.on_nan == "rollback":
            raise ConfigError("a rollback resets the learning rate to the recipe's schedule, dropping the SWA rate",
                              file=file, key="train.on_nan", expected="'stop' with techniques.swa.swa_lr",
                              received="rollback")

    def apply_to_optimizer(self, optimizer, ctx: TrainContext):
        if self.swa_lr is None:
            return optimizer
        from kerastricks.swa import SWALearningRate

        owner = _rate_owner(optimizer)
        initial = owner.get_config()["learning_rate"]  # the run's rate: a number or a serialized schedule
        if isinstance(initial, dict):
            initial = keras.optimizers.schedules.deserialize(initial)
        steps = int(ctx.steps_per_epoch)
        owner.learning_rate = SWALearningRate(initial, start_step=(self._start(ctx.epochs) - 1) * steps,
                                              swa_lr=self.swa_lr, swa_lr_min=self.swa_lr_min,
                                              cycle_steps=self.every * steps)
        return optimizer

    def callbacks(self, ctx: TrainContext) -> list:
        from kerastricks.swa import SWA

        self._callback = SWA(start_epoch=self._start(ctx.epochs), every=self.every)
        return [self._callback]

    def after_fit(self, model, ctx: TrainContext) -> None:
        from kerastricks.swa import update_bn

        callback = self._callback
        notes = ctx.notes.setdefault(self.name, {})
        notes.update(start_epoch=self._start(ctx.epochs), every=self.every, swa_lr=self.swa_lr,
                     swa_lr_min=self.swa_lr_min, n_averaged=int(callback.n_averaged) if callback else 0)
        if callback is None or not callback.assign_average(model):
            notes["applied"] = False  # e.g. stopped early before the first average: the raw weights stay
            return
        notes["applied"] = True
        layers = 0
        if self.update_bn and ctx.dataset is not None:
            layers = update_bn(model, ctx.dataset.x_train, batch_size=max(int(ctx.batch_size), 1))
        notes["bn_layers_updated"] = layers
