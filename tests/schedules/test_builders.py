"""Schedules against numpy implementations written here, plus properties and round-trips."""

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.errors import ConfigError
from kerastricks.schedules import (
    SCHEDULES,
    CyclicalLearningRate,
    OneCycle,
    PowerDecay,
    TriangularCyclicalLearningRate,
    WarmUp,
    build_schedule,
    learning_rate_at,
)


# --- numpy references, written from the formulas (not from Keras's code) ----------------
def np_cosine(step, lr, total, warmup, start_factor, alpha):
    step = np.asarray(step, dtype=np.float64)
    warm = start_factor * lr + (lr - start_factor * lr) * step / max(warmup, 1)
    t = np.clip(step - warmup, 0, total - warmup)
    decayed = lr * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * t / (total - warmup))) + alpha)
    return np.where(step < warmup, warm, decayed)


def np_exponential(step, lr, rate, period, staircase):
    p = np.asarray(step, dtype=np.float64) / period
    return lr * rate ** (np.floor(p) if staircase else p)


def np_piecewise(step, lr, boundary_steps, factors):
    step = np.asarray(step)
    out = np.full(step.shape, lr, dtype=np.float64)
    for b, f in zip(boundary_steps, factors):
        out = np.where(step >= b, lr * f, out)  # factor applies from the boundary step on
    return out


def np_polynomial(step, lr, total, end_factor, power):
    frac = np.minimum(np.asarray(step, dtype=np.float64), total) / total
    end = lr * end_factor
    return (lr - end) * (1 - frac) ** power + end


def np_sgdr(steps, lr, first, t_mul, m_mul, alpha):
    out = []
    for step in steps:
        start, length, peak = 0.0, float(first), 1.0
        while step >= start + length:  # find the period holding `step`
            start += length
            length *= t_mul
            peak *= m_mul
        frac = (step - start) / length
        out.append(lr * ((1 - alpha) * peak * 0.5 * (1 + math.cos(math.pi * frac)) + alpha))
    return np.array(out)


def lr_tol(lr):
    # Keras evaluates in float32: ~1e-7 relative per op, a handful of ops -> rtol 1e-5;
    # values near zero (end of a decay to 0) need an absolute floor, 1e-6 of the peak.
    return dict(rtol=1e-5, atol=1e-6 * lr)


def sched(name, options=None, lr=0.1, spe=10, epochs=5, **kw):
    return build_schedule(name, options, learning_rate=lr, steps_per_epoch=spe, epochs=epochs, **kw)


# --- parity ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options, spe, epochs",
    [
        ({}, 10, 5),
        ({"alpha": 0.1}, 7, 3),
        ({"warmup_epochs": 1}, 10, 5),
        ({"warmup_epochs": 0.55, "warmup_start_factor": 0.1, "alpha": 0.05}, 10, 4),  # round(5.5) = 6
        ({"warmup_epochs": 1.5, "warmup_start_factor": 1.0}, 4, 6),
        ({"warmup_epochs": 100}, 10, 2),  # warmup longer than the run is cut to total - 1
    ],
)
def test_cosine_matches_numpy(options, spe, epochs):
    lr = 0.3
    total = spe * epochs
    warmup = min(int(round(options.get("warmup_epochs", 0) * spe)), total - 1)
    steps = np.arange(total + 5)  # past the end, the rate stays at alpha * lr
    got = learning_rate_at(sched("cosine", options, lr, spe, epochs), steps)
    want = np_cosine(steps, lr, total, warmup, options.get("warmup_start_factor", 0.0), options.get("alpha", 0.0))
    np.testing.assert_allclose(got, want, **lr_tol(lr))
    assert got[warmup] == pytest.approx(lr, rel=1e-6)


@pytest.mark.parametrize(
    "options, period",
    [({}, 10), ({"decay_rate": 0.9, "decay_epochs": 0.5}, 5),
     ({"decay_rate": 0.1, "decay_epochs": 2, "staircase": True}, 20),
     ({"staircase": True}, 10), ({"decay_epochs": 0.01}, 1)],  # a period under one step is one step
)
def test_exponential_matches_numpy(options, period):
    steps = np.arange(60)
    got = learning_rate_at(sched("exponential", options, 0.2, 10, 6), steps)
    want = np_exponential(steps, 0.2, options.get("decay_rate", 0.5), period, options.get("staircase", False))
    np.testing.assert_allclose(got, want, **lr_tol(0.2))


