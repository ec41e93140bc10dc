"""The one-cycle policy (Smith 2018; PyTorch ``OneCycleLR`` semantics) and its momentum cycle.

The rate warms up from ``max / div_factor`` to ``max`` over the first
``pct_start`` of the run, then anneals to ``max / (div_factor * final_div_factor)``
at the last step. Momentum (``momentum`` of SGD, ``beta_1`` of the Adam family)
moves the other way: ``max_momentum`` -> ``base_momentum`` -> ``max_momentum``,
through :class:`OneCycleMomentum`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from kerastricks._backend import retrace

_ANNEALS = ("cos", "linear")


def anneal(start: Any, end: Any, pct: Any, mode: str = "cos") -> Any:
    """Go from ``start`` (``pct = 0``) to ``end`` (``pct = 1``), cosine or linear."""
    if mode == "cos":
        return end + (start - end) / 2.0 * (ops.cos(math.pi * pct) + 1.0)
    return start + (end - start) * pct


def one_cycle_value(step: Any, *, start: float, peak: float, end: float, peak_step: float, last_step: float,
                    mode: str = "cos") -> Any:
    """Two annealed phases: ``start`` -> ``peak`` at ``peak_step`` -> ``end`` at ``last_step``.

    Steps before 0 or after ``last_step`` are clamped (the value stays at
    ``start`` / ``end``). Shared by the learning rate and the momentum cycle.
    """
    step = ops.cast(step, "float32")
    up = ops.clip(step / max(peak_step, 1e-12), 0.0, 1.0)
    down = ops.clip((step - peak_step) / max(last_step - peak_step, 1e-12), 0.0, 1.0)
    return ops.where(step <= peak_step, anneal(start, peak, up, mode), anneal(peak, end, down, mode))


def _phase_steps(total_steps: int, pct_start: float) -> tuple[float, float]:
    # PyTorch OneCycleLR: phase 1 ends at pct_start * total_steps - 1, phase 2 at total_steps - 1.
    return float(pct_start * total_steps) - 1.0, float(total_steps - 1)


def _check_one_cycle_args(total_steps: Any, pct_start: Any, anneal_mode: Any) -> None:
    if not isinstance(total_steps, int) or isinstance(total_steps, bool) or total_steps < 2:
        raise ValueError(f"Argument `total_steps` must be an integer >= 2. Received: total_steps={total_steps!r}")
    if not 0 < pct_start < 1:
        raise ValueError(f"Argument `pct_start` must be in (0, 1). Received: pct_start={pct_start!r}")
    peak, last = _phase_steps(total_steps, pct_start)
    if not 0 < peak < last:
        raise ValueError(
            "Arguments `pct_start` and `total_steps` must leave at least one step before and after "
            f"the peak. Received: pct_start={pct_start}, total_steps={total_steps}"
        )
    if anneal_mode not in _ANNEALS:
        raise ValueError(f"Argument `anneal` must be one of {_ANNEALS}. Received: anneal={anneal_mode!r}")


@keras.saving.register_keras_serializable(package="kerastricks")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle learning-rate policy.

    With ``initial = maximal_learning_rate / div_factor``,
    ``final = initial / final_div_factor``, ``peak = pct_start * total_steps - 1``
    and ``last = total_steps - 1`` (PyTorch ``OneCycleLR``, ``three_phase=False``):

    .. code-block:: text

        step <= peak: lr = anneal(initial, maximal, step / peak)
        step >  peak: lr = anneal(maximal, final, (step - peak) / (last - peak))
        cos:    anneal(a, b, p) = b + (a - b) / 2 * (1 + cos(pi p))
        linear: anneal(a, b, p) = a + (b - a) p

    Past ``last`` the rate stays at ``final`` (PyTorch raises there).

    Args:
        maximal_learning_rate: Peak rate (> 0).
        total_steps: Optimizer steps of the whole run (>= 2).
        pct_start: Fraction of the run spent warming up, in (0, 1).
        div_factor: ``initial = maximal_learning_rate / div_factor`` (>= 1).
        final_div_factor: ``final = initial / final_div_factor`` (>= 1).
        anneal: ``"cos"`` or ``"linear"``.
        name: Name of the schedule.

    Example:
        >>> lr = OneCycle(0.01, total_steps=25 * 29)
        >>> model.compile(keras.optimizers.SGD(lr, momentum=0.95), ...)
        >>> model.fit(..., callbacks=[OneCycleMomentum(total_steps=25 * 29)])

    Reference:
        Leslie N. Smith, "A disciplined approach to neural network
        hyper-parameters: Part 1", 2018, arXiv:1803.09820; Smith & Topin,
        "Super-Convergence", 2017, arXiv:1708.07120.
    """

    def __init__(self, maximal_learning_rate: float, total_steps: int, pct_start: float = 0.25,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, anneal: str = "cos",
                 name: str = "OneCycle") -> None:
        super().__init__()
        if not isinstance(maximal_learning_rate, (int, float)) or maximal_learning_rate <= 0:
            raise ValueError("Argument `maximal_learning_rate` must be > 0. "
                             f"Received: maximal_learning_rate={maximal_learning_rate!r}")
        for arg, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if not isinstance(value, (int, float)) or value < 1:
                raise ValueError(f"Argument `{arg}` must be >= 1. Received: {arg}={value!r}")
        _check_one_cycle_args(total_steps, pct_start, anneal)
        self.maximal_learning_rate = maximal_learning_rate
        self.total_steps = total_steps
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        self.anneal = anneal
        self.name = name

    @property
    def initial_learning_rate(self) -> float:
        return self.maximal_learning_rate / self.div_factor

    @property
    def final_learning_rate(self) -> float:
        return self.initial_learning_rate / self.final_div_factor

    def __call__(self, step: Any) -> Any:
        peak, last = _phase_steps(self.total_steps, self.pct_start)
        return one_cycle_value(step, start=self.initial_learning_rate, peak=self.maximal_learning_rate,
                               end=self.final_learning_rate, peak_step=peak, last_step=last, mode=self.anneal)

    def get_config(self) -> dict[str, Any]:
        return {
            "maximal_learning_rate": self.maximal_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal": self.anneal,
            "name": self.name,
        }


