"""Cyclical learning rates (Smith 2017), drop-in for tensorflow-addons users.

Same class names, argument names and formulas as ``tfa.optimizers.*CyclicalLearningRate``
(which never supported Keras 3). With ``s = step_size``:

.. code-block:: text

    cycle = floor(1 + step / (2 s))
    x     = |step / s - 2 cycle + 1|
    lr    = initial + (maximal - initial) * max(0, 1 - x) * scale_fn(cycle or step)

The rate starts at ``initial_learning_rate``, rises linearly to
``maximal_learning_rate`` at ``step = s`` and falls back at ``step = 2 s``; one
cycle is ``2 s`` steps. ``scale_fn`` shrinks the amplitude: 1 (triangular),
``1 / 2**(cycle - 1)`` (triangular2, halved every cycle) or ``gamma**step``
(exp_range).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

_SCALE_MODES = ("cycle", "iterations")


def cyclical_phase(step: Any, step_size: Any) -> tuple[Any, Any]:
    """``(cycle, x)`` of the cyclical formula, as float tensors.

    ``cycle`` counts cycles from 1; ``x`` is 1 at the start and end of a cycle
    and 0 at its peak (``step = (2 cycle - 1) * step_size``).
    """
    step = ops.cast(step, "float32")
    step_size = ops.cast(step_size, "float32")
    cycle = ops.floor(1.0 + step / (2.0 * step_size))
    # |step / s - 2 cycle + 1| computed from the step within the cycle, which is
    # exact for integer steps, so far steps keep full float32 precision.
    within = step - 2.0 * step_size * (cycle - 1.0)
    x = ops.abs(within / step_size - 1.0)
    return cycle, x


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"Argument `{name}` must be a number > 0. Received: {name}={value!r}")


@keras.saving.register_keras_serializable(package="kerastricks")
class CyclicalLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate that cycles between two bounds (Smith 2017).

    Args:
        initial_learning_rate: Lower bound, the rate at step 0 (> 0).
        maximal_learning_rate: Upper bound, reached mid-cycle (>= initial).
        step_size: Steps of one half cycle (> 0).
        scale_fn: Amplitude multiplier, a function of the cycle number or of the
            step. To save the schedule (``get_config``, ``model.save``) it must be
            registered with ``keras.saving.register_keras_serializable``.
        scale_mode: ``"cycle"`` (``scale_fn`` receives the cycle number, from 1)
            or ``"iterations"`` (it receives the step).
        name: Name of the schedule.

    Example:
        >>> @keras.saving.register_keras_serializable(package="my_project")
        ... def halve(cycle):
        ...     return 0.5 ** (cycle - 1)
        >>> lr = CyclicalLearningRate(1e-4, 1e-2, step_size=2000, scale_fn=halve)
        >>> optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=0.9)

    Reference:
        Leslie N. Smith, "Cyclical Learning Rates for Training Neural Networks",
        WACV 2017, arXiv:1506.01186. Formulas and argument names follow
        tensorflow-addons' ``CyclicalLearningRate``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        maximal_learning_rate: float,
        step_size: float,
        scale_fn: Callable[[Any], Any],
        scale_mode: str = "cycle",
        name: str = "CyclicalLearningRate",
    ) -> None:
        super().__init__()
        _check_positive("initial_learning_rate", initial_learning_rate)
        _check_positive("maximal_learning_rate", maximal_learning_rate)
        _check_positive("step_size", step_size)
        if maximal_learning_rate < initial_learning_rate:
            raise ValueError(
                "Argument `maximal_learning_rate` must be >= `initial_learning_rate` "
                f"({initial_learning_rate}). Received: maximal_learning_rate={maximal_learning_rate}"
            )
        if scale_mode not in _SCALE_MODES:
            raise ValueError(
                f"Argument `scale_mode` must be one of {_SCALE_MODES}. Received: scale_mode={scale_mode!r}")
        needs_fn = type(self).scale is CyclicalLearningRate.scale
        if (needs_fn or scale_fn is not None) and not callable(scale_fn):
            raise TypeError(f"Argument `scale_fn` must be callable. Received: scale_fn={scale_fn!r}")
        self.initial_learning_rate = initial_learning_rate
        self.maximal_learning_rate = maximal_learning_rate
        self.step_size = step_size
        self.scale_fn = scale_fn
        self.scale_mode = scale_mode
        self.name = name

    def scale(self, mode_step: Any) -> Any:
        """The amplitude multiplier at ``mode_step`` (the cycle or the step)."""
        return ops.cast(self.scale_fn(mode_step), "float32")

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        cycle, x = cyclical_phase(step, self.step_size)
        initial = ops.cast(self.initial_learning_rate, "float32")
        amplitude = ops.cast(self.maximal_learning_rate, "float32") - initial
        mode_step = cycle if self.scale_mode == "cycle" else step
        return initial + amplitude * ops.maximum(0.0, 1.0 - x) * self.scale(mode_step)

    def _base_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "maximal_learning_rate": self.maximal_learning_rate,
            "step_size": self.step_size,
            "scale_mode": self.scale_mode,
            "name": self.name,
        }

    def get_config(self) -> dict[str, Any]:
        fn = self.scale_fn
        registered = keras.saving.get_registered_object(keras.saving.get_registered_name(fn))
        if registered is not fn:
            raise ValueError(
                "Argument `scale_fn` must be registered with "
                "`keras.saving.register_keras_serializable` for the schedule to be saved. "
                f"Received: scale_fn={getattr(fn, '__name__', fn)!r}"
            )
        return {**self._base_config(), "scale_fn": keras.saving.serialize_keras_object(fn)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CyclicalLearningRate:
        config = dict(config)
        if isinstance(config.get("scale_fn"), (dict, str)):
            config["scale_fn"] = keras.saving.deserialize_keras_object(config["scale_fn"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerastricks")
class TriangularCyclicalLearningRate(CyclicalLearningRate):
    """Triangular cycles of constant amplitude (``scale_fn = 1``).

    Args:
        initial_learning_rate: Lower bound, the rate at step 0 (> 0).
        maximal_learning_rate: Upper bound, reached mid-cycle.
        step_size: Steps of one half cycle (> 0).
        scale_mode: Kept for tensorflow-addons compatibility (no effect: the
            scale is 1).
        name: Name of the schedule.

    Example:
        >>> lr = TriangularCyclicalLearningRate(1e-4, 1e-2, step_size=2000)
    """

    def __init__(self, initial_learning_rate: float, maximal_learning_rate: float, step_size: float,
                 scale_mode: str = "cycle", name: str = "TriangularCyclicalLearningRate") -> None:
        super().__init__(initial_learning_rate, maximal_learning_rate, step_size, scale_fn=None,
                         scale_mode=scale_mode, name=name)

    def scale(self, mode_step: Any) -> Any:
        return ops.ones_like(mode_step)

    def get_config(self) -> dict[str, Any]:
        return self._base_config()


@keras.saving.register_keras_serializable(package="kerastricks")
class Triangular2CyclicalLearningRate(CyclicalLearningRate):
    """Triangular cycles whose amplitude halves every cycle (``1 / 2**(cycle - 1)``).

    Args:
        initial_learning_rate: Lower bound, the rate at step 0 (> 0).
        maximal_learning_rate: Upper bound of the first cycle.
        step_size: Steps of one half cycle (> 0).
        scale_mode: ``"cycle"`` (default, as in the paper) or ``"iterations"``.
        name: Name of the schedule.

    Example:
        >>> lr = Triangular2CyclicalLearningRate(1e-4, 1e-2, step_size=2000)
    """

    def __init__(self, initial_learning_rate: float, maximal_learning_rate: float, step_size: float,
                 scale_mode: str = "cycle", name: str = "Triangular2CyclicalLearningRate") -> None:
        super().__init__(initial_learning_rate, maximal_learning_rate, step_size, scale_fn=None,
                         scale_mode=scale_mode, name=name)

    def scale(self, mode_step: Any) -> Any:
        return 1.0 / ops.power(2.0, mode_step - 1.0)

    def get_config(self) -> dict[str, Any]:
        return self._base_config()


@keras.saving.register_keras_serializable(package="kerastricks")
class ExponentialCyclicalLearningRate(CyclicalLearningRate):
    """Triangular cycles whose amplitude decays as ``gamma**step`` ("exp_range").

    Args:
        initial_learning_rate: Lower bound, the rate at step 0 (> 0).
        maximal_learning_rate: Upper bound at step 0.
        step_size: Steps of one half cycle (> 0).
        scale_mode: ``"iterations"`` (default, as in the paper) or ``"cycle"``.
        gamma: Decay per step (or per cycle), in (0, 1].
        name: Name of the schedule.

    Example:
        >>> lr = ExponentialCyclicalLearningRate(1e-4, 1e-2, step_size=2000, gamma=0.9999)
    """

    def __init__(self, initial_learning_rate: float, maximal_learning_rate: float, step_size: float,
                 scale_mode: str = "iterations", gamma: float = 1.0,
                 name: str = "ExponentialCyclicalLearningRate") -> None:
        if not isinstance(gamma, (int, float)) or isinstance(gamma, bool) or not 0 < gamma <= 1:
            raise ValueError(f"Argument `gamma` must be in (0, 1]. Received: gamma={gamma!r}")
        super().__init__(initial_learning_rate, maximal_learning_rate, step_size, scale_fn=None,
                         scale_mode=scale_mode, name=name)
        self.gamma = gamma

    def scale(self, mode_step: Any) -> Any:
        return ops.power(ops.cast(self.gamma, "float32"), mode_step)

    def get_config(self) -> dict[str, Any]:
        return {**self._base_config(), "gamma": self.gamma}


__all__ = [
    "CyclicalLearningRate",
    "ExponentialCyclicalLearningRate",
    "Triangular2CyclicalLearningRate",
    "TriangularCyclicalLearningRate",
    "cyclical_phase",
]
