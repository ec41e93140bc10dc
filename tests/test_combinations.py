"""Every preset x optimizer x schedule either fails validation (one ConfigError) or trains.

Nothing may pass validation and then crash at the first step: that leaves a dead run directory
behind. The full grid is validated (no TensorFlow needed); what validates is trained for a few
real steps through the trainer's own build path: every optimizer with each schedule that reaches
into the optimizer (or wraps the rate) on a small ``digits`` model, and every preset with every
schedule it validates with, under the preset's own optimizer.
"""

import math

import pytest

from kerastricks.errors import ConfigError
from kerastricks.optimizers import OPTIMIZERS
from kerastricks.recipes import PRESETS, load_recipe
from kerastricks.schedules import SCHEDULES

OPTIMIZER_NAMES = sorted(OPTIMIZERS.names())
SCHEDULE_NAMES = sorted(SCHEDULES.names())
PRESET_NAMES = sorted(PRESETS.names())


def resolve(preset, optimizer=None, schedule=None, extra=()):
    overrides = list(extra)
    if optimizer is not None:
        overrides.append(f"optimizer.name={optimizer}")
    if schedule is not None:
        overrides.append(f"schedule.name={schedule}")
    try:
        return load_recipe(None, preset=preset, overrides=overrides), None
    except ConfigError as exc:
        return None, exc


def first_steps(recipe, steps=3, eager=False):
    """Build exactly as the trainer does and run ``steps`` training steps plus one validation step
    (compiled, as the trainer runs them, unless ``eager``)."""
    from kerastricks.build import build_components
    from kerastricks.runtime import prepared
    from kerastricks.techniques import TrainContext

    with prepared(recipe.train, file=recipe.source) as runtime:
        ctx = TrainContext.for_recipe(recipe)
        techniques = recipe.build_techniques()
        parts = build_components(recipe, ctx, techniques, jit=runtime.jit)
        parts.model.run_eagerly = eager
        callbacks = list(parts.schedule_callbacks)
        for technique in techniques:
            callbacks.extend(technique.callbacks(ctx))
        history = parts.model.fit(parts.train_ds, validation_data=parts.val_ds, validation_steps=1, epochs=1,
                                  steps_per_epoch=steps, callbacks=callbacks, verbose=0)
    return history.history


def test_every_combination_validates_or_fails_with_one_line():
    outcomes = {"ok": 0, "refused": 0}
    for preset in PRESET_NAMES:
        for optimizer in OPTIMIZER_NAMES:
            for schedule in SCHEDULE_NAMES:
                recipe, error = resolve(preset, optimizer, schedule)
                if error is None:
                    outcomes["ok"] += 1
                    continue
                outcomes["refused"] += 1
                line = error.line()
                assert "\n" not in line and line.startswith(f"preset:{preset}: key '"), line
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0, outcomes


SMALL = ("model.width=8", "train.batch_size=64", "train.steps_per_execution=1")
#: A plain rate, and the schedules that reach into the optimizer: one-cycle (a LearningRateSchedule
#: object plus momentum cycling) and plateau (rate cuts on the optimizer's variable).
OPTIMIZER_SENSITIVE = ("constant", "one_cycle", "plateau")


@pytest.fixture(autouse=True)
def _fresh_session():
    import keras

    yield
    keras.backend.clear_session()  # once per test: a collection per combination costs more than its step


def trains(recipe, *, eager):
    """One training step (eager) or two (compiled: the first traces), with finite losses."""
    history = first_steps(recipe, steps=1 if eager else 2, eager=eager)
    return all(math.isfinite(v) for v in history["loss"])


@pytest.mark.parametrize("optimizer", OPTIMIZER_NAMES)
def test_every_optimizer_trains_with_the_schedules_it_validates_with(optimizer):
    tried = []
    for schedule in OPTIMIZER_SENSITIVE:
        recipe, error = resolve("digits", optimizer, schedule, SMALL)
        if error is None:
            # the first one compiled, as the trainer runs it; the rest eagerly (no tracing: 4x faster)
            assert trains(recipe, eager=bool(tried)), (optimizer, schedule)
            tried.append(schedule)
    assert "constant" in tried, f"{optimizer} does not even validate with a constant rate"


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_every_preset_trains_with_every_schedule_it_validates_with(preset):
    tried = []
    for schedule in [None, *SCHEDULE_NAMES]:  # None: the preset's own schedule, compiled
        recipe, error = resolve(preset, schedule=schedule, extra=("train.steps_per_execution=1",))
        if error is None:
            assert trains(recipe, eager=schedule is not None), (preset, schedule)
            tried.append(schedule)
    assert None in tried and len(tried) > len(SCHEDULE_NAMES) // 2, tried
