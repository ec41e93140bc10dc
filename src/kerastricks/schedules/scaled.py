"""A learning-rate schedule times a constant: how a rolled-back run continues with a lower rate."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="kerastricks")
class ScaledLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """``scale * schedule(step)``.

    Args:
        schedule: A ``LearningRateSchedule`` (or its serialized config).
        scale: Constant multiplier, > 0.
    """

    def __init__(self, schedule: Any, scale: float) -> None:
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(f"Argument `schedule` must be a LearningRateSchedule. Received: schedule={schedule!r}")
        if not float(scale) > 0:
            raise ValueError(f"Argument `scale` must be > 0. Received: scale={scale!r}")
        self.schedule = schedule
        self.scale = float(scale)

    def __call__(self, step: Any) -> Any:
        return self.schedule(step) * self.scale

    def get_config(self) -> dict[str, Any]:
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "scale": self.scale}
