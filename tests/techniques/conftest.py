import keras
import numpy as np
import pytest


@pytest.fixture
def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    return x, y


def tiny_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, name="logits")(h)
    return keras.Model(inputs, outputs)


@pytest.fixture
def make_model():
    return tiny_model


class FeedMetric(keras.callbacks.Callback):
    """Writes a scripted `val_loss` into the logs before the callback under test reads it."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


@pytest.fixture
def feed_metric():
    return FeedMetric