@pytest.mark.parametrize(
    "boundaries, factors, spe, boundary_steps",
    [([2], [0.1], 10, [20]), ([1, 2.5, 4], [0.5, 0.1, 0.01], 8, [8, 20, 32]), ([0.25], [2.0], 6, [2])],
)
def test_piecewise_matches_numpy(boundaries, factors, spe, boundary_steps):
    steps = np.arange(5 * spe)
    got = learning_rate_at(sched("piecewise", {"boundaries": boundaries, "factors": factors}, 0.1, spe, 5), steps)
    np.testing.assert_allclose(got, np_piecewise(steps, 0.1, boundary_steps, factors), **lr_tol(0.1))


def test_piecewise_changes_at_the_first_step_of_the_boundary_epoch():
    # Epoch 2 (0-based) starts at optimizer step 20: that step already uses the new rate.
    got = learning_rate_at(sched("piecewise", {"boundaries": [2], "factors": [0.1]}), [19, 20])
    np.testing.assert_allclose(got, [0.1, 0.01], rtol=1e-6)


@pytest.mark.parametrize("options", [{}, {"end_factor": 0.1}, {"end_factor": 0.01, "power": 2.0}, {"power": 0.5}])
def test_polynomial_matches_numpy(options):
    steps = np.arange(55)
    got = learning_rate_at(sched("polynomial", options, 0.1, 10, 5), steps)
    want = np_polynomial(steps, 0.1, 50, options.get("end_factor", 0.0), options.get("power", 1.0))
    np.testing.assert_allclose(got, want, **lr_tol(0.1))


