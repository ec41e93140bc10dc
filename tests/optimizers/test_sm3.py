"""SM3-II: numpy parity with Anil et al. (2019), state shapes, arguments."""

import hypothesis.strategies as st
import keras
import numpy as np
import pytest
from hypothesis import given, settings

from kerastricks.optimizers import SM3


def numpy_sm3(x0, grads, lr=0.1, momentum=0.0):
    """SM3-II with the axis-slice cover (rank >= 2) or exact Adagrad (rank <= 1), in float64."""
    x = x0.astype(np.float64).copy()
    rank = x.ndim
    accs = [np.zeros(d) for d in x.shape] if rank >= 2 else [np.zeros(x.shape)]
    m = np.zeros(x.shape)
    for g in grads:
        g = g.astype(np.float64)
        if rank >= 2:
            nu = np.full(x.shape, np.inf)
            for r in range(rank):                       # min over the covers containing each index
                shape = [1] * rank
                shape[r] = -1
                nu = np.minimum(nu, accs[r].reshape(shape))
            nu = nu + g * g
            for r in range(rank):                       # each slice keeps the max of nu over it
                accs[r] = nu.max(axis=tuple(a for a in range(rank) if a != r))
        else:
            nu = accs[0] + g * g
            accs[0] = nu
        u = np.zeros_like(g)
        np.divide(g, np.sqrt(nu), out=u, where=nu > 0)
        if momentum > 0:
            m = momentum * m + (1 - momentum) * u
            u = m
        x = x - lr * u
    return x


SHAPES = {"2-D large": (128, 160), "2-D small": (16, 8), "1-D": (33,), "conv 3-D": (5, 8, 6),
          "conv 4-D": (3, 3, 4, 8), "scalar": ()}


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_matches_numpy(shape, momentum, run_keras):
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=shape)
    grads = [rng.normal(size=shape) * (1 + t) for t in range(5)]
    got, _ = run_keras(SM3(learning_rate=0.1, momentum=momentum), x0, grads)
    want = numpy_sm3(x0, grads, 0.1, momentum)
    # float32 vs float64: min/max/square are exact up to rounding, one rsqrt per step: ~1e-6 relative.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_zero_gradient_coordinates_do_not_move(run_keras):
    x0 = np.ones((4, 3))
    g = np.zeros((4, 3))
    g[0, 0] = 2.0  # only one coordinate ever has a gradient
    got, _ = run_keras(SM3(learning_rate=0.5), x0, [g, g])
    want = numpy_sm3(x0, [g, g], 0.5)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.all(got.ravel()[1:] == 1.0) and got[0, 0] < 1.0


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 30), min_size=0, max_size=4).map(tuple), momentum=st.sampled_from([0.0, 0.5]))
def test_state_shapes(shape, momentum):
    var = keras.Variable(np.zeros(shape, "float32"), name="w")
    opt = SM3(momentum=momentum)
    opt.build([var])
    state = [tuple(v.shape) for v in opt.variables if v.name not in ("iteration", "learning_rate")]
    expected = [(d,) for d in shape] if len(shape) >= 2 else [shape]
    if momentum:
        expected.append(shape)
    assert state == expected
    # rank >= 2 without momentum: sum of the dims scalars
    if len(shape) >= 2 and not momentum:
        assert sum(int(np.prod(s)) for s in state) == sum(shape)


@given(gs=st.lists(st.floats(-5, 5), min_size=6, max_size=6), scale=st.floats(0.1, 10))
@settings(max_examples=20, deadline=None)
def test_accumulators_dominate_adagrad_sum(gs, scale):
    # SM3's estimate nu upper-bounds Adagrad's sum of squared gradients (the paper's Proposition 1).
    g = np.array(gs).reshape(2, 3)
    grads = [g, scale * g[::-1]]
    var = keras.Variable(np.zeros((2, 3), "float32"))
    opt = SM3()
    for grad in grads:
        opt.apply([keras.ops.convert_to_tensor(grad.astype("float32"))], [var])
    rows, cols = (keras.ops.convert_to_numpy(v) for v in opt.variables[2:])
    nu_bound = np.minimum(rows[:, None], cols[None, :])
    adagrad = sum(gr.astype(np.float32) ** 2 for gr in grads)
    assert np.all(nu_bound >= adagrad * (1 - 1e-6) - 1e-6)


def test_invalid_momentum():
    with pytest.raises(ValueError, match="Argument `momentum` must be in"):
        SM3(momentum=1.0)
