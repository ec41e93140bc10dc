"""OneCycle against PyTorch's OneCycleLR semantics written in numpy here, and its momentum cycle."""

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.errors import ConfigError
from kerastricks.schedules import OneCycle, OneCycleMomentum, build_schedule


def rates(schedule, steps):
    return keras.ops.convert_to_numpy(schedule(np.asarray(steps, dtype="float32"))).astype(np.float64)


# --- numpy reference: PyTorch OneCycleLR (three_phase=False), step by step -------------------
def np_two_phase(steps, total, pct_start, start, peak, end, anneal="cos"):
    """PyTorch's phase loop: start -> peak at pct_start * total - 1 -> end at total - 1."""
    phases = [(pct_start * total - 1, start, peak), (total - 1, peak, end)]

    def ann(a, b, p):
        if anneal == "cos":
            return b + (a - b) / 2 * (math.cos(math.pi * p) + 1)
        return (b - a) * p + a

    out = []
    for step in steps:
        step = min(step, total - 1)  # PyTorch raises past the end; OneCycle holds the final value
        begin = 0.0
        for i, (stop, a, b) in enumerate(phases):
            if step <= stop or i == len(phases) - 1:
                out.append(ann(a, b, (step - begin) / (stop - begin)))
                break
            begin = stop
    return np.array(out)


def np_one_cycle(steps, max_lr, total, pct_start=0.25, div_factor=25.0, final_div_factor=1e4, anneal="cos"):
    initial = max_lr / div_factor
    return np_two_phase(steps, total, pct_start, initial, max_lr, initial / final_div_factor, anneal)


