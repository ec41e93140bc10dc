"""Early stopping: Keras's ``EarlyStopping``, resumable."""

from __future__ import annotations

from typing import Literal

from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import NonNegativeFloat, NonNegativeInt


@register_technique(
    "early_stopping",
    description="Stop when the monitored metric stops improving (keras.callbacks.EarlyStopping).",
)
class EarlyStopping(Technique):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: Metric to watch (``val_loss``, ``val_accuracy``, ...).
        patience: Epochs without improvement before stopping.
        min_delta: Smallest change that counts as an improvement.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        restore_best_weights: Restore the weights of the best epoch at the end.
        start_from_epoch: Epochs to wait before starting to monitor.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: NonNegativeInt = 5,
        min_delta: NonNegativeFloat = 0.0,
        mode: Literal["auto", "min", "max"] = "auto",
        restore_best_weights: bool = True,
        start_from_epoch: NonNegativeInt = 0,
    ) -> None:
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

    def check(self, recipe) -> None:
        recipe.require_metric(self.monitor, key="techniques.early_stopping.monitor")

    def callbacks(self, ctx: TrainContext) -> list:
        from kerastricks.callbacks.early_stopping import ResumableEarlyStopping

        return [
            ResumableEarlyStopping(
                monitor=self.monitor,
                patience=self.patience,
                min_delta=self.min_delta,
                mode=self.mode,
                restore_best_weights=self.restore_best_weights,
                start_from_epoch=self.start_from_epoch,
            )
        ]
