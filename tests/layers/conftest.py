"""Shared fixtures for the layer tests: seeded Keras, restored dtype policy, BN randomization, output error."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerastricks.layers import ExtendedBatchNormalization


@pytest.fixture(autouse=True)
def _seeded_keras():
    keras.utils.set_random_seed(0)
    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)


def _randomize_norms(layer_or_model, rng):
    """Random BN statistics and affine parameters, so fusion is tested away from identity."""
    for sub in layer_or_model._flatten_layers():
        if isinstance(sub, keras.layers.BatchNormalization):
            c = sub.gamma.shape[0]
            sub.set_weights([rng.uniform(0.5, 2.0, c), rng.normal(size=c), rng.normal(size=c),
                             rng.uniform(0.3, 3.0, c)])
        elif isinstance(sub, ExtendedBatchNormalization):
            c = sub.gamma.shape[0]
            sub.set_weights([rng.uniform(0.5, 2.0, c), rng.normal(size=c), rng.normal(size=c), np.float32(1.7)])


def _max_rel_diff(a, b):
    """max |a - b| / max |a|: elementwise relative errors are meaningless where outputs cross zero."""
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


@pytest.fixture
def randomize_norms():
    return _randomize_norms


@pytest.fixture
def max_rel_diff():
    return _max_rel_diff
