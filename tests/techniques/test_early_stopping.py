"""Early stopping stops after `patience` epochs without improvement and resumes its counters."""

import keras
import numpy as np

from kerastricks.callbacks.early_stopping import ResumableEarlyStopping
from kerastricks.techniques import TrainContext, build_technique


def _fit(callbacks, epochs, tiny_data, make_model, initial_epoch=0):
    x, y = tiny_data
    model = make_model()
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=epochs, initial_epoch=initial_epoch, verbose=0, callbacks=callbacks)
    return len(history.history["loss"])


def test_stops_after_patience(tiny_data, make_model, feed_metric):
    values = [1.0, 0.5, 0.6, 0.7, 0.8, 0.4, 0.3]
    technique = build_technique("early_stopping", {"patience": 3, "restore_best_weights": False})
    (callback,) = technique.callbacks(TrainContext())
    assert isinstance(callback, ResumableEarlyStopping)
    # best at epoch 2 (0.5); epochs 3, 4, 5 do not improve -> stop after 5 epochs
    ran = _fit([feed_metric(values), callback], len(values), tiny_data, make_model)
    assert ran == 5
    assert callback.stopped_epoch == 4 and callback.best == 0.5


def test_counters_survive_resume(tiny_data, make_model, feed_metric):
    values = [1.0, 0.5, 0.6, 0.7, 0.8, 0.4, 0.3]
    first = build_technique("early_stopping", {"patience": 3}).callbacks(TrainContext())[0]
    _fit([feed_metric(values), first], 3, tiny_data, make_model)  # killed after 3 epochs
    state = first.state_dict()
    assert state["wait"] == 1 and state["best"] == 0.5
    second = build_technique("early_stopping", {"patience": 3}).callbacks(TrainContext())[0]
    second.load_state_dict(state)
    ran = _fit([feed_metric(values), second], len(values), tiny_data, make_model, initial_epoch=3)
    assert ran == 2  # epochs 4 and 5, then stop: the same epoch as an uninterrupted run
    assert second.stopped_epoch == 4


def test_check_requires_validation_for_val_metrics():
    import pytest

    from kerastricks.errors import ConfigError
    from kerastricks.recipes import load_recipe

    with pytest.raises(ConfigError) as err:
        load_recipe(preset="mnist1d", overrides=["data.validation_split=0", "train.monitor=accuracy",
                                                 "train.target.metric=accuracy",
                                                 "techniques.early_stopping.patience=2"])
    assert "techniques.early_stopping.monitor" in str(err.value)
    np.testing.assert_equal(
        load_recipe(preset="mnist1d", overrides=["techniques.early_stopping.patience=2"]).techniques["early_stopping"][
            "patience"], 2)
