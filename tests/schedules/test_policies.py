"""WarmUp, power/step/SGDR builders, the warmup option of every schedule, plateau, and saving."""

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
from kerastricks.schedules.plateau import WarmUpReduceLROnPlateau

TOL = {"rtol": 1e-5, "atol": 1e-7}  # float32 evaluation of a few ops; atol for rates near 0


def rates(schedule, steps):
    return keras.ops.convert_to_numpy(schedule(np.asarray(steps, dtype="float32"))).astype(np.float64)


def sched(name, options=None, lr=0.1, spe=10, epochs=5, **kw):
    return build_schedule(name, options, learning_rate=lr, steps_per_epoch=spe, epochs=epochs, **kw)


# --- numpy references -----------------------------------------------------------------------
def np_warmup(steps, inner, warmup, initial):
    steps = np.asarray(steps, dtype=np.float64)
    target = inner(np.array([warmup], dtype=np.float64))[0]
    return np.where(steps < warmup, initial + (target - initial) * steps / max(warmup, 1), inner(steps))


def np_power(steps, lr, s, c):
    return lr / (1 + np.asarray(steps, dtype=np.float64) / s) ** c


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


# --- WarmUp ---------------------------------------------------------------------------------
@pytest.mark.parametrize("warmup, initial", [(0, 0.0), (1, 0.0), (10, 0.0), (7, 0.01)])
def test_warmup_in_front_of_a_schedule(warmup, initial):
    inner = PowerDecay(0.1, decay_steps=5, power=1.0)
    s = WarmUp(inner, warmup, initial)
    steps = np.arange(0, 40)
    want = np_warmup(steps, lambda t: np_power(t, 0.1, 5, 1.0), warmup, initial)
    np.testing.assert_allclose(rates(s, steps), want, **TOL)
    if warmup:
        assert rates(s, [0])[0] == pytest.approx(initial, abs=1e-9)


def test_warmup_of_a_constant_and_of_a_keras_schedule():
    np.testing.assert_allclose(rates(WarmUp(0.2, 4), np.arange(8)), [0, 0.05, 0.1, 0.15, 0.2, 0.2, 0.2, 0.2], **TOL)
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


# --- builders ---------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"decay_epochs": 0.5, "power": 2.0}])
def test_power(options):
    steps = np.arange(60)
    got = learning_rate_at(sched("power", options, 0.3, 10, 6), steps)
    want = np_power(steps, 0.3, options.get("decay_epochs", 1.0) * 10, options.get("power", 1.0))
    np.testing.assert_allclose(got, want, **TOL)


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


WARMABLE = sorted(set(SCHEDULES.names()) - {"cosine", "plateau"})  # cosine has Keras's own; plateau a callback


@pytest.mark.parametrize("name", WARMABLE)
def test_every_schedule_takes_a_warmup(name):
    plain = sched(name, {}, 0.1, 10, 6)
    warm = sched(name, {"warmup_steps": 12, "warmup_start_factor": 0.1}, 0.1, 10, 6)
    warm_epochs = sched(name, {"warmup_epochs": 1.2, "warmup_start_factor": 0.1}, 0.1, 10, 6)
    steps = np.arange(0, 70)
    inner = learning_rate_at(plain, steps)
    want = np.where(steps < 12, 0.01 + (inner[12] - 0.01) * steps / 12, inner)
    np.testing.assert_allclose(learning_rate_at(warm, steps), want, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(learning_rate_at(warm_epochs, steps), learning_rate_at(warm, steps))


def test_cosine_takes_warmup_steps_like_warmup_epochs():
    a = learning_rate_at(sched("cosine", {"warmup_steps": 15}), np.arange(50))
    b = learning_rate_at(sched("cosine", {"warmup_epochs": 1.5}), np.arange(50))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["constant", "cosine", "plateau", "one_cycle"])
def test_warmup_in_steps_or_epochs_not_both(name):
    with pytest.raises(ConfigError) as info:
        sched(name, {"warmup_steps": 3, "warmup_epochs": 1.0}, file="r.toml")
    assert info.value.key == "schedule.warmup_steps" and str(info.value).startswith("r.toml")


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


def test_one_cycle_too_short_for_its_pct_start_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        sched("one_cycle", {"pct_start": 0.1}, spe=1, epochs=5, file="r.toml")
    assert info.value.key == "schedule" and "pct_start" in str(info.value)


# --- plateau -----------------------------------------------------------------------------------
def test_plateau_is_a_constant_plus_its_callback():
    lr, (cb,) = sched("plateau", {"patience": 2, "factor": 0.5}, 0.1, with_callbacks=True)
    assert lr == 0.1 and isinstance(cb, WarmUpReduceLROnPlateau)
    assert (cb.patience, cb.factor, cb.monitor, cb.warmup_steps) == (2, 0.5, "val_loss", 0)


def _fit_with(callback, values, steps_per_epoch=4, lr=0.1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr), loss="mse")
    seen_batches, seen_epochs = [], []

    class Feed(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = values[epoch]

    class Record(keras.callbacks.Callback):  # runs after the callback under test
        def on_train_batch_begin(self, batch, logs=None):
            seen_batches.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        def on_epoch_end(self, epoch, logs=None):
            seen_epochs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    x = np.ones((4 * steps_per_epoch, 2), "float32")
    model.fit(x, x[:, :1], batch_size=4, epochs=len(values), verbose=0, shuffle=False,
              callbacks=[Feed(), callback, Record()])
    return seen_batches, seen_epochs


def test_plateau_warms_up_then_watches():
    # 6 warmup steps (1.5 epochs of 4 steps) from 0.02 to 0.1; flat metric afterwards.
    lr, (cb,) = sched("plateau", {"patience": 1, "factor": 0.5, "warmup_steps": 6, "warmup_start_factor": 0.2},
                      0.1, spe=4, with_callbacks=True)
    assert lr == pytest.approx(0.02)
    batches, epochs = _fit_with(cb, [1.0] * 5, lr=lr)
    # Rates in use at each step (set before it): the ramp 0.02 + 0.08 * t / 6, then 0.1.
    np.testing.assert_allclose(batches[:7], [0.02 + 0.08 * t / 6 for t in range(6)] + [0.1], rtol=1e-6)
    # Epoch 1 ends inside the warmup (ignored); epoch 2 sets best; 3 flat -> cut (patience 1); 4 best is
    # still 1.0 -> flat -> cut; 5 -> cut.
    np.testing.assert_allclose(epochs, [0.02 + 0.08 * 3 / 6, 0.1, 0.05, 0.025, 0.0125], rtol=1e-6)


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
