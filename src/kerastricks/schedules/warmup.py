"""Linear warmup in front of any learning-rate schedule (Goyal et al. 2017)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def _evaluate(schedule: Any, step: Any) -> Any:
    if callable(schedule):
        return ops.cast(schedule(step), "float32")
    return ops.cast(schedule, "float32")


@keras.saving.register_keras_serializable(package="kerastricks")
class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """Ramp the rate linearly from ``initial_learning_rate`` into ``schedule``.

    .. code-block:: text

        step <  warmup_steps: lr = initial + (schedule(warmup_steps) - initial) * step / warmup_steps
        step >= warmup_steps: lr = schedule(step)

    The wrapped schedule keeps its own clock (it is not shifted), so the rate is
    continuous at ``warmup_steps`` and everything after it is exactly the
    wrapped schedule's.

    Args:
        schedule: A ``LearningRateSchedule`` or a constant rate (float).
        warmup_steps: Length of the ramp, in optimizer steps (>= 0; 0 = no warmup).
        initial_learning_rate: Rate at step 0 (>= 0).
        name: Name of the schedule.

    Example:
        >>> decay = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=10_000)
        >>> lr = WarmUp(decay, warmup_steps=500)
        >>> optimizer = keras.optimizers.AdamW(learning_rate=lr)

    Reference:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1
        Hour", 2017, arXiv:1706.02677 (gradual warmup).
    """

    def __init__(self, schedule: Any, warmup_steps: int, initial_learning_rate: float = 0.0,
                 name: str = "WarmUp") -> None:
        super().__init__()
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        if not (callable(schedule) or (isinstance(schedule, (int, float)) and not isinstance(schedule, bool))):
            raise TypeError("Argument `schedule` must be a LearningRateSchedule or a number. "
                            f"Received: schedule={schedule!r}")
        if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or warmup_steps < 0:
            raise ValueError(
                f"Argument `warmup_steps` must be an integer >= 0. Received: warmup_steps={warmup_steps!r}")
        if not isinstance(initial_learning_rate, (int, float)) or initial_learning_rate < 0:
            raise ValueError("Argument `initial_learning_rate` must be >= 0. "
                             f"Received: initial_learning_rate={initial_learning_rate!r}")
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.initial_learning_rate = initial_learning_rate
        self.name = name

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        after = _evaluate(self.schedule, step)
        if self.warmup_steps == 0:
            return after
        target = _evaluate(self.schedule, self.warmup_steps)
        initial = ops.cast(self.initial_learning_rate, "float32")
        ramp = initial + (target - initial) * step / float(self.warmup_steps)
        return ops.where(step < self.warmup_steps, ramp, after)

    def get_config(self) -> dict[str, Any]:
        schedule = self.schedule
        if callable(schedule):
            schedule = keras.optimizers.schedules.serialize(schedule)
        return {
            "schedule": schedule,
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "name": self.name,
        }


__all__ = ["WarmUp"]