@pytest.mark.parametrize("options, period, factor", [({}, 100, 0.1), ({"factor": 0.5, "step_epochs": 1.5}, 15, 0.5)])
def test_step(options, period, factor):
    steps = np.arange(0, 200)
    got = learning_rate_at(sched("step", options, 0.2, 10, 20), steps)
    np.testing.assert_allclose(got, 0.2 * factor ** (steps // period), rtol=1e-5)


@pytest.mark.parametrize("options", [{}, {"first_decay_epochs": 1, "t_mul": 1.0, "m_mul": 0.5, "alpha": 0.1},
                                     {"first_decay_epochs": 0.7, "t_mul": 3.0}])
def test_cosine_restarts(options):
    steps = np.arange(0, 200)
    got = learning_rate_at(sched("cosine_restarts", options, 0.1, 10, 20), steps)
    want = np_sgdr(steps, 0.1, round(options.get("first_decay_epochs", 5) * 10), options.get("t_mul", 2.0),
                   options.get("m_mul", 1.0), options.get("alpha", 0.0))
    # Keras finds the period with a float32 log: 2e-5 relative (measured 3e-6), atol near restarts' zeros.
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_constant_and_empty_piecewise_are_floats():
    assert sched("constant", None, lr=0.05) == 0.05
    assert sched("piecewise", {}, lr=0.05) == 0.05
    np.testing.assert_array_equal(learning_rate_at(0.05, np.arange(4)), np.full(4, 0.05))
    assert learning_rate_at(0.05, np.zeros((2, 3))).shape == (2, 3)


def test_learning_rate_at_calls_schedules():
    got = learning_rate_at(lambda step: 1.0 / (1 + step), [0, 1, 3])
    np.testing.assert_allclose(got, [1.0, 0.5, 0.25])


# --- conformance: every registered schedule -----------------------------------------------
EXAMPLE_OPTIONS = {
    "constant": {},
    "cosine": {"warmup_epochs": 1, "warmup_start_factor": 0.1, "alpha": 0.1},
    "exponential": {"decay_rate": 0.7, "staircase": True},
    "piecewise": {"boundaries": [1, 3], "factors": [0.5, 0.1]},
    "polynomial": {"end_factor": 0.2, "power": 2.0},
    "power": {"decay_epochs": 2.0, "power": 0.5},
    "step": {"factor": 0.5, "step_epochs": 2},
    "cosine_restarts": {"first_decay_epochs": 1, "t_mul": 2.0, "m_mul": 0.5, "alpha": 0.1},
    "triangular": {"step_size_epochs": 1, "base_factor": 0.2},
    "triangular2": {"step_size_steps": 7},
    "exp_range": {"gamma": 0.99},
    "one_cycle": {"pct_start": 0.3, "anneal": "linear"},
    "plateau": {"patience": 2},
}


def test_every_schedule_is_covered():
    assert sorted(SCHEDULES.names()) == sorted(EXAMPLE_OPTIONS)


@pytest.mark.parametrize("name", sorted(EXAMPLE_OPTIONS))
def test_serialize_round_trip_gives_same_values(name):
    schedule = sched(name, EXAMPLE_OPTIONS[name])
    steps = np.arange(0, 55, 3)
    if not callable(schedule):
        assert isinstance(schedule, float)
        return
    revived = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(revived) is type(schedule)
    assert revived.get_config() == schedule.get_config()
    np.testing.assert_array_equal(learning_rate_at(revived, steps), learning_rate_at(schedule, steps))


@pytest.mark.parametrize("name", sorted(EXAMPLE_OPTIONS))
def test_usable_by_an_optimizer(name):
    schedule = sched(name, EXAMPLE_OPTIONS[name])
    opt = keras.optimizers.SGD(learning_rate=schedule)
    var = keras.Variable(np.ones(2, "float32"))
    opt.apply([keras.ops.ones(2)], [var])
    opt.apply([keras.ops.ones(2)], [var])
    # lr used in the 2 steps: lr(0) + lr(1); gradient 1 -> w = 1 - sum.
    used = learning_rate_at(schedule, [0, 1]).sum()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(var), 1 - used, rtol=1e-6)


# --- validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, options, key",
    [
        ("cosine", {"warmup_epoch": 1}, "schedule.warmup_epoch"),
        ("cosine", {"alpha": 1.5}, "schedule.alpha"),
        ("cosine", {"warmup_epochs": -1}, "schedule.warmup_epochs"),
        ("cosine", {"learning_rate": 0.1}, "schedule.learning_rate"),  # comes from [optimizer]
        ("exponential", {"decay_rate": 0}, "schedule.decay_rate"),
        ("exponential", {"decay_rate": 1.5}, "schedule.decay_rate"),
        ("exponential", {"decay_epochs": 0}, "schedule.decay_epochs"),
        ("polynomial", {"power": 0}, "schedule.power"),
        ("piecewise", {"boundaries": [1, 2], "factors": [0.1]}, "schedule.factors"),
        ("piecewise", {"boundaries": [2, 1], "factors": [0.1, 0.01]}, "schedule.boundaries"),
        ("piecewise", {"boundaries": [1, 1], "factors": [0.1, 0.01]}, "schedule.boundaries"),
        ("piecewise", {"boundaries": [0], "factors": [0.1]}, "schedule.boundaries"),
        ("piecewise", {"boundaries": [1.0, 1.01], "factors": [0.1, 0.01]}, "schedule.boundaries"),  # same step
        ("piecewise", {"boundaries": [1], "factors": [-0.1]}, "schedule.factors"),
    ],
)
def test_invalid_options(name, options, key):
    with pytest.raises(ConfigError) as info:
        build_schedule(name, options, learning_rate=0.1, steps_per_epoch=10, epochs=5, file="r.toml")
    err = info.value
    assert err.key == key and err.file == "r.toml"
    assert "\n" not in str(err) and str(err).startswith(f"r.toml: key '{key}'")


@pytest.mark.parametrize(
    "name, options, key",
    [("triangular", {"base_factor": 0}, "schedule.base_factor"), ("triangular2", {"step_size_epochs": 0},
                                                                    "schedule.step_size_epochs"),
     ("exp_range", {"gamma": 1.5}, "schedule.gamma"), ("one_cycle", {"pct_start": 1.0}, "schedule.pct_start"),
     ("one_cycle", {"anneal": "exp"}, "schedule.anneal"), ("plateau", {"factor": 1.0}, "schedule.factor"),
     ("step", {"factor": 0}, "schedule.factor"), ("power", {"power": -1}, "schedule.power"),
     ("constant", {"warmup_steps": -2}, "schedule.warmup_steps")],
)
def test_invalid_recipe_options(name, options, key):
    with pytest.raises(ConfigError) as info:
        sched(name, options, file="r.toml")
    assert info.value.key == key and "\n" not in str(info.value)


def test_unknown_schedule_suggests():
    with pytest.raises(ConfigError) as info:
        sched("cosin")
    assert info.value.key == "schedule.name" and info.value.hint == "did you mean 'cosine'?"


