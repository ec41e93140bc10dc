"""Time-to-accuracy: wall time until a metric first reaches a target."""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import keras

from kerastricks.errors import check_arg


def reached(value: float, target: float, mode: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return value >= target if mode == "max" else value <= target


@keras.saving.register_keras_serializable(package="kerastricks")
class TimeToTarget(keras.callbacks.Callback):
    """Record when ``metric`` first reaches ``value`` during ``fit``.

    Wall time counts from the start of training (``on_train_begin``), so it
    includes compilation and validation, which a user waits for too. The check
    happens at epoch ends, where validation metrics exist.

    Attributes (after ``fit``):
        time_to_target_s: Seconds until the target was reached, or ``None``.
        epoch_reached: 1-based epoch, or ``None``.
        steps_reached: Optimizer steps run by then, or ``None``.
        examples_reached: Training examples consumed by then, or ``None``.

    Args:
        metric: Logged metric name (``val_accuracy``).
        value: Threshold.
        mode: ``"max"`` (reach ``>= value``) or ``"min"`` (``<= value``).
        examples_per_epoch: Training examples per epoch, to report examples.
        stop_training: Stop as soon as the target is reached.
    """

    def __init__(self, metric: str, value: float, mode: Literal["max", "min"] = "max",
                 examples_per_epoch: int | None = None, stop_training: bool = False) -> None:
        super().__init__()
        check_arg(mode in ("max", "min"), "mode", "'max' or 'min'", mode)
        self.metric = metric
        self.value = float(value)
        self.mode = mode
        self.examples_per_epoch = examples_per_epoch
        self.stop_training = stop_training
        self.time_to_target_s: float | None = None
        self.epoch_reached: int | None = None
        self.steps_reached: int | None = None
        self.examples_reached: int | None = None
        self.elapsed_before = 0.0  # seconds from earlier (resumed) segments
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._start if self._start else 0.0)

    def on_epoch_end(self, epoch, logs=None):
        if self.time_to_target_s is not None:
            return
        value = (logs or {}).get(self.metric)
        if value is not None and reached(float(value), self.value, self.mode):
            self.time_to_target_s = self.elapsed()
            self.epoch_reached = epoch + 1
            steps = (self.params or {}).get("steps")
            self.steps_reached = None if steps is None else int(steps) * (epoch + 1)
            if self.examples_per_epoch is not None:
                self.examples_reached = int(self.examples_per_epoch) * (epoch + 1)
            if self.stop_training:
                self.model.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        return {
            "time_to_target_s": self.time_to_target_s,
            "epoch_reached": self.epoch_reached,
            "steps_reached": self.steps_reached,
            "examples_reached": self.examples_reached,
            "elapsed": self.elapsed(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.time_to_target_s = state.get("time_to_target_s")
        self.epoch_reached = state.get("epoch_reached")
        self.steps_reached = state.get("steps_reached")
        self.examples_reached = state.get("examples_reached")
        self.elapsed_before = float(state.get("elapsed", 0.0))

    def get_config(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "mode": self.mode,
                "examples_per_epoch": self.examples_per_epoch, "stop_training": self.stop_training}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeToTarget:
        # keras.callbacks.Callback has no from_config; without it the registered
        # class serializes but cannot be deserialized.
        return cls(**config)
