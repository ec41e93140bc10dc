"""ReduceLROnPlateau multiplies the rate by `factor` after `patience` flat epochs."""

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict
from kerastricks.techniques import TrainContext, build_technique


def test_reduces_after_patience(tiny_data, make_model, feed_metric):
    x, y = tiny_data
    values = [1.0, 1.0, 1.0, 1.0, 1.0]
    (callback,) = build_technique("reduce_lr_on_plateau", {"patience": 2, "factor": 0.5}).callbacks(TrainContext())
    model = make_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rates = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    model.fit(x, y, epochs=len(values), verbose=0, callbacks=[feed_metric(values), callback, Record()])
    # epoch 1 sets best; epochs 2, 3 flat -> reduce at 3; epochs 4, 5 flat -> reduce at 5
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.05, 0.05, 0.025], rtol=1e-6)


def test_incompatible_with_schedules():
    base = {"data": {"name": "digits"}, "model": {"name": "mlp"},
            "techniques": {"reduce_lr_on_plateau": {"patience": 2}}}
    with pytest.raises(ConfigError) as err:
        recipe_from_dict({**base, "schedule": {"name": "cosine"}}, source="r.toml")
    message = str(err.value)
    assert message.startswith("r.toml") and "schedule.name" in message and "constant" in message
    assert "\n" not in message
    recipe = recipe_from_dict({**base, "schedule": {"name": "constant"}})
    assert recipe.techniques["reduce_lr_on_plateau"]["patience"] == 2
