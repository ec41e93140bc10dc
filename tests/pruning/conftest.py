"""Shared helpers of the pruning tests: the schedule written from the paper, a small MLP and its data."""

import keras
import numpy as np
import pytest


def _zhu_gupta(t, s_i, s_f, t0, t1, power=3.0):
    """Zhu & Gupta 2017, eq. 1, written from the paper: s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3."""
    if t < t0:
        return 0.0
    if t >= t1:
        return s_f
    return s_f + (s_i - s_f) * (1.0 - (t - t0) / (t1 - t0)) ** power


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(24, activation="relu", name="hidden")(inputs)
    x = keras.layers.Dense(24, activation="relu", name="hidden2")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def _data(n=96):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")


@pytest.fixture(scope="session")
def zhu_gupta():
    """``zhu_gupta(t, s_i, s_f, t0, t1, power=3.0)``: the sparsity the paper's schedule gives at step ``t``."""
    return _zhu_gupta


@pytest.fixture(scope="session")
def mlp():
    """``mlp(seed=0)``: Dense 6 -> 24 -> 24 -> 3, layers "hidden", "hidden2", "logits"."""
    return _mlp


@pytest.fixture(scope="session")
def data():
    """``data(n=96) -> (x, y)``: 6 features, 3 classes."""
    return _data
