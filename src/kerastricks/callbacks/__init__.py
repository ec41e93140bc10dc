"""Callbacks kerastricks's trainer uses, usable on their own with ``model.fit``."""

from kerastricks.callbacks.checkpoints import (
    BestModel,
    RunCheckpoint,
    model_state,
    read_checkpoint,
    restore_model,
    restore_optimizer,
)
from kerastricks.callbacks.deferred_reweighting import DeferredReweighting
from kerastricks.callbacks.divergence import DivergenceGuard, all_finite
from kerastricks.callbacks.early_stopping import ResumableEarlyStopping
from kerastricks.callbacks.epoch_log import EpochLogger, current_learning_rate, speed_window, steady_examples_per_s
from kerastricks.callbacks.plateau import ResumableReduceLROnPlateau, WarmUpReduceLROnPlateau
from kerastricks.callbacks.resumable import ResumableMixin
from kerastricks.callbacks.time_to_target import TimeToTarget

__all__ = [
    "BestModel",
    "DeferredReweighting",
    "DivergenceGuard",
    "ResumableEarlyStopping",
    "ResumableReduceLROnPlateau",
    "WarmUpReduceLROnPlateau",
    "all_finite",
    "EpochLogger",
    "ResumableMixin",
    "RunCheckpoint",
    "TimeToTarget",
    "current_learning_rate",
    "model_state",
    "read_checkpoint",
    "restore_model",
    "restore_optimizer",
    "speed_window",
    "steady_examples_per_s",
]
