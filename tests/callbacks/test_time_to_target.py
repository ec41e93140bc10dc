"""TimeToTarget: first crossing only, both modes, steps/examples, stop, resumable elapsed time."""

import types

import keras
import numpy as np
import pytest

from kerastricks.callbacks import TimeToTarget
from kerastricks.callbacks import time_to_target as ttt_module
from kerastricks.errors import ConfigError


@pytest.fixture
def clock(fake_clock):
    return fake_clock(ttt_module)


def drive(cb, values, clock, metric="val_accuracy", steps=7, seconds_per_epoch=2.0):
    """Call the hooks as fit would, one epoch per value, with a fake model."""
    model = types.SimpleNamespace(stop_training=False)
    cb.set_model(model)
    cb.set_params({"epochs": len(values), "steps": steps, "verbose": 0})
    cb.on_train_begin()
    for epoch, value in enumerate(values):
        clock.now += seconds_per_epoch
        logs = {} if value is None else {metric: value}
        cb.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    return model


def test_max_mode_records_first_crossing_only(clock):
    cb = TimeToTarget("val_accuracy", 0.9, examples_per_epoch=100)
    model = drive(cb, [0.5, None, 0.9, 0.7, 0.99], clock)
    assert cb.epoch_reached == 3  # >= target counts, 1-based
    assert cb.time_to_target_s == pytest.approx(6.0)
    assert cb.steps_reached == 21 and cb.examples_reached == 300
    assert model.stop_training is False


def test_min_mode(clock):
    cb = TimeToTarget("val_loss", 0.3, mode="min")
    drive(cb, [1.0, 0.31, 0.3, 0.1], clock, metric="val_loss")
    assert cb.epoch_reached == 3 and cb.time_to_target_s == pytest.approx(6.0)
    assert cb.examples_reached is None  # examples_per_epoch not given


def test_never_reached_and_nan(clock):
    cb = TimeToTarget("val_accuracy", 0.9)
    drive(cb, [0.1, float("nan"), 0.89], clock)
    assert cb.time_to_target_s is None and cb.epoch_reached is None and cb.steps_reached is None


def test_unknown_steps_gives_none(clock):
    cb = TimeToTarget("acc", 0.5)
    model = types.SimpleNamespace(stop_training=False)
    cb.set_model(model)
    cb.set_params({"epochs": 2, "steps": None})
    cb.on_train_begin()
    cb.on_epoch_end(0, {"acc": 0.6})
    assert cb.epoch_reached == 1 and cb.steps_reached is None


def test_stop_training(clock):
    cb = TimeToTarget("val_accuracy", 0.5, stop_training=True)
    model = drive(cb, [0.2, 0.6, 0.7], clock)
    assert model.stop_training is True and cb.epoch_reached == 2


def test_state_round_trip_adds_elapsed_time(clock):
    first = TimeToTarget("val_accuracy", 0.9)
    drive(first, [0.1, 0.2], clock)  # 4 s without reaching the target
    state = first.state_dict()
    assert state["elapsed"] == pytest.approx(4.0) and state["epoch_reached"] is None

    resumed = TimeToTarget("val_accuracy", 0.9)
    resumed.load_state_dict(state)
    # The resumed segment starts at epoch 2 (0-based) and reaches at its second epoch.
    model = types.SimpleNamespace(stop_training=False)
    resumed.set_model(model)
    resumed.set_params({"epochs": 5, "steps": 10})
    resumed.on_train_begin()
    clock.now += 3.0
    resumed.on_epoch_end(2, {"val_accuracy": 0.5})
    clock.now += 3.0
    resumed.on_epoch_end(3, {"val_accuracy": 0.95})
    assert resumed.time_to_target_s == pytest.approx(10.0)  # 4 s before + 6 s now
    assert resumed.epoch_reached == 4 and resumed.steps_reached == 40

    again = TimeToTarget("val_accuracy", 0.9)
    again.load_state_dict(resumed.state_dict())
    assert again.state_dict()["time_to_target_s"] == pytest.approx(10.0)
    assert again.epoch_reached == 4 and again.steps_reached == 40


def test_config_round_trip():
    cb = TimeToTarget("val_loss", 0.25, mode="min", examples_per_epoch=64, stop_training=True)
    config = cb.get_config()
    assert TimeToTarget.from_config(config).get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cb))
    assert isinstance(revived, TimeToTarget) and revived.get_config() == config


def test_invalid_mode():
    with pytest.raises(ConfigError, match=r"^Argument `mode` must be 'max' or 'min'. Received: mode='avg'$"):
        TimeToTarget("acc", 0.5, mode="avg")


def test_with_model_fit_stops_at_target():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    cb = TimeToTarget("loss", 0.0, mode="min")  # unreachable: runs every epoch
    stop = TimeToTarget("loss", 1e9, mode="min", examples_per_epoch=32, stop_training=True)  # reached at once
    history = model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[cb, stop])
    assert len(history.history["loss"]) == 1
    assert stop.epoch_reached == 1 and stop.steps_reached == 4 and stop.examples_reached == 32
    assert stop.time_to_target_s > 0
    assert cb.time_to_target_s is None
