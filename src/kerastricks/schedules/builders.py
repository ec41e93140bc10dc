"""Learning-rate schedule builders by name, for recipes (importable without Keras).

Each builder takes the run's context (``learning_rate`` from ``[optimizer]``,
``steps_per_epoch`` and ``epochs``) plus its own options, and returns a float (a
constant rate) or a serializable ``keras.optimizers.schedules.LearningRateSchedule``.
Durations are given in epochs (floats allowed) and converted to optimizer
steps, so a recipe keeps its meaning when the batch size changes.

Every schedule takes ``warmup_steps`` or ``warmup_epochs`` (a linear ramp from
``warmup_start_factor * learning_rate``, see :class:`~kerastricks.schedules.WarmUp`).
A builder may also return a :class:`ScheduleWithCallbacks` when the policy needs
a callback next to the schedule (``plateau``: ReduceLROnPlateau; ``one_cycle``:
momentum cycling); the trainer adds those callbacks itself
(``build_schedule(..., with_callbacks=True)``). Schedule classes are imported
when a builder runs, so validating a recipe does not import Keras.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from kerastricks._lazy import LazyModule, keras
from kerastricks.errors import ConfigError
from kerastricks.registry import Registry
from kerastricks.validation import (
    NonNegativeFloat,
    NonNegativeInt,
    OpenUnitInterval,
    PositiveFloat,
    PositiveInt,
    UnitInterval,
)

_cyclical = LazyModule("kerastricks.schedules.cyclical")
_decay = LazyModule("kerastricks.schedules.decay")
_one_cycle = LazyModule("kerastricks.schedules.one_cycle")
_warmup = LazyModule("kerastricks.schedules.warmup")

SCHEDULES: Registry = Registry("schedule")

#: Arguments filled by the trainer, not by the recipe.
CONTEXT_ARGS = ("learning_rate", "steps_per_epoch", "epochs")


def _steps(epochs: float, steps_per_epoch: int) -> int:
    return max(0, int(round(epochs * steps_per_epoch)))


@dataclass
class ScheduleWithCallbacks:
    """What a builder returns when its policy needs callbacks next to the rate.

    Attributes:
        schedule: The optimizer's ``learning_rate`` (float or schedule).
        callbacks: ``keras.callbacks.Callback`` objects the trainer adds to
            ``model.fit``. A callback with state to keep across ``--resume``
            provides ``state_dict``/``load_state_dict`` (see
            :class:`kerastricks.callbacks.ResumableMixin`).
    """

    schedule: Any
    callbacks: list = field(default_factory=list)


Factor = Annotated[float, Field(gt=0, le=1)]

#: Options every schedule accepts (added to each builder's signature by ``_warmable``).
WARMUP_OPTIONS = {
    "warmup_steps": (NonNegativeInt, 0),
    "warmup_epochs": (NonNegativeFloat, 0.0),
    "warmup_start_factor": (UnitInterval, 0.0),
}


def warmup_length(warmup_steps: int, warmup_epochs: float, steps_per_epoch: int) -> int:
    """Warmup in optimizer steps, from ``warmup_steps`` or ``warmup_epochs`` (not both)."""
    if warmup_steps and warmup_epochs:
        raise ConfigError("give the warmup in steps or in epochs, not both", key="schedule.warmup_steps",
                          expected="warmup_steps = 0 or warmup_epochs = 0",
                          received=f"warmup_steps = {warmup_steps}, warmup_epochs = {warmup_epochs}")
    return int(warmup_steps) or _steps(warmup_epochs, steps_per_epoch)


def _warmable(builder: Callable) -> Callable:
    """Give ``builder`` the warmup options; its result gets a :class:`WarmUp` in front."""

    @functools.wraps(builder)
    def build(*, warmup_steps: int = 0, warmup_epochs: float = 0.0, warmup_start_factor: float = 0.0,
              **kwargs: Any) -> Any:
        built = builder(**kwargs)
        steps = warmup_length(warmup_steps, warmup_epochs, kwargs["steps_per_epoch"])
        if steps == 0:
            return built
        start = warmup_start_factor * kwargs["learning_rate"]
        if isinstance(built, ScheduleWithCallbacks):
            return ScheduleWithCallbacks(_warmup.WarmUp(built.schedule, steps, start), built.callbacks)
        return _warmup.WarmUp(built, steps, start)

    sig = inspect.signature(builder)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
             for name, (annotation, default) in WARMUP_OPTIONS.items()]
    build.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra])  # type: ignore[attr-defined]
    build.__annotations__ = {**builder.__annotations__, **{n: a for n, (a, _) in WARMUP_OPTIONS.items()}}
    build.__doc__ = (builder.__doc__ or "") + (
        "\n    Every schedule also takes ``warmup_steps`` / ``warmup_epochs`` and ``warmup_start_factor``.\n")
    return build


@SCHEDULES.register("constant", description="Constant learning rate (the optimizer's learning_rate).")
@_warmable
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
    warmup_steps: NonNegativeInt = 0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Keras's ``CosineDecay`` with its built-in linear warmup.

    Unlike the other schedules' warmup, the cosine starts after the warmup
    (Keras's ``warmup_steps``): it spans the remaining steps of the run.

    Args:
        warmup_epochs: Length of the linear warmup, in epochs (0 = none).
        warmup_steps: Length of the linear warmup, in steps (instead of epochs).
        warmup_start_factor: Warmup starts at ``warmup_start_factor * learning_rate``.
        alpha: Final learning rate as a fraction of ``learning_rate``.
    """
    total = max(1, epochs * steps_per_epoch)
    warmup = min(warmup_length(warmup_steps, warmup_epochs, steps_per_epoch), total - 1)
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
@_warmable
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


