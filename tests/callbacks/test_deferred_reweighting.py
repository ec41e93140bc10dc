"""DeferredReweighting: unit weights before the start epoch, Cui et al. weights from it on."""

import keras
import numpy as np
import pytest

from kerastricks.callbacks import DeferredReweighting
from kerastricks.errors import ConfigError
from kerastricks.losses import LDAMLoss

COUNTS = [40.0, 10.0, 2.0]


def np_cb(n, beta):
    w = (1 - beta) / (1 - beta ** np.asarray(n))  # Cui et al. 2019, eq. 5
    return w / w.sum() * len(n)


class Record(keras.callbacks.Callback):
    def __init__(self, loss):
        super().__init__()
        self.loss = loss
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(np.array(self.loss.class_weights.numpy()))


def test_switches_at_start_epoch_during_fit_and_resumes():
    keras.utils.set_random_seed(0)
    loss = LDAMLoss(COUNTS, scale=1.0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.compile("sgd", loss)
    x = np.random.default_rng(0).normal(size=(12, 2)).astype("float32")
    y = np.arange(12) % 3
    record = Record(loss)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[DeferredReweighting(2, beta=0.99), record])
    ref = np_cb(COUNTS, 0.99)
    for epoch, w in enumerate(record.seen):
        np.testing.assert_allclose(w, np.ones(3) if epoch < 2 else ref, rtol=1e-6)  # float32 storage
    assert np.all(np.isfinite(history.history["loss"]))
    # a resumed run (initial_epoch past the switch) starts with the class-balanced weights
    loss.set_class_weights(np.ones(3))
    record = Record(loss)
    model.fit(x, y, epochs=4, initial_epoch=3, verbose=0, callbacks=[DeferredReweighting(2, beta=0.99), record])
    np.testing.assert_allclose(record.seen[0], ref, rtol=1e-6)


def test_config_and_errors():
    cb = DeferredReweighting(5, beta=0.9)
    assert DeferredReweighting(**cb.get_config()).get_config() == {"start_epoch": 5, "beta": 0.9}
    with pytest.raises(ConfigError, match="start_epoch"):
        DeferredReweighting(-1)
    cb = DeferredReweighting(0, loss=keras.losses.MeanSquaredError())
    with pytest.raises(ValueError, match="long-tail loss"):
        cb.on_epoch_begin(0)
