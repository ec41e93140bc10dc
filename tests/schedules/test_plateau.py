"""The `plateau` schedule: a constant rate plus WarmUpReduceLROnPlateau, which warms up and then watches."""

import keras
import numpy as np
import pytest

from kerastricks.callbacks.plateau import WarmUpReduceLROnPlateau


def test_plateau_is_a_constant_plus_its_callback(sched):
    lr, (cb,) = sched("plateau", {"patience": 2, "factor": 0.5}, 0.1, with_callbacks=True)
    assert lr == 0.1 and isinstance(cb, WarmUpReduceLROnPlateau)
    assert (cb.patience, cb.factor, cb.monitor, cb.warmup_steps) == (2, 0.5, "val_loss", 0)


def _fit_with(callback, values, steps_per_epoch=4, lr=0.1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr), loss="mse")
    seen_batches, seen_epochs = [], []

    class Feed(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = values[epoch]

    class Record(keras.callbacks.Callback):  # runs after the callback under test
        def on_train_batch_begin(self, batch, logs=None):
            seen_batches.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        def on_epoch_end(self, epoch, logs=None):
            seen_epochs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    x = np.ones((4 * steps_per_epoch, 2), "float32")
    model.fit(x, x[:, :1], batch_size=4, epochs=len(values), verbose=0, shuffle=False,
              callbacks=[Feed(), callback, Record()])
    return seen_batches, seen_epochs


def test_plateau_warms_up_then_watches(sched):
    # 6 warmup steps (1.5 epochs of 4 steps) from 0.02 to 0.1; flat metric afterwards.
    lr, (cb,) = sched("plateau", {"patience": 1, "factor": 0.5, "warmup_steps": 6, "warmup_start_factor": 0.2},
                      0.1, spe=4, with_callbacks=True)
    assert lr == pytest.approx(0.02)
    batches, epochs = _fit_with(cb, [1.0] * 5, lr=lr)
    # Rates in use at each step (set before it): the ramp 0.02 + 0.08 * t / 6, then 0.1.
    np.testing.assert_allclose(batches[:7], [0.02 + 0.08 * t / 6 for t in range(6)] + [0.1], rtol=1e-6)
    # Epoch 1 ends inside the warmup (ignored); epoch 2 sets best; 3 flat -> cut (patience 1); 4 best is
    # still 1.0 -> flat -> cut; 5 -> cut.
    np.testing.assert_allclose(epochs, [0.02 + 0.08 * 3 / 6, 0.1, 0.05, 0.025, 0.0125], rtol=1e-6)