# --- properties ---------------------------------------------------------------------------
# Each schedule call runs eagerly (~3 ms): example counts are kept small.
@settings(max_examples=15, deadline=None)
@given(
    lr=st.floats(1e-4, 10.0),
    spe=st.integers(1, 8),
    epochs=st.integers(1, 6),
    warmup_epochs=st.floats(0.0, 3.0),
    start=st.floats(0.0, 1.0),
    alpha=st.floats(0.0, 1.0),
)
def test_cosine_is_bounded_and_non_increasing_after_warmup(lr, spe, epochs, warmup_epochs, start, alpha):
    total = spe * epochs
    options = {"warmup_epochs": warmup_epochs, "warmup_start_factor": start, "alpha": alpha}
    steps = np.arange(total + 2)
    got = learning_rate_at(sched("cosine", options, lr, spe, epochs), steps)
    warmup = min(int(round(warmup_epochs * spe)), total - 1) if total > 1 else 0
    after = got[warmup:]
    slack = 1e-6 * lr  # float32 evaluation
    assert np.all(np.diff(after) <= slack)
    assert np.all(after <= lr + slack) and np.all(after >= alpha * lr - slack)
    assert after[-1] == pytest.approx(alpha * lr, rel=1e-5, abs=slack)
    # During warmup: non-decreasing from start * lr towards lr.
    assert np.all(np.diff(got[: warmup + 1]) >= -slack)
    assert got[0] == pytest.approx(start * lr if warmup else lr, rel=1e-5, abs=slack)


@settings(max_examples=10, deadline=None)
@given(
    boundaries=st.lists(st.integers(1, 20), min_size=1, max_size=4, unique=True).map(sorted),
    seed=st.integers(0, 1000),
)
def test_piecewise_holds_each_factor_between_boundaries(boundaries, seed):
    factors = list(np.random.default_rng(seed).uniform(0.01, 2.0, len(boundaries)))
    schedule = sched("piecewise", {"boundaries": boundaries, "factors": factors}, 1.0, 3, 25)
    # Just before, at and after every boundary step, plus the ends.
    steps = np.unique([0, 3 * 22] + [3 * b + d for b in boundaries for d in (-1, 0, 1)])
    np.testing.assert_allclose(
        learning_rate_at(schedule, steps), np_piecewise(steps, 1.0, [3 * b for b in boundaries], factors), rtol=1e-6
    )


@settings(max_examples=10, deadline=None)
@given(rate=st.floats(0.01, 1.0), decay_epochs=st.floats(0.1, 3.0))
def test_exponential_staircase_is_constant_within_a_period(rate, decay_epochs):
    schedule = sched("exponential", {"decay_rate": rate, "decay_epochs": decay_epochs, "staircase": True}, 1.0, 10, 4)
    period = max(1, int(round(decay_epochs * 10)))
    got = learning_rate_at(schedule, np.arange(40))
    # float32: rtol 1e-5 for the powers; values below ~1e-38 flush to zero, hence a tiny atol.
    np.testing.assert_allclose(got, rate ** (np.arange(40) // period), rtol=1e-5, atol=1e-30)
    assert math.isclose(got[0], 1.0)


# --- saving -------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="kerastricks_tests")
def third_per_cycle(cycle):
    return (1 / 3) ** (cycle - 1)


SAVE_CASES = {
    "triangular": TriangularCyclicalLearningRate(0.01, 0.1, 3),
    "warm_one_cycle": WarmUp(OneCycle(0.1, 40, pct_start=0.3), 5, 0.001),
    "power": PowerDecay(0.1, 7, 0.5),
    "custom_scale_fn": CyclicalLearningRate(0.01, 0.1, 3, scale_fn=third_per_cycle),
    **{name: sched(name, {"warmup_steps": 2}) for name in ("triangular2", "exp_range")},
}


@pytest.mark.parametrize("case", sorted(SAVE_CASES))
def test_saved_and_reloaded_inside_an_optimizer(case, tmp_path):
    schedule = SAVE_CASES[case]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(learning_rate=schedule, momentum=0.9), loss="mse")
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    model.fit(x, x[:, :2], batch_size=4, epochs=1, verbose=0)  # 6 steps
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    revived = loaded.optimizer.get_config()["learning_rate"]
    assert revived == model.optimizer.get_config()["learning_rate"]
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 6
    # Same rate now and later, same next step.
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate)),
                               float(learning_rate_at(schedule, [6])[0]), rtol=1e-6)
    model.fit(x[:4], x[:4, :2], batch_size=4, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x[:4], x[:4, :2], batch_size=4, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