def tol(max_lr):
    # float32: cos of a float32 fraction, ~1e-6 relative; atol 1e-6 of the peak for values near the end.
    return {"rtol": 1e-5, "atol": 1e-6 * max_lr}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"pct_start": 0.3, "anneal": "linear"},
        {"div_factor": 10.0, "final_div_factor": 100.0},
        {"pct_start": 0.5, "div_factor": 1.0, "final_div_factor": 1.0},  # flat at max
    ],
)
@pytest.mark.parametrize("total", [10, 101, 1000])
def test_matches_pytorch_semantics(kwargs, total):
    s = OneCycle(0.1, total, **kwargs)
    pct = kwargs.get("pct_start", 0.25)
    peak = pct * total - 1
    steps = sorted({0, 1, 2, math.floor(peak), math.ceil(peak), total // 2, total - 2, total - 1, total,
                    total + 50, *range(0, total, max(1, total // 37))})
    np.testing.assert_allclose(rates(s, steps), np_one_cycle(steps, 0.1, total, **kwargs), **tol(0.1))


def test_endpoints():
    s = OneCycle(0.05, 200, pct_start=0.25, div_factor=25.0, final_div_factor=1e4)
    start, peak, end = rates(s, [0, 49, 199])  # peak at 0.25 * 200 - 1
    assert start == pytest.approx(0.05 / 25, rel=1e-6)
    assert peak == pytest.approx(0.05, rel=1e-6)
    assert end == pytest.approx(0.05 / 25 / 1e4, rel=1e-5)
    assert s.initial_learning_rate == 0.05 / 25 and s.final_learning_rate == 0.05 / 25 / 1e4


@settings(max_examples=25, deadline=None)
@given(total=st.integers(10, 5000), pct=st.floats(0.11, 0.9), div=st.floats(1.0, 100.0),
       final_div=st.floats(1.0, 1e5), anneal=st.sampled_from(["cos", "linear"]))
def test_rises_then_falls_within_bounds(total, pct, div, final_div, anneal):
    s = OneCycle(1.0, total, pct_start=pct, div_factor=div, final_div_factor=final_div, anneal=anneal)
    steps = np.arange(total + 3)
    got = rates(s, steps)
    peak = math.floor(pct * total - 1)
    slack = 2e-6
    assert np.all(np.diff(got[: peak + 1]) >= -slack)  # non-decreasing up to the peak
    assert np.all(np.diff(got[peak + 1:]) <= slack)  # non-increasing after it
    assert got.max() <= 1.0 + slack and got.min() >= s.final_learning_rate * (1 - 1e-4) - 1e-7


@pytest.mark.parametrize(
    "kwargs, match",
    [({"total_steps": 1}, "total_steps"), ({"total_steps": 10.5}, "total_steps"), ({"pct_start": 1.0}, "pct_start"),
     ({"pct_start": 0.05}, "pct_start"), ({"div_factor": 0.5}, "div_factor"), ({"anneal": "exp"}, "anneal"),
     ({"maximal_learning_rate": 0.0}, "maximal_learning_rate")],
)
def test_invalid_arguments(kwargs, match):
    args = {"maximal_learning_rate": 0.1, "total_steps": 10, **kwargs}
    with pytest.raises(ValueError, match=f"`{match}`"):
        OneCycle(**args)


# --- momentum cycling ------------------------------------------------------------------------
@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_momentum_values_mirror_the_rate(anneal):
    cb = OneCycleMomentum(100, pct_start=0.25, base_momentum=0.85, max_momentum=0.95, anneal=anneal)
    steps = [0, 1, 10, 23, 24, 25, 50, 98, 99, 150]
    got = keras.ops.convert_to_numpy(cb.momentum_at(np.array(steps, "float32")))
    np.testing.assert_allclose(got, np_two_phase(steps, 100, 0.25, 0.95, 0.85, 0.95, anneal), rtol=1e-6)
    assert got[4] == pytest.approx(0.85, rel=1e-6)  # lowest at the rate's peak (step 24)


@pytest.mark.parametrize("optimizer, attribute", [
    (lambda: keras.optimizers.SGD(0.05, momentum=0.9), "momentum"),
    (lambda: keras.optimizers.AdamW(0.01), "beta_1"),
])
def test_momentum_reaches_the_compiled_step(optimizer, attribute):
    """SGD with momentum, one variable, gradient 1: m_t = mu_t m_{t-1} - lr, w_t = w_{t-1} + m_t (Keras SGD)."""
    total = 12
    inputs = keras.Input((1,))
    out = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(inputs)
    model = keras.Model(inputs, out)
    opt = optimizer()
    model.compile(opt, loss=lambda y, p: keras.ops.mean(p), jit_compile=False)  # d loss / d w = mean(x) = 1
    cb = OneCycleMomentum(total, pct_start=0.5)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(getattr(self.model.optimizer, attribute))))

    x = np.ones((total, 1), "float32")
    model.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[cb, Spy()])
    expected_mu = keras.ops.convert_to_numpy(cb.momentum_at(np.arange(total, dtype="float32")))
    np.testing.assert_allclose(seen, expected_mu, rtol=1e-6)
    assert getattr(opt, attribute) == 0.9  # the number is back after training
    assert opt.get_config()[attribute] == 0.9
    w = float(model.get_weights()[0][0, 0])
    if attribute == "momentum":
        m, want = 0.0, 1.0
        for mu in expected_mu.astype(np.float64):
            m = mu * m - 0.05
            want += m
        assert w == pytest.approx(want, rel=1e-5)
    else:
        # AdamW (Keras): w <- w - lr * wd * w, then Adam with the current beta_1 in its bias correction.
        w_ref = 1.0
        m = v = 0.0
        for t, b1 in enumerate(expected_mu.astype(np.float64), start=1):
            w_ref -= 0.01 * 0.004 * w_ref
            m += (1 - b1) * (1.0 - m)
            v += (1 - 0.999) * (1.0 - v)
            alpha = 0.01 * math.sqrt(1 - 0.999 ** t) / (1 - b1 ** t)
            w_ref -= alpha * m / (math.sqrt(v) + 1e-7)
        assert w == pytest.approx(w_ref, rel=1e-5)


def test_momentum_needs_a_momentum():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    with pytest.raises(ValueError, match="momentum"):
        model.fit(np.ones((4, 1)), np.ones((4, 1)), verbose=0, callbacks=[OneCycleMomentum(10)])


def test_builder_returns_the_momentum_callback():
    schedule, callbacks = build_schedule("one_cycle", {"pct_start": 0.3}, learning_rate=0.02, steps_per_epoch=10,
                                         epochs=5, with_callbacks=True)
    assert isinstance(schedule, OneCycle) and schedule.total_steps == 50 and schedule.pct_start == 0.3
    assert schedule.maximal_learning_rate == 0.02
    (cb,) = callbacks
    assert isinstance(cb, OneCycleMomentum) and cb.total_steps == 50 and cb.pct_start == 0.3
    _, none = build_schedule("one_cycle", {"cycle_momentum": False}, learning_rate=0.02, steps_per_epoch=10,
                             epochs=5, with_callbacks=True)
    assert none == []


def test_one_cycle_too_short_for_its_pct_start_is_a_config_error(sched):
    with pytest.raises(ConfigError) as info:
        sched("one_cycle", {"pct_start": 0.1}, spe=1, epochs=5, file="r.toml")
    assert info.value.key == "schedule" and "pct_start" in str(info.value)
