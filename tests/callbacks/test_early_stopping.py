"""ResumableEarlyStopping against a hand simulation of early stopping, and a run cut anywhere and resumed from
its saved state stopping where the whole run stops, with the same best weights (no training: the callback is fed
epoch values by hand; the technique in a real fit: tests/techniques/test_early_stopping.py)."""

import json

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.callbacks.early_stopping import ResumableEarlyStopping


@pytest.fixture(scope="module")
def model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    return model


def reference(values, patience, min_delta):
    """Early stopping on a loss, written out: an epoch improves when it beats the best by more than min_delta;
    the run stops at the first epoch (never the first one) that ends ``patience`` epochs after the last
    improvement. Returns (stopped epoch or None, best value, epoch of the best value)."""
    best, best_epoch, since = None, 0, 0
    for epoch, value in enumerate(values):
        since += 1
        if best is None or value < best - min_delta:
            best, best_epoch, since = value, epoch, 0
        elif since >= patience and epoch > 0:
            return epoch, best, best_epoch
    return None, best, best_epoch


def _epochs(callback, model, values, first=0):
    """Feed ``values[first:]`` as epoch ends; the weights of epoch e are all equal to e. Returns the epochs run."""
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin()
    ran = 0
    for epoch in range(first, len(values)):
        model.set_weights([np.full(w.shape, float(epoch), w.dtype) for w in model.get_weights()])
        callback.on_epoch_end(epoch, {"val_loss": values[epoch]})
        ran += 1
        if model.stop_training:
            break
    return ran


def _make(patience, min_delta):
    return ResumableEarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta,
                                  restore_best_weights=True)


VALUES = st.lists(st.floats(0.0, 4.0, width=32).map(lambda v: round(v, 1)), min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(values=VALUES, patience=st.integers(0, 3), min_delta=st.sampled_from([0.0, 0.25]), data=st.data())
def test_stops_as_the_hand_simulation_and_resumes_anywhere(model, values, patience, min_delta, data):
    stopped, best, best_epoch = reference(values, patience, min_delta)
    whole = _make(patience, min_delta)
    ran = _epochs(whole, model, values)
    assert ran == (len(values) if stopped is None else stopped + 1)
    assert (whole.stopped_epoch, whole.best, whole.best_epoch) == (stopped or 0, best, best_epoch)
    whole.on_train_end()  # restores the best epoch's weights
    assert all(np.all(w == best_epoch) for w in model.get_weights())

    # killed after `cut` epochs, resumed from the saved state (JSON, as the checkpoint stores it)
    cut = data.draw(st.integers(1, ran), label="cut")
    first = _make(patience, min_delta)
    _epochs(first, model, values[:cut])
    state = json.loads(json.dumps(first.state_dict()))
    arrays = [np.array(a) for a in first.state_arrays()]
    second = _make(patience, min_delta)
    second.load_state_dict(state)
    second.load_state_arrays(arrays)
    ran_after = _epochs(second, model, values, first=cut) if cut < ran else 0
    assert cut + ran_after == ran
    if cut < ran:
        assert (second.stopped_epoch, second.best, second.best_epoch) == (whole.stopped_epoch, best, best_epoch)
        second.on_train_end()
        assert all(np.all(w == best_epoch) for w in model.get_weights())


def test_state_is_the_counters_and_the_best_weights(model):
    callback = _make(1, 0.0)
    _epochs(callback, model, [1.0, 0.5])
    assert callback.state_dict() == {"wait": 0, "best": 0.5, "best_epoch": 1, "stopped_epoch": 0}
    assert [float(a.flat[0]) for a in callback.state_arrays()] == [1.0, 1.0]  # kernel and bias of epoch 1
    fresh = _make(1, 0.0)
    assert fresh.state_arrays() == []  # nothing kept before the first epoch
    fresh.load_state_arrays([])
    fresh.set_model(model)
    fresh.on_train_begin()
    assert fresh.best_weights is None
