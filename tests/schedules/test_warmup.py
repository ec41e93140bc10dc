"""WarmUp against a numpy ramp, and the warmup option every schedule takes."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.errors import ConfigError
from kerastricks.schedules import (
    SCHEDULES,
    PowerDecay,
    TriangularCyclicalLearningRate,
    WarmUp,
    learning_rate_at,
)


def rates(schedule, steps):
    return keras.ops.convert_to_numpy(schedule(np.asarray(steps, dtype="float32"))).astype(np.float64)


# --- numpy references -----------------------------------------------------------------------
def np_warmup(steps, inner, warmup, initial):
    steps = np.asarray(steps, dtype=np.float64)
    target = inner(np.array([warmup], dtype=np.float64))[0]
    return np.where(steps < warmup, initial + (target - initial) * steps / max(warmup, 1), inner(steps))


# --- WarmUp ---------------------------------------------------------------------------------
@pytest.mark.parametrize("warmup, initial", [(0, 0.0), (1, 0.0), (10, 0.0), (7, 0.01)])
def test_warmup_in_front_of_a_schedule(warmup, initial, np_power, tol):
    inner = PowerDecay(0.1, decay_steps=5, power=1.0)
    s = WarmUp(inner, warmup, initial)
    steps = np.arange(0, 40)
    want = np_warmup(steps, lambda t: np_power(t, 0.1, 5, 1.0), warmup, initial)
    np.testing.assert_allclose(rates(s, steps), want, **tol)
    if warmup:
        assert rates(s, [0])[0] == pytest.approx(initial, abs=1e-9)


def test_warmup_of_a_constant_and_of_a_keras_schedule(tol):
    np.testing.assert_allclose(rates(WarmUp(0.2, 4), np.arange(8)), [0, 0.05, 0.1, 0.15, 0.2, 0.2, 0.2, 0.2], **tol)
    cos = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=30)
    got = learning_rate_at(WarmUp(cos, 5, 0.0), np.arange(35))
    ref = learning_rate_at(cos, np.arange(35))
    np.testing.assert_allclose(got[5:], ref[5:], rtol=1e-6)  # untouched after the warmup (not shifted)
    np.testing.assert_allclose(got[:5], ref[5] * np.arange(5) / 5, rtol=1e-6)


@settings(max_examples=20, deadline=None)
@given(lr=st.floats(1e-4, 1.0), warmup=st.integers(1, 50), start=st.floats(0.0, 1.0))
def test_warmup_is_monotone_and_continuous(lr, warmup, start):
    s = WarmUp(lr, warmup, start * lr)
    got = rates(s, np.arange(warmup + 3))
    assert np.all(np.diff(got) >= -1e-6 * lr)
    assert got[warmup] == pytest.approx(lr, rel=1e-6)
    assert abs(got[warmup] - got[warmup - 1]) <= lr * (1 - start) / warmup * (1 + 1e-4) + 1e-7


def test_warmup_round_trip_nests():
    s = WarmUp(TriangularCyclicalLearningRate(0.01, 0.1, 4), 3, 0.001)
    revived = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(revived.schedule, TriangularCyclicalLearningRate)
    assert revived.get_config() == s.get_config()
    np.testing.assert_array_equal(rates(revived, np.arange(20)), rates(s, np.arange(20)))
    assert WarmUp.from_config(WarmUp(0.3, 2).get_config()).schedule == 0.3


@pytest.mark.parametrize("kwargs, error", [({"warmup_steps": -1}, ValueError), ({"warmup_steps": 2.5}, ValueError),
                                           ({"initial_learning_rate": -1.0}, ValueError),
                                           ({"schedule": "x"}, TypeError)])
def test_warmup_invalid(kwargs, error):
    args = {"schedule": 0.1, "warmup_steps": 3, **kwargs}
    with pytest.raises(error, match="Argument"):
        WarmUp(**args)


# --- the warmup option of every schedule ------------------------------------------------------
WARMABLE = sorted(set(SCHEDULES.names()) - {"cosine", "plateau"})  # cosine has Keras's own; plateau a callback


@pytest.mark.parametrize("name", WARMABLE)
def test_every_schedule_takes_a_warmup(name, sched):
    plain = sched(name, {}, 0.1, 10, 6)
    warm = sched(name, {"warmup_steps": 12, "warmup_start_factor": 0.1}, 0.1, 10, 6)
    warm_epochs = sched(name, {"warmup_epochs": 1.2, "warmup_start_factor": 0.1}, 0.1, 10, 6)
    steps = np.arange(0, 70)
    inner = learning_rate_at(plain, steps)
    want = np.where(steps < 12, 0.01 + (inner[12] - 0.01) * steps / 12, inner)
    np.testing.assert_allclose(learning_rate_at(warm, steps), want, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(learning_rate_at(warm_epochs, steps), learning_rate_at(warm, steps))


def test_cosine_takes_warmup_steps_like_warmup_epochs(sched):
    a = learning_rate_at(sched("cosine", {"warmup_steps": 15}), np.arange(50))
    b = learning_rate_at(sched("cosine", {"warmup_epochs": 1.5}), np.arange(50))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["constant", "cosine", "plateau", "one_cycle"])
def test_warmup_in_steps_or_epochs_not_both(name, sched):
    with pytest.raises(ConfigError) as info:
        sched(name, {"warmup_steps": 3, "warmup_epochs": 1.0}, file="r.toml")
    assert info.value.key == "schedule.warmup_steps" and str(info.value).startswith("r.toml")