def check_piecewise(options: dict[str, Any]) -> None:
    """The checks of ``piecewise`` that need no data (see :func:`check_schedule`)."""
    boundaries, factors = list(options.get("boundaries", [])), list(options.get("factors", []))
    if len(factors) != len(boundaries):
        raise ConfigError(
            "factors and boundaries must have the same length",
            key="schedule.factors",
            expected=f"{len(boundaries)} values",
            received=factors,
        )
    if boundaries != sorted(boundaries) or len(set(boundaries)) != len(boundaries):
        raise ConfigError(key="schedule.boundaries", expected="strictly increasing epochs", received=boundaries)
    if boundaries and boundaries[0] <= 0:
        raise ConfigError(key="schedule.boundaries", expected="epochs > 0", received=boundaries)


@SCHEDULES.register(
    "piecewise",
    description="Step schedule: learning_rate times factors[i] after each boundary epoch.",
    check=check_piecewise,
)
@_warmable
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
    if not boundaries:  # lengths and order were checked with the recipe (check_piecewise)
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
@_warmable
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


@SCHEDULES.register("power", description="Power scheduling: learning_rate / (1 + epoch/decay_epochs)^power.")
@_warmable
def power(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    decay_epochs: PositiveFloat = 1.0,
    power: PositiveFloat = 1.0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """:class:`PowerDecay` with its time scale in epochs.

    Args:
        decay_epochs: Time scale ``s``: the rate is halved (``power = 1``) after ``s`` epochs.
        power: Exponent ``c``.
    """
    return _decay.PowerDecay(learning_rate, decay_steps=max(1, _steps(decay_epochs, steps_per_epoch)), power=power)


@SCHEDULES.register("step", description="Step decay: learning_rate * factor every step_epochs epochs.")
@_warmable
def step(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    factor: Factor = 0.1,
    step_epochs: PositiveFloat = 10.0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Keras's staircase ``ExponentialDecay``: ``learning_rate * factor^floor(epoch / step_epochs)``.

    Args:
        factor: Multiplier applied at every step.
        step_epochs: Epochs between steps.
    """
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=learning_rate, decay_steps=max(1, _steps(step_epochs, steps_per_epoch)),
        decay_rate=factor, staircase=True)


@SCHEDULES.register(
    "cosine_restarts",
    description="Cosine annealing with warm restarts, SGDR (Loshchilov & Hutter 2017).",
)
@_warmable
def cosine_restarts(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    first_decay_epochs: PositiveFloat = 5.0,
    t_mul: Annotated[float, Field(ge=1)] = 2.0,
    m_mul: Factor = 1.0,
    alpha: UnitInterval = 0.0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Keras's ``CosineDecayRestarts`` with the first period in epochs.

    Args:
        first_decay_epochs: Length of the first cosine period, in epochs.
        t_mul: Each period is ``t_mul`` times longer than the previous one.
        m_mul: Each restart starts at ``m_mul`` times the previous peak.
        alpha: Floor of every period, as a fraction of the period's peak.
    """
    return keras.optimizers.schedules.CosineDecayRestarts(
        initial_learning_rate=learning_rate,
        first_decay_steps=max(1, _steps(first_decay_epochs, steps_per_epoch)),
        t_mul=t_mul, m_mul=m_mul, alpha=alpha)


def _half_cycle(step_size_epochs: float, step_size_steps: int | None, steps_per_epoch: int) -> int:
    return int(step_size_steps) if step_size_steps else max(1, _steps(step_size_epochs, steps_per_epoch))


@SCHEDULES.register(
    "triangular",
    description="Cyclical LR, triangular: between base_factor*learning_rate and learning_rate (Smith 2017).",
)
@_warmable
def triangular(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    base_factor: Factor = 0.1,
    step_size_epochs: PositiveFloat = 2.0,
    step_size_steps: PositiveInt | None = None,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """:class:`TriangularCyclicalLearningRate` peaking at ``learning_rate``.

    Args:
        base_factor: Lower bound as a fraction of ``learning_rate``.
        step_size_epochs: Half cycle, in epochs (Smith: 2 to 10 epochs).
        step_size_steps: Half cycle in optimizer steps; replaces ``step_size_epochs``.
    """
    return _cyclical.TriangularCyclicalLearningRate(learning_rate * base_factor, learning_rate,
                                          _half_cycle(step_size_epochs, step_size_steps, steps_per_epoch))


@SCHEDULES.register(
    "triangular2",
    description="Cyclical LR whose amplitude halves every cycle (Smith 2017).",
)
@_warmable
def triangular2(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    base_factor: Factor = 0.1,
    step_size_epochs: PositiveFloat = 2.0,
    step_size_steps: PositiveInt | None = None,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """:class:`Triangular2CyclicalLearningRate` peaking at ``learning_rate``.

    Args:
        base_factor: Lower bound as a fraction of ``learning_rate``.
        step_size_epochs: Half cycle, in epochs.
        step_size_steps: Half cycle in optimizer steps; replaces ``step_size_epochs``.
    """
    return _cyclical.Triangular2CyclicalLearningRate(learning_rate * base_factor, learning_rate,
                                           _half_cycle(step_size_epochs, step_size_steps, steps_per_epoch))


@SCHEDULES.register(
    "exp_range",
    description="Cyclical LR whose amplitude decays as gamma^step (Smith 2017).",
)
@_warmable
def exp_range(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    base_factor: Factor = 0.1,
    step_size_epochs: PositiveFloat = 2.0,
    step_size_steps: PositiveInt | None = None,
    gamma: Factor = 0.999,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """:class:`ExponentialCyclicalLearningRate` peaking at ``learning_rate``.

    Args:
        base_factor: Lower bound as a fraction of ``learning_rate``.
        step_size_epochs: Half cycle, in epochs.
        step_size_steps: Half cycle in optimizer steps; replaces ``step_size_epochs``.
        gamma: Amplitude decay per optimizer step.
    """
    return _cyclical.ExponentialCyclicalLearningRate(learning_rate * base_factor, learning_rate,
                                           _half_cycle(step_size_epochs, step_size_steps, steps_per_epoch),
                                           gamma=gamma)


@SCHEDULES.register(
    "one_cycle",
    description="One-cycle policy peaking at learning_rate, with momentum cycling (Smith 2018).",
)
@_warmable
def one_cycle(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    pct_start: Annotated[float, Field(gt=0, lt=1)] = 0.25,
    div_factor: Annotated[float, Field(ge=1)] = 25.0,
    final_div_factor: Annotated[float, Field(ge=1)] = 1e4,
    anneal: Literal["cos", "linear"] = "cos",
    cycle_momentum: bool = True,
    base_momentum: OpenUnitInterval = 0.85,
    max_momentum: OpenUnitInterval = 0.95,
) -> ScheduleWithCallbacks:
    """:class:`OneCycle` over the whole run, plus :class:`OneCycleMomentum`.

    Args:
        pct_start: Fraction of the run spent rising to ``learning_rate``.
        div_factor: The run starts at ``learning_rate / div_factor``.
        final_div_factor: It ends at ``learning_rate / (div_factor * final_div_factor)``.
        anneal: ``"cos"`` or ``"linear"``.
        cycle_momentum: Cycle ``momentum`` (SGD) / ``beta_1`` (Adam family)
            from ``max_momentum`` down to ``base_momentum`` and back.
        base_momentum: Momentum at the learning-rate peak.
        max_momentum: Momentum at the start and the end.
    """
    total = max(2, epochs * steps_per_epoch)
    try:
        schedule = _one_cycle.OneCycle(learning_rate, total, pct_start=pct_start, div_factor=div_factor,
                            final_div_factor=final_div_factor, anneal=anneal)
        callbacks = []
        if cycle_momentum:
            callbacks.append(_one_cycle.OneCycleMomentum(total, pct_start=pct_start, base_momentum=base_momentum,
                                              max_momentum=max_momentum, anneal=anneal))
    except ValueError as exc:
        raise ConfigError(str(exc), key="schedule") from None
    return ScheduleWithCallbacks(schedule, callbacks)


@SCHEDULES.register(
    "plateau",
    description="Constant learning_rate cut by `factor` when `monitor` plateaus (ReduceLROnPlateau).",
)
def plateau(
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    monitor: str = "val_loss",
    factor: Annotated[float, Field(gt=0, lt=1)] = 0.1,
    patience: PositiveInt = 3,
    min_delta: NonNegativeFloat = 1e-4,
    cooldown: NonNegativeInt = 0,
    min_lr: NonNegativeFloat = 0.0,
    mode: Literal["auto", "min", "max"] = "auto",
    warmup_steps: NonNegativeInt = 0,
    warmup_epochs: NonNegativeFloat = 0.0,
    warmup_start_factor: UnitInterval = 0.0,
) -> ScheduleWithCallbacks:
    """A constant rate plus a resumable ``ReduceLROnPlateau`` (performance scheduling).

    The warmup is done by the callback (the rate must stay a variable the
    callback can lower), and plateaus are watched only after it.

    Args:
        monitor: Metric to watch.
        factor: Multiplier applied to the rate on a plateau.
        patience: Epochs without improvement before reducing.
        min_delta: Smallest change that counts as an improvement.
        cooldown: Epochs to wait after a reduction before watching again.
        min_lr: Lower bound of the rate.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        warmup_steps: Linear warmup, in optimizer steps.
        warmup_epochs: Linear warmup, in epochs (instead of steps).
        warmup_start_factor: The warmup starts at ``warmup_start_factor * learning_rate``.
    """
    from kerastricks.callbacks.plateau import WarmUpReduceLROnPlateau

    warmup = warmup_length(warmup_steps, warmup_epochs, steps_per_epoch)
    callback = WarmUpReduceLROnPlateau(
        learning_rate, warmup_steps=warmup, initial_learning_rate=warmup_start_factor * learning_rate,
        monitor=monitor, factor=factor, patience=patience, min_delta=min_delta, cooldown=cooldown, min_lr=min_lr,
        mode=mode)
    start = learning_rate * warmup_start_factor if warmup else learning_rate
    return ScheduleWithCallbacks(float(start), [callback])


def check_schedule(name: str, options: dict[str, Any], *, file: str | None = None) -> None:
    """Run the checks a schedule declares for its validated ``options`` (registry meta ``check``):
    what its signature cannot say, such as equal lengths of two lists."""
    check = SCHEDULES.get(name, key="schedule.name").meta.get("check")
    if check is not None:
        try:
            check(options)
        except ConfigError as exc:
            raise (exc.with_context(file=file) if file and not exc.file else exc) from None


def build_schedule(
    name: str,
    options: dict[str, Any] | None,
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    file: str | None = None,
    with_callbacks: bool = False,
    validated: bool = False,
) -> Any:
    """Build the named schedule; options are validated first (unless ``validated``).

    Returns:
        The optimizer's ``learning_rate`` (a float or a schedule); with
        ``with_callbacks``, a pair ``(learning_rate, callbacks)`` where
        ``callbacks`` is the list of callbacks the policy needs in ``model.fit``.
    """
    if not validated:
        entry, options = SCHEDULES.validate(name, options, section="schedule", file=file, exclude=CONTEXT_ARGS,
                                            fill_defaults=False)
        check_schedule(entry.name, options, file=file)
    built = SCHEDULES.build(name, options, section="schedule", file=file, validated=True, exclude=CONTEXT_ARGS,
                            context={"learning_rate": learning_rate, "steps_per_epoch": steps_per_epoch,
                                     "epochs": epochs})
    if not isinstance(built, ScheduleWithCallbacks):
        built = ScheduleWithCallbacks(built, [])
    return (built.schedule, list(built.callbacks)) if with_callbacks else built.schedule


