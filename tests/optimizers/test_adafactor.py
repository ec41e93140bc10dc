"""Adafactor: numpy parity with Shazeer & Stern (2018) Algorithms 4/5, state shapes, arguments."""

import hypothesis.strategies as st
import keras
import numpy as np
import pytest
from hypothesis import given, settings

from kerastricks.optimizers import Adafactor
from kerastricks.optimizers.adafactor import factored_dims


# --- the paper's update rule, in numpy (float64), written with row/column SUMS as in Algorithm 4 ----
def numpy_adafactor(x0, grads, *, lr=None, beta_1=None, decay_rate=0.8, eps1=1e-30, eps2=1e-3, d=1.0,
                    scale=True, min_dim=128, relative=True, warmup=False):
    x = x0.astype(np.float64).copy()
    shape = x.shape
    factored = len(shape) >= 2 and shape[-1] >= min_dim and shape[-2] >= min_dim
    R = np.zeros(shape[:-1]) if factored else None
    C = np.zeros(shape[:-2] + shape[-1:]) if factored else None
    V = None if factored else np.zeros(shape)
    m = np.zeros(shape)
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        beta2 = 1.0 - t ** (-decay_rate)
        sq = g * g + eps1
        if factored:
            R = beta2 * R + (1 - beta2) * sq.sum(axis=-1)            # row sums   (G^2 + eps1) 1_m
            C = beta2 * C + (1 - beta2) * sq.sum(axis=-2)            # column sums 1_n^T (G^2 + eps1)
            Vhat = R[..., :, None] * C[..., None, :] / R.sum(axis=-1)[..., None, None]
        else:
            V = beta2 * V + (1 - beta2) * sq
            Vhat = V
        U = g / np.sqrt(Vhat)
        U = U / max(1.0, np.sqrt(np.mean(U * U)) / d)
        if not relative:
            rho = lr
        elif lr is None:
            rho = min(1e-6 * t if warmup else 1e-2, 1 / np.sqrt(t))
        else:
            rho = min(lr, 1 / np.sqrt(t))
        alpha = max(eps2, np.sqrt(np.mean(x * x))) * rho if scale else rho
        if beta_1 is not None:
            m = beta_1 * m + (1 - beta_1) * U
            U = m
        x = x - alpha * U
    return x


def make_case(shape, steps=4, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=shape)
    grads = [rng.normal(size=shape) * (1 + t) for t in range(steps)]
    return x0, grads


SHAPES = {
    "factored 2-D": (128, 160),
    "small 2-D": (16, 8),
    "1-D": (33,),
    "conv kernel factored": (3, 128, 128),
    "conv kernel small": (3, 3, 4, 8),
    "scalar": (),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_matches_numpy_default(shape, run_keras):
    x0, grads = make_case(shape)
    got, _ = run_keras(Adafactor(), x0, grads)
    want = numpy_adafactor(x0, grads)
    # float32 vs float64 over 4 steps with sqrt/rsqrt and means over up to 20k entries:
    # relative error a few 1e-7 per step on the update, the update is ~1e-2 of x.
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.05, "relative_step": False, "multiply_by_parameter_scale": False},
        {"learning_rate": 0.005},                                    # relative step capped at the lr
        {"warmup_init": True},
        {"beta_1": 0.9, "learning_rate": 0.02, "relative_step": False},
        {"clip_threshold": 0.5, "decay_rate": 0.5, "epsilon_2": 0.1},
        {"min_dim_size_to_factor": 8},                               # factors the small kernel
    ],
    ids=["fixed-lr", "relative-capped", "warmup", "momentum", "clip-decay-eps2", "min-dim-8"],
)
@pytest.mark.parametrize("shape", [(128, 160), (16, 8)], ids=["factored", "small"])
def test_matches_numpy_options(kwargs, shape, run_keras):
    x0, grads = make_case(shape, steps=5, seed=1)
    got, _ = run_keras(Adafactor(**kwargs), x0, grads)
    ref = {"lr": kwargs.get("learning_rate"), "beta_1": kwargs.get("beta_1"),
           "decay_rate": kwargs.get("decay_rate", 0.8), "eps2": kwargs.get("epsilon_2", 1e-3),
           "d": kwargs.get("clip_threshold", 1.0), "scale": kwargs.get("multiply_by_parameter_scale", True),
           "min_dim": kwargs.get("min_dim_size_to_factor", 128), "relative": kwargs.get("relative_step", True),
           "warmup": kwargs.get("warmup_init", False)}
    want = numpy_adafactor(x0, grads, **ref)
    # Same float32 argument as above; the fixed-lr case moves x by ~0.05/step, still ~1e-6 absolute.
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_schedule_learning_rate(run_keras):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    x0, grads = make_case((16, 8), steps=3, seed=2)
    got, _ = run_keras(Adafactor(learning_rate=schedule, relative_step=False, multiply_by_parameter_scale=False),
                       x0, grads)
    # Steps 1, 2, 3 use 0.1, 0.05, 0.025: apply them one at a time in numpy.
    x = x0
    want = None
    V = np.zeros_like(x0)
    for t, (g, lr) in enumerate(zip(grads, [0.1, 0.05, 0.025]), start=1):
        beta2 = 1 - t ** -0.8
        V = beta2 * V + (1 - beta2) * (g * g + 1e-30)
        U = g / np.sqrt(V)
        U = U / max(1.0, np.sqrt(np.mean(U * U)))
        x = x - lr * U
        want = x
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