class _CycledHyperparameter(keras.Variable):
    """A scalar optimizer hyper-parameter computed from the optimizer's step counter.

    Its value is ``fn(optimizer.iterations)``, evaluated wherever the variable is
    read: inside a compiled step (TensorFlow graph, JAX ``jit`` with the
    optimizer's state passed in, PyTorch) the counter is the step's own, so the
    value follows training on every backend with nothing to assign or to carry
    in the compiled state.

    Keras optimizers test ``momentum != 0`` in Python while tracing; the cycled
    momentum is always in (0, 1), so comparisons with the number 0 answer in
    Python instead of building a tensor.
    """

    def __init__(self, fn: Any, optimizer: keras.optimizers.Optimizer, initial: float, name: str) -> None:
        super().__init__(float(initial), dtype="float32", trainable=False, name=name)
        self._fn = fn
        self._optimizer = optimizer

    @property
    def value(self) -> Any:
        return ops.cast(self._fn(self._optimizer.iterations), "float32")

    def numpy(self) -> Any:
        return ops.convert_to_numpy(self.value)

    def __ne__(self, other: object) -> Any:
        if isinstance(other, (int, float)) and other == 0:
            return True
        return super().__ne__(other)

    def __eq__(self, other: object) -> Any:
        if isinstance(other, (int, float)) and other == 0:
            return False
        return super().__eq__(other)

    __hash__ = keras.Variable.__hash__


