"""Learning-rate schedules by name, for recipes.

Each builder takes the run's context (``learning_rate`` from ``[optimizer]``,
``steps_per_epoch`` and ``epochs``) plus its own options, and returns a float (a
constant rate) or a serializable ``keras.optimizers.schedules.LearningRateSchedule``.
Durations are given in epochs (floats allowed) and converted to optimizer
steps, so a recipe keeps its meaning when the batch size changes.
"""

from __future__ import annotations

from typing import Annotated, Any

import keras
from pydantic import Field

from kerastricks.errors import ConfigError
from kerastricks.registry import Registry
from kerastricks.validation import NonNegativeFloat, PositiveFloat, UnitInterval, validate_options

SCHEDULES: Registry = Registry("schedule")

#: Arguments filled by the trainer, not by the recipe.
CONTEXT_ARGS = ("learning_rate", "steps_per_epoch", "epochs")


def _steps(epochs: float, steps_per_epoch: int) -> int:
    return max(0, int(round(epochs * steps_per_epoch)))


@SCHEDULES.register("constant", description="Constant learning rate (the optimizer's learning_rate).")
def constant(*, learning_rate: float, steps_per_epoch: int, epochs: int) -> float:
    return float(learning_rate)


@SCHEDULES.register(
    "cosine",
    description="Linear warmup to learning_rate, then cosine decay to alpha*learning_rate (Loshchilov & Hutter 2017).",
)
def cosine(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: NonNegativeFloat = 0.0,
    warmup_start_factor: UnitInterval = 0.0,
    alpha: UnitInterval = 0.0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Keras's ``CosineDecay`` with its built-in linear warmup.

    Args:
        warmup_epochs: Length of the linear warmup, in epochs (0 = none).
        warmup_start_factor: Warmup starts at ``warmup_start_factor * learning_rate``.
        alpha: Final learning rate as a fraction of ``learning_rate``.
    """
    total = max(1, epochs * steps_per_epoch)
    warmup = min(_steps(warmup_epochs, steps_per_epoch), total - 1)
    if warmup > 0:
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate * warmup_start_factor,
            decay_steps=total - warmup,
            alpha=alpha,
            warmup_target=learning_rate,
            warmup_steps=warmup,
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate, decay_steps=total, alpha=alpha
    )


@SCHEDULES.register(
    "exponential",
    description="learning_rate * decay_rate^(epoch/decay_epochs), continuous or staircase.",
)
def exponential(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    decay_rate: Annotated[float, Field(gt=0, le=1)] = 0.5,
    decay_epochs: PositiveFloat = 1.0,
    staircase: bool = False,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Keras's ``ExponentialDecay`` with its period given in epochs.

    Args:
        decay_rate: Factor applied every ``decay_epochs``.
        decay_epochs: Period of one decay, in epochs.
        staircase: Decay in discrete steps rather than continuously.
    """
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=learning_rate,
        decay_steps=max(1, _steps(decay_epochs, steps_per_epoch)),
        decay_rate=decay_rate,
        staircase=staircase,
    )


@SCHEDULES.register(
    "piecewise",
    description="Step schedule: learning_rate times factors[i] after each boundary epoch.",
)
def piecewise(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    boundaries: list[float] = [],  # noqa: B006 - pydantic copies defaults
    factors: list[PositiveFloat] = [],  # noqa: B006
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    """Keras's ``PiecewiseConstantDecay`` with boundaries in epochs.

    Args:
        boundaries: Increasing epochs at which the rate changes.
        factors: ``len(boundaries)`` multipliers of ``learning_rate``, applied
            from each boundary on (e.g. ``[0.1, 0.01]``).
    """
    if len(factors) != len(boundaries):
        raise ConfigError(
            "factors and boundaries must have the same length",
            key="schedule.factors",
            expected=f"{len(boundaries)} values",
            received=factors,
        )
    if list(boundaries) != sorted(boundaries) or len(set(boundaries)) != len(boundaries):
        raise ConfigError(key="schedule.boundaries", expected="strictly increasing epochs", received=boundaries)
    if not boundaries:
        return float(learning_rate)
    steps = [_steps(b, steps_per_epoch) for b in boundaries]
    if steps[0] < 1 or any(b <= a for a, b in zip(steps, steps[1:])):
        raise ConfigError(
            key="schedule.boundaries",
            expected=f"epochs > 0 that fall on distinct steps (steps_per_epoch={steps_per_epoch})",
            received=boundaries,
        )
    values = [learning_rate] + [learning_rate * f for f in factors]
    # Keras keeps values[i] while step <= boundaries[i]; shifting by one makes
    # factors[i] apply from the first step of epoch boundaries[i] on.
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries=[s - 1 for s in steps], values=values)


@SCHEDULES.register(
    "polynomial",
    description="Polynomial (power) decay from learning_rate to end_factor*learning_rate over the run.",
)
def polynomial(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    end_factor: UnitInterval = 0.0,
    power: PositiveFloat = 1.0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Keras's ``PolynomialDecay`` over the whole run.

    Args:
        end_factor: Final rate as a fraction of ``learning_rate``.
        power: Exponent of the decay (1 = linear).
    """
    return keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=learning_rate,
        decay_steps=max(1, epochs * steps_per_epoch),
        end_learning_rate=learning_rate * end_factor,
        power=power,
    )


def build_schedule(
    name: str,
    options: dict[str, Any] | None,
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    file: str | None = None,
) -> Any:
    """Build the named schedule; options are validated first."""
    entry = SCHEDULES.get(name, key="schedule.name")
    opts = validate_options(entry.obj, options or {}, section="schedule", file=file, exclude=CONTEXT_ARGS)
    try:
        return entry.obj(learning_rate=learning_rate, steps_per_epoch=steps_per_epoch, epochs=epochs, **opts)
    except ConfigError as exc:
        raise exc.with_context(file=file) from None


def learning_rate_at(schedule: Any, steps: Any) -> Any:
    """Evaluate a schedule (or a constant) at an array of steps, as numpy.

    On the TensorFlow backend all steps are evaluated in one compiled call
    (calling a Keras schedule eagerly costs milliseconds per step).
    """
    import numpy as np

    steps = np.asarray(steps)
    if not callable(schedule):
        return np.full(steps.shape, float(schedule))
    if keras.backend.backend() == "tensorflow" and steps.size:
        import tensorflow as tf

        @tf.function
        def evaluate(values):
            return tf.map_fn(lambda t: tf.cast(schedule(t), tf.float32), values, fn_output_signature=tf.float32)

        try:  # steps as float32: exact up to 2**24, accepted by every Keras schedule
            values = evaluate(tf.constant(steps.reshape(-1), tf.float32)).numpy()
            return values.reshape(steps.shape).astype(np.float64)
        except (TypeError, ValueError):  # a schedule that cannot be traced: evaluate step by step
            pass
    return np.array([float(keras.ops.convert_to_numpy(schedule(int(s)))) for s in steps.reshape(-1)]).reshape(
        steps.shape)


__all__ = ["SCHEDULES", "build_schedule", "learning_rate_at"]
