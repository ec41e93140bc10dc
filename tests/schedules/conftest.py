"""Shared fixtures for the schedule tests: a builder with test defaults, power decay in numpy, a float32 tolerance."""

import numpy as np
import pytest

from kerastricks.schedules import build_schedule


def _sched(name, options=None, lr=0.1, spe=10, epochs=5, **kw):
    return build_schedule(name, options, learning_rate=lr, steps_per_epoch=spe, epochs=epochs, **kw)


def _np_power(steps, lr, s, c):
    return lr / (1 + np.asarray(steps, dtype=np.float64) / s) ** c


@pytest.fixture
def sched():
    """``build_schedule`` with learning rate 0.1, 10 steps per epoch and 5 epochs unless given."""
    return _sched


@pytest.fixture
def np_power():
    """Power scheduling ``lr / (1 + step / s) ** c`` in float64."""
    return _np_power


@pytest.fixture
def tol():
    return {"rtol": 1e-5, "atol": 1e-7}  # float32 evaluation of a few ops; atol for rates near 0
