"""Cyclical learning rates against the tensorflow-addons formulas written in numpy here."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.schedules import (
    CyclicalLearningRate,
    ExponentialCyclicalLearningRate,
    Triangular2CyclicalLearningRate,
    TriangularCyclicalLearningRate,
    build_schedule,
    learning_rate_at,
)


def rates(schedule, steps):
    """One eager, vectorized call (these schedules are elementwise in ``step``)."""
    return keras.ops.convert_to_numpy(schedule(np.asarray(steps, dtype="float32"))).astype(np.float64)


# --- numpy reference (Smith 2017, eq. as in tensorflow-addons' docstring) --------------------
def np_cyclical(step, initial, maximal, step_size, scale_fn, scale_mode):
    step = np.asarray(step, dtype=np.float64)
    cycle = np.floor(1 + step / (2 * step_size))
    x = np.abs(step / step_size - 2 * cycle + 1)
    mode_step = cycle if scale_mode == "cycle" else step
    return initial + (maximal - initial) * np.maximum(0, 1 - x) * scale_fn(mode_step)


def tol(maximal):
    # float32 evaluation: step / step_size and a few products, ~1e-6 relative; atol for
    # values close to zero, 1e-6 of the upper bound.
    return {"rtol": 2e-6, "atol": 1e-6 * maximal}


def triangle_scale(m):
    return np.ones_like(m)


def halving_scale(m):
    return np.exp2(1.0 - m)


@keras.saving.register_keras_serializable(package="kerastricks_tests")
def quarter_per_cycle(cycle):
    return 0.25 ** (cycle - 1)


# Steps: every step of the first cycles (boundaries step_size, 2*step_size ... included), step 0, far steps.
STEPS = np.concatenate([np.arange(0, 61), [99, 100, 101, 999, 1000, 1001, 12345]])


@pytest.mark.parametrize("step_size", [1, 5, 7.5, 10])
def test_triangular(step_size):
    schedule = TriangularCyclicalLearningRate(0.01, 0.1, step_size)
    want = np_cyclical(STEPS, 0.01, 0.1, step_size, triangle_scale, "cycle")
    np.testing.assert_allclose(rates(schedule, STEPS), want, **tol(0.1))


@pytest.mark.parametrize("scale_mode", ["cycle", "iterations"])
def test_triangular2(scale_mode):
    schedule = Triangular2CyclicalLearningRate(1e-3, 1e-1, 4, scale_mode=scale_mode)
    want = np_cyclical(STEPS, 1e-3, 1e-1, 4, halving_scale, scale_mode)
    np.testing.assert_allclose(rates(schedule, STEPS), want, **tol(0.1))


@pytest.mark.parametrize("gamma, scale_mode", [(0.99, "iterations"), (1.0, "iterations"), (0.5, "cycle")])
def test_exp_range(gamma, scale_mode):
    schedule = ExponentialCyclicalLearningRate(0.02, 0.2, 6, scale_mode=scale_mode, gamma=gamma)
    want = np_cyclical(STEPS, 0.02, 0.2, 6, lambda m: gamma ** m, scale_mode)
    # gamma**step is a float32 power of a large exponent: rtol 2e-5 (measured max 4e-6).
    np.testing.assert_allclose(rates(schedule, STEPS), want, rtol=2e-5, atol=1e-6 * 0.2)


def test_custom_scale_fn_and_its_round_trip():
    schedule = CyclicalLearningRate(0.1, 1.0, 3, scale_fn=quarter_per_cycle)
    want = np_cyclical(STEPS, 0.1, 1.0, 3, lambda c: 0.25 ** (c - 1), "cycle")
    np.testing.assert_allclose(rates(schedule, STEPS), want, **tol(1.0))
    revived = CyclicalLearningRate.from_config(schedule.get_config())
    assert revived.scale_fn is quarter_per_cycle
    np.testing.assert_array_equal(rates(revived, STEPS), rates(schedule, STEPS))
    # The trainer's compiled evaluation may fuse ops differently: one float32 ulp.
    np.testing.assert_allclose(learning_rate_at(schedule, STEPS), rates(schedule, STEPS), rtol=3e-7)


def test_unregistered_scale_fn_works_but_cannot_be_saved():
    schedule = CyclicalLearningRate(0.1, 1.0, 3, scale_fn=lambda c: 1.0 / c)
    assert float(schedule(3)) == pytest.approx(1.0)  # peak of cycle 1
    with pytest.raises(ValueError, match="`scale_fn` must be registered"):
        schedule.get_config()


def test_anchor_points():
    s = TriangularCyclicalLearningRate(0.1, 0.5, 10)
    np.testing.assert_allclose(rates(s, [0, 5, 10, 15, 20, 30]), [0.1, 0.3, 0.5, 0.3, 0.1, 0.5],
                               rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"initial_learning_rate": 0.0}, "initial_learning_rate"),
        ({"maximal_learning_rate": 0.01}, "maximal_learning_rate"),
        ({"step_size": 0}, "step_size"),
        ({"scale_mode": "epoch"}, "scale_mode"),
    ],
)
def test_invalid_arguments(kwargs, match):
    args = {"initial_learning_rate": 0.1, "maximal_learning_rate": 1.0, "step_size": 4, **kwargs}
    with pytest.raises(ValueError, match=f"`{match}`"):
        TriangularCyclicalLearningRate(**args)


def test_invalid_gamma_and_missing_scale_fn():
    with pytest.raises(ValueError, match="`gamma`"):
        ExponentialCyclicalLearningRate(0.1, 1.0, 4, gamma=1.5)
    with pytest.raises(TypeError, match="`scale_fn`"):
        CyclicalLearningRate(0.1, 1.0, 4, scale_fn=None)


# --- properties ----------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(lo=st.floats(1e-5, 1.0), ratio=st.floats(1.0, 100.0), step_size=st.integers(1, 50),
       start=st.integers(0, 500))
def test_triangular_is_periodic_and_bounded(lo, ratio, step_size, start):
    hi = lo * ratio
    s = TriangularCyclicalLearningRate(lo, hi, step_size)
    steps = np.arange(start, start + 2 * step_size + 1)
    here = rates(s, steps)
    np.testing.assert_allclose(rates(s, steps + 2 * step_size), here, rtol=1e-5)
    slack = 1e-6 * hi
    assert np.all(here >= lo - slack) and np.all(here <= hi + slack)


@settings(max_examples=20, deadline=None)
@given(lo=st.floats(1e-5, 1.0), ratio=st.floats(1.0, 100.0), step_size=st.integers(1, 50),
       start=st.integers(0, 300))
def test_triangular2_halves_its_amplitude_every_cycle(lo, ratio, step_size, start):
    hi = lo * ratio
    s = Triangular2CyclicalLearningRate(lo, hi, step_size)
    steps = np.arange(start, start + 2 * step_size)
    here = rates(s, steps) - lo
    nxt = rates(s, steps + 2 * step_size) - lo
    np.testing.assert_allclose(nxt, here / 2, rtol=1e-4, atol=1e-6 * hi)  # differences of float32 values
    assert np.all(here >= -1e-6 * hi) and np.all(here <= (hi - lo) + 1e-6 * hi)


@settings(max_examples=15, deadline=None)
@given(gamma=st.floats(0.9, 1.0), step_size=st.integers(1, 30))
def test_exp_range_stays_under_its_decaying_envelope(gamma, step_size):
    s = ExponentialCyclicalLearningRate(0.01, 1.0, step_size, gamma=gamma)
    steps = np.arange(0, 8 * step_size)
    got = rates(s, steps)
    envelope = 0.01 + 0.99 * gamma ** steps.astype(np.float64)
    assert np.all(got >= 0.01 - 1e-7) and np.all(got <= envelope * (1 + 1e-5))


# --- recipe builders -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, options, cls, half, extra",
    [
        ("triangular", {}, TriangularCyclicalLearningRate, 20, {}),
        ("triangular", {"step_size_epochs": 0.5, "base_factor": 0.5}, TriangularCyclicalLearningRate, 5, {}),
        ("triangular2", {"step_size_steps": 7}, Triangular2CyclicalLearningRate, 7, {}),
        ("exp_range", {"gamma": 0.95}, ExponentialCyclicalLearningRate, 20, {"gamma": 0.95}),
    ],
)
def test_builders_convert_epochs_to_steps(name, options, cls, half, extra):
    s = build_schedule(name, options, learning_rate=0.4, steps_per_epoch=10, epochs=8)
    assert type(s) is cls
    config = s.get_config()
    assert config["step_size"] == half and config["maximal_learning_rate"] == 0.4
    assert config["initial_learning_rate"] == pytest.approx(0.4 * options.get("base_factor", 0.1))
    for key, value in extra.items():
        assert config[key] == value
