"""Decay schedules Keras does not ship: power scheduling."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerastricks")
class PowerDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Power scheduling: ``lr = initial_learning_rate / (1 + step / decay_steps) ** power``.

    The rate halves (for ``power = 1``) after ``decay_steps`` steps, thirds after
    twice that, and so on: fast at first, slower later. Keras's
    ``InverseTimeDecay`` is the ``power = 1`` case.

    Args:
        initial_learning_rate: Rate at step 0 (> 0).
        decay_steps: Steps that set the time scale ``s`` (> 0).
        power: Exponent ``c`` (> 0).
        name: Name of the schedule.

    Example:
        >>> lr = PowerDecay(0.01, decay_steps=1000, power=1.0)

    Reference:
        A. Géron, "Hands-On Machine Learning", 2nd ed., 2019, ch. 11 (power
        scheduling); Darken & Moody, "Note on learning rate schedules for
        stochastic optimization", NIPS 1990.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: float, power: float = 1.0,
                 name: str = "PowerDecay") -> None:
        super().__init__()
        for arg, value in (("initial_learning_rate", initial_learning_rate), ("decay_steps", decay_steps),
                           ("power", power)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Argument `{arg}` must be > 0. Received: {arg}={value!r}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.power = power
        self.name = name

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        base = 1.0 + step / float(self.decay_steps)
        return ops.cast(self.initial_learning_rate, "float32") / ops.power(base, float(self.power))

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "power": self.power, "name": self.name}


__all__ = ["PowerDecay"]