# --- state: n + m per factored kernel, no first moment by default ---------------------------------
@settings(max_examples=25, deadline=None)
@given(shape=st.one_of(
           st.lists(st.integers(1, 300), min_size=0, max_size=2).map(tuple),
           # conv-like: small leading taps, then two dims (kept small enough to allocate)
           st.tuples(st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple),
                     st.integers(1, 200), st.integers(1, 200)).map(lambda t: t[0] + t[1:])),
       min_dim=st.integers(1, 200), momentum=st.booleans())
def test_state_shapes(shape, min_dim, momentum):
    var = keras.Variable(np.zeros(shape, "float32"), name="w")
    opt = Adafactor(min_dim_size_to_factor=min_dim, beta_1=0.9 if momentum else None)
    opt.build([var])
    state = [tuple(v.shape) for v in opt.variables if v.name not in ("iteration", "learning_rate")]
    factored = len(shape) >= 2 and shape[-1] >= min_dim and shape[-2] >= min_dim
    assert factored == factored_dims(shape, min_dim)
    expected = [shape[:-1], shape[:-2] + shape[-1:]] if factored else [shape]
    if momentum:
        expected.append(shape)
    assert state == expected
    if factored and len(shape) == 2:
        assert sum(int(np.prod(s)) for s in state[:2]) == shape[0] + shape[1]


def test_ignores_and_keeps_dtypes_under_bfloat16_gradients():
    var = keras.Variable(np.ones((128, 128), "float32"))
    opt = Adafactor()
    opt.apply([keras.ops.ones((128, 128), dtype="bfloat16")], [var])
    assert all(v.dtype == "float32" for v in opt.variables if v.name != "iteration")
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(var)))


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"relative_step": False}, "learning_rate"),
        ({"warmup_init": True, "learning_rate": 0.1}, "warmup_init"),
        ({"beta_1": 1.0}, "beta_1"),
        ({"decay_rate": 0.0}, "decay_rate"),
        ({"epsilon_1": 0.0}, "epsilon_1"),
        ({"epsilon_2": -1.0}, "epsilon_2"),
        ({"clip_threshold": 0.0}, "clip_threshold"),
        ({"min_dim_size_to_factor": 0}, "min_dim_size_to_factor"),
    ],
)
def test_invalid_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=f"Argument `{arg}`"):
        Adafactor(**kwargs)


def test_config_keeps_paper_step():
    opt = Adafactor(decay_rate=0.7)
    config = opt.get_config()
    assert config["learning_rate"] is None and config["decay_rate"] == 0.7
    revived = Adafactor.from_config(config)
    assert revived.get_config() == config and revived._paper_step
