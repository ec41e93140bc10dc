"""Lookahead: Zhang et al. 2019's Algorithm 1 in numpy around SGD with momentum and Adam, its invariants, the
recipe key ``optimizer.lookahead`` and wrapping in the trainer's own build path. (Serialization, .keras state,
bit-identical resume, mixed precision, accumulation and MirroredStrategy: the ``lookahead_adamw`` row of
``test_conformance.py``.)"""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.errors import ConfigError
from kerastricks.optimizers import Lookahead, build_optimizer
from kerastricks.recipes import recipe_from_dict

A = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.3]])
B = np.array([1.0, -2.0, 0.5])
W0 = np.array([2.0, -1.0, 4.0])


def grad(w):
    """Gradient of the quadratic 0.5 w^T A w - b^T w."""
    return A @ w - B


def run(optimizer, steps):
    var = keras.Variable(W0.astype("float32"), name="w")
    for _ in range(steps):
        g = grad(keras.ops.convert_to_numpy(var).astype(np.float64)).astype("float32")
        optimizer.apply([keras.ops.convert_to_tensor(g)], [var])
    return keras.ops.convert_to_numpy(var).astype(np.float64)


def numpy_lookahead(inner_step, steps, k, alpha):
    """Algorithm 1: k inner steps from the slow weights phi, then phi <- phi + alpha (theta - phi), theta <- phi.

    ``inner_step(w, g, t) -> w`` is the inner optimizer (its state lives in the closure and is never reset).
    """
    theta, phi = W0.copy(), W0.copy()
    for t in range(1, steps + 1):
        theta = inner_step(theta, grad(theta), t)
        if t % k == 0:
            phi = phi + alpha * (theta - phi)
            theta = phi.copy()
    return theta


def sgd_momentum(lr, momentum):
    state = {"v": np.zeros_like(W0)}

    def step(w, g, t):
        state["v"] = momentum * state["v"] - lr * g  # Keras's SGD: v <- m v - lr g; w <- w + v
        return w + state["v"]

    return step


def adam(lr, b1=0.9, b2=0.999, eps=1e-7):
    state = {"m": np.zeros_like(W0), "v": np.zeros_like(W0)}

    def step(w, g, t):
        state["m"] = b1 * state["m"] + (1 - b1) * g
        state["v"] = b2 * state["v"] + (1 - b2) * g * g
        return w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * state["m"] / (np.sqrt(state["v"]) + eps)

    return step


@pytest.mark.parametrize("k, alpha", [(3, 0.5), (5, 0.8), (1, 0.3)])
def test_sgd_momentum_matches_numpy(k, alpha):
    got = run(Lookahead(keras.optimizers.SGD(0.05, momentum=0.9), sync_period=k, slow_step_size=alpha), 13)
    want = numpy_lookahead(sgd_momentum(0.05, 0.9), 13, k, alpha)
    # float32 arithmetic over 13 steps on values of order 1
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_adam_matches_numpy():
    got = run(Lookahead(keras.optimizers.Adam(0.1), sync_period=4, slow_step_size=0.5), 14)
    want = numpy_lookahead(adam(0.1), 14, 4, 0.5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # and it is not the inner optimizer alone (the steps back happened)
    assert np.max(np.abs(run(keras.optimizers.Adam(0.1), 14) - want)) > 1e-3


@settings(max_examples=8, deadline=None)
@given(k=st.integers(1, 5), steps=st.integers(1, 9))
def test_alpha_one_is_the_inner_optimizer(k, steps):
    """alpha = 1: the slow weights jump to the fast ones, which restart where they are."""
    np.testing.assert_array_equal(run(Lookahead(keras.optimizers.SGD(0.05, momentum=0.5), k, 1.0), steps),
                                  run(keras.optimizers.SGD(0.05, momentum=0.5), steps))


@settings(max_examples=8, deadline=None)
@given(k=st.integers(1, 4), alpha=st.floats(0.05, 1.0))
def test_fast_equals_slow_after_every_sync(k, alpha):
    opt = Lookahead(keras.optimizers.SGD(0.1), sync_period=k, slow_step_size=alpha)
    var = keras.Variable(W0.astype("float32"), name="w")
    for t in range(1, 2 * k + 2):
        opt.apply([keras.ops.convert_to_tensor(grad(var.numpy()).astype("float32"))], [var])
        slow = keras.ops.convert_to_numpy(opt.slow_weights[0])
        if t % k == 0:
            np.testing.assert_array_equal(var.numpy(), slow)
        elif t < k:
            np.testing.assert_array_equal(slow, W0.astype("float32"))  # untouched before the first sync
    assert int(opt.iterations) == 2 * k + 1


def test_state_is_the_inner_state_then_the_slow_weights():
    inner = keras.optimizers.AdamW(1e-3)
    opt = Lookahead(inner)
    opt.build([keras.Variable(np.ones((2, 3), "float32")), keras.Variable(np.zeros(3, "float32"))])
    assert opt.variables[: len(inner.variables)] == inner.variables
    assert len(opt.variables) == len(inner.variables) + 2
    opt.learning_rate = 0.5  # forwarded: schedules and rollbacks set the inner rate
    assert float(inner.learning_rate) == 0.5 and opt.iterations is inner.iterations


@pytest.mark.parametrize("kwargs, fragment", [
    ({"sync_period": 0}, "sync_period"), ({"sync_period": 2.5}, "sync_period"),
    ({"slow_step_size": 0.0}, "slow_step_size"), ({"slow_step_size": 1.5}, "slow_step_size"),
    ({"learning_rate": 0.1}, "learning_rate"),
])
def test_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        Lookahead(keras.optimizers.SGD(), **kwargs)
    with pytest.raises(TypeError, match="optimizer"):
        Lookahead("sgd")


def test_recipe_key_wraps_any_optimizer():
    recipe = recipe_from_dict({"optimizer": {"name": "sgd", "momentum": 0.9, "lookahead": {"sync_period": 5}}})
    assert recipe.optimizer["lookahead"] == {"sync_period": 5, "slow_step_size": 0.5}
    assert "[optimizer.lookahead]" in recipe.to_toml() or "lookahead = {" in recipe.to_toml()
    opt = build_optimizer("sgd", recipe.options("optimizer"), learning_rate=0.1, validated=True)
    assert isinstance(opt, Lookahead) and isinstance(opt.inner_optimizer, keras.optimizers.SGD)
    assert opt.sync_period == 5 and opt.inner_optimizer.momentum == 0.9
    assert not isinstance(build_optimizer("sgd", {"momentum": 0.9}), Lookahead)


@pytest.mark.parametrize("table, key", [
    ({"sync_period": 0}, "optimizer.lookahead.sync_period"),
    ({"slow_step_size": 1.5}, "optimizer.lookahead.slow_step_size"),
    ({"period": 3}, "optimizer.lookahead.period"),
    (6, "optimizer.lookahead"),
])
def test_bad_recipe_key(table, key):
    with pytest.raises(ConfigError) as info:
        recipe_from_dict({"optimizer": {"name": "adamw", "lookahead": table}}, source="r.toml")
    assert info.value.key == key and info.value.file == "r.toml" and "\n" not in str(info.value)