class OneCycleMomentum(keras.callbacks.Callback):
    """Cycle the optimizer's momentum opposite to :class:`OneCycle`'s learning rate.

    ``max_momentum`` at step 0, ``base_momentum`` at the learning-rate peak,
    ``max_momentum`` again at the last step, annealed like the rate. The value
    is a function of ``optimizer.iterations`` alone, computed inside the compiled
    step from the step's own counter, so it changes every step on every backend
    (also with ``steps_per_execution > 1``) and a resumed run continues where it
    stopped with no state to save.

    While training, the optimizer's attribute (``momentum`` for SGD/RMSprop,
    ``beta_1`` for the Adam family) holds a variable whose value is that
    function; the original number is put back when training ends, so the model
    saves as usual afterwards. The model's train function is traced anew at
    both ends, so neither a function traced before (with the number baked in)
    nor one traced during (reading the cycle) outlives its fit.

    Args:
        total_steps: Optimizer steps of the whole run, as given to :class:`OneCycle`.
        pct_start: Fraction of the run before the peak, as given to :class:`OneCycle`.
        base_momentum: Momentum at the learning-rate peak, in (0, 1).
        max_momentum: Momentum at the start and the end, in [base_momentum, 1).
        anneal: ``"cos"`` or ``"linear"``.
        attribute: The optimizer attribute to cycle; ``"auto"``: ``beta_1`` if
            the optimizer has one, else ``momentum``.
    """

    def __init__(self, total_steps: int, pct_start: float = 0.25, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, anneal: str = "cos", attribute: str = "auto") -> None:
        super().__init__()
        _check_one_cycle_args(total_steps, pct_start, anneal)
        if not 0 < base_momentum <= max_momentum < 1:
            raise ValueError("Arguments `base_momentum` and `max_momentum` must satisfy "
                             f"0 < base_momentum <= max_momentum < 1. Received: base_momentum={base_momentum}, "
                             f"max_momentum={max_momentum}")
        self.total_steps = total_steps
        self.pct_start = pct_start
        self.base_momentum = base_momentum
        self.max_momentum = max_momentum
        self.anneal = anneal
        self.attribute = attribute
        self._variable: keras.Variable | None = None
        self._original: Any = None
        self._attr: str | None = None
        self._optimizer: Any = None

    def momentum_at(self, step: Any) -> Any:
        """The momentum used at optimizer step ``step``."""
        peak, last = _phase_steps(self.total_steps, self.pct_start)
        return one_cycle_value(step, start=self.max_momentum, peak=self.base_momentum, end=self.max_momentum,
                               peak_step=peak, last_step=last, mode=self.anneal)

    def _resolve_attribute(self, optimizer: keras.optimizers.Optimizer) -> str:
        attr = self.attribute
        if attr == "auto":
            attr = "beta_1" if hasattr(optimizer, "beta_1") else "momentum"
        value = getattr(optimizer, attr, None)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(
                f"OneCycleMomentum needs an optimizer with a number > 0 in `{attr}` "
                f"(SGD with momentum > 0, RMSprop with momentum > 0, or the Adam family). "
                f"Received: {type(optimizer).__name__} with {attr}={value!r}"
            )
        return attr

    @staticmethod
    def _cycled_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        """The optimizer that owns the momentum: wrappers (AGC, loss scaling) hand on to the one they wrap."""
        while not hasattr(optimizer, "beta_1") and not hasattr(optimizer, "momentum") \
                and hasattr(optimizer, "inner_optimizer"):
            optimizer = optimizer.inner_optimizer
        return optimizer

    def on_train_begin(self, logs: Any = None) -> None:
        optimizer = self._cycled_optimizer(self.model.optimizer)
        self._optimizer = optimizer
        self._attr = self._resolve_attribute(optimizer)
        if not self.model.optimizer.built:  # building reads the attribute; it must still be a number then
            self.model.optimizer.build(self.model.trainable_variables)
        self._original = getattr(optimizer, self._attr)
        self._variable = _CycledHyperparameter(self.momentum_at, optimizer, float(self._original),
                                               name=f"one_cycle_{self._attr}")
        # object.__setattr__: the value is derived from `iterations`, so it is kept out of
        # the optimizer's tracked variables (and out of checkpoints).
        object.__setattr__(optimizer, self._attr, self._variable)
        retrace(self.model)  # fit traced its step before this callback ran

    def on_train_end(self, logs: Any = None) -> None:
        if self._attr is not None:
            object.__setattr__(self._optimizer, self._attr, self._original)
            retrace(self.model)  # a later fit must not read the cycle
        self._variable = None


__all__ = ["OneCycle", "OneCycleMomentum", "anneal", "one_cycle_value"]
