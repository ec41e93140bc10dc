"""Learning-rate schedules: serializable ``LearningRateSchedule`` classes and the builders recipes use.

Classes (imported on first access): :class:`WarmUp`, :class:`OneCycle` and
:class:`OneCycleMomentum`, the cyclical family (:class:`TriangularCyclicalLearningRate`,
:class:`Triangular2CyclicalLearningRate`, :class:`ExponentialCyclicalLearningRate`,
:class:`CyclicalLearningRate`), :class:`PowerDecay`. Builders by name:
:data:`SCHEDULES` / :func:`build_schedule` in :mod:`kerastricks.schedules.builders`.
"""

from __future__ import annotations

from typing import Any

from kerastricks._lazy import keras, lazy_exports
from kerastricks.schedules.builders import (
    CONTEXT_ARGS,
    SCHEDULES,
    WARMUP_OPTIONS,
    ScheduleWithCallbacks,
    build_schedule,
    check_schedule,
    warmup_length,
)

_EXPORTS = {
    "CyclicalLearningRate": "kerastricks.schedules.cyclical:CyclicalLearningRate",
    "ExponentialCyclicalLearningRate": "kerastricks.schedules.cyclical:ExponentialCyclicalLearningRate",
    "Triangular2CyclicalLearningRate": "kerastricks.schedules.cyclical:Triangular2CyclicalLearningRate",
    "TriangularCyclicalLearningRate": "kerastricks.schedules.cyclical:TriangularCyclicalLearningRate",
    "PowerDecay": "kerastricks.schedules.decay:PowerDecay",
    "OneCycle": "kerastricks.schedules.one_cycle:OneCycle",
    "OneCycleMomentum": "kerastricks.schedules.one_cycle:OneCycleMomentum",
    "WarmUp": "kerastricks.schedules.warmup:WarmUp",
    "ScaledLearningRate": "kerastricks.schedules.scaled:ScaledLearningRate",
    "WarmUpReduceLROnPlateau": "kerastricks.callbacks.plateau:WarmUpReduceLROnPlateau",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)


def learning_rate_at(schedule: Any, steps: Any) -> Any:
    """Evaluate a schedule (or a constant) at an array of steps, as numpy.

    On TensorFlow and JAX all steps are evaluated in one compiled call
    (calling a Keras schedule eagerly costs milliseconds per step there; on
    JAX each eager call compiles its operations, 40 CPU-seconds for the 400
    steps of a run's learning-rate plot).
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
    if keras.backend.backend() == "jax" and steps.size:
        import jax

        try:
            values = jax.jit(jax.vmap(lambda t: keras.ops.cast(schedule(t), "float32")))(
                np.asarray(steps.reshape(-1), np.float32))
            return np.asarray(values, np.float64).reshape(steps.shape)
        except Exception:  # a schedule that JAX cannot trace: evaluate step by step
            pass
    return np.array([float(keras.ops.convert_to_numpy(schedule(int(s)))) for s in steps.reshape(-1)]).reshape(
        steps.shape)


__all__ = [
    "CONTEXT_ARGS",
    "SCHEDULES",
    "WARMUP_OPTIONS",
    "ScheduleWithCallbacks",
    "build_schedule",
    "learning_rate_at",
    "check_schedule",
    "warmup_length",
    *_EXPORTS,
]
