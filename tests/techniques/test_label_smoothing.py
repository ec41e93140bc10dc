"""Label smoothing replaces the loss by the smoothed cross-entropy."""

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.losses import SparseCrossentropy
from kerastricks.techniques import TrainContext, build_technique


def test_replaces_crossentropy_with_smoothed_loss():
    technique = build_technique("label_smoothing", {"smoothing": 0.2})
    loss = technique.apply_to_loss(keras.losses.SparseCategoricalCrossentropy(from_logits=True), TrainContext())
    assert isinstance(loss, SparseCrossentropy) and loss.label_smoothing == 0.2
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 4)).astype("float32")
    y = np.array([0, 1, 2, 3, 1])
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    target = np.full((5, 4), 0.2 / 4) + 0.8 * np.eye(4)[y]
    expected = -(target * logp).sum(axis=1).mean()
    np.testing.assert_allclose(float(loss(y, logits)), expected, rtol=1e-5)


def test_rejects_other_losses():
    technique = build_technique("label_smoothing", {})
    with pytest.raises(ConfigError):
        technique.apply_to_loss(keras.losses.MeanSquaredError(), TrainContext())


@pytest.mark.parametrize("value", [0.0, 1.0, -0.1])
def test_smoothing_range(value):
    with pytest.raises(ConfigError):
        build_technique("label_smoothing", {"smoothing": value})
