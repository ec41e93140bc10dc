"""Shared fixture of the optimizer tests: apply a list of gradients to one variable."""

import keras
import numpy as np
import pytest


def _run_keras(opt, x0, grads):
    var = keras.Variable(x0.astype("float32"), name="w")
    for g in grads:
        opt.apply([keras.ops.convert_to_tensor(g.astype("float32"))], [var])
    return keras.ops.convert_to_numpy(var).astype(np.float64), opt


@pytest.fixture(scope="session")
def run_keras():
    """``run_keras(optimizer, x0, grads) -> (final x in float64, optimizer)``."""
    return _run_keras
