"""Shared fixtures for the layer tests: seeded Keras, restored dtype policy."""

from __future__ import annotations

import keras
import pytest


@pytest.fixture(autouse=True)
def _seeded_keras():
    keras.utils.set_random_seed(0)
    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)
