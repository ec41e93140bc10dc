import keras
import numpy as np
import pytest

from kerastricks.recipes import recipe_from_dict


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


def long_tail_recipe(techniques=None, loss=None, epochs=3, **data):
    """A small digits recipe with a 20:1 long tail, a one-layer MLP and a validation split."""
    return recipe_from_dict(
        {
            "data": {"name": "digits", "validation_split": 0.2, "long_tail": {"imbalance_ratio": 20}, **data},
            "model": {"name": "mlp", "width": 16, "depth": 1},
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "loss": loss or {"name": "crossentropy"},
            "train": {"epochs": epochs, "batch_size": 32, "tensorboard": False},
            "techniques": techniques or {},
        },
        source="lt.toml",
    )


@pytest.fixture
def lt_recipe():
    return long_tail_recipe
