"""ResumableReduceLROnPlateau and WarmUpReduceLROnPlateau against hand simulations: rate cuts with patience,
cooldown and a floor, a run resumed anywhere cutting as the whole run does, and the warmup ramp from any step
(no training: epoch values and optimizer steps are set by hand; the `plateau` schedule in a real fit:
tests/schedules/test_plateau.py)."""

import json

import keras
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kerastricks.callbacks.plateau import ResumableReduceLROnPlateau, WarmUpReduceLROnPlateau

LR = 0.1


@pytest.fixture(scope="module")
def model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(LR), loss="mse")
    return model


def _lr(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def reference(values, patience, cooldown, factor, min_lr, lr=LR):
    """Reduce-on-plateau for a loss, written out; the rate is stored in float32 as the optimizer stores it.
    Returns the rate after each epoch."""
    lr = np.float32(lr)
    best, wait, cool, rates = None, 0, 0, []
    for value in values:
        if cool > 0:
            cool -= 1
            wait = 0
        if best is None or value < best:
            best, wait = value, 0
        elif cool == 0:
            wait += 1
            if wait >= patience and lr > np.float32(min_lr):
                lr = np.float32(max(float(lr) * factor, min_lr))
                cool, wait = cooldown, 0
        rates.append(float(lr))
    return rates


def _epochs(callback, model, values, first=0):
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch in range(first, len(values)):
        callback.on_epoch_end(epoch, {"val_loss": values[epoch]})
        rates.append(_lr(model))
    return rates


VALUES = st.lists(st.sampled_from([0.5, 0.6, 0.7, 0.8, 0.9, 1.0]), min_size=1, max_size=10)


@settings(max_examples=40, deadline=None)
@given(values=VALUES, patience=st.integers(1, 3), cooldown=st.integers(0, 2), factor=st.sampled_from([0.5, 0.1]),
       min_lr=st.sampled_from([0.0, 0.02]), cut=st.integers(1, 10))
@example(values=[1.0] * 6, patience=1, cooldown=2, factor=0.5, min_lr=0.0, cut=2)  # killed inside a cooldown
def test_cuts_as_the_hand_simulation_and_resumes_anywhere(model, values, patience, cooldown, factor, min_lr, cut):
    def make():
        return ResumableReduceLROnPlateau(monitor="val_loss", patience=patience, cooldown=cooldown, factor=factor,
                                          min_lr=min_lr)

    want = reference(values, patience, cooldown, factor, min_lr)
    model.optimizer.learning_rate = LR
    np.testing.assert_allclose(_epochs(make(), model, values), want, rtol=1e-6)

    # killed after `cut` epochs; the checkpoint holds the optimizer's rate and the callback's counters (JSON)
    cut = min(cut, len(values))
    model.optimizer.learning_rate = LR
    first = make()
    before = _epochs(first, model, values[:cut])
    second = make()
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    after = _epochs(second, model, values, first=cut)
    np.testing.assert_allclose(before + after, want, rtol=1e-6)


def test_state_is_the_counters(model):
    model.optimizer.learning_rate = LR
    callback = ResumableReduceLROnPlateau(monitor="val_loss", patience=1, cooldown=2)
    _epochs(callback, model, [1.0, 1.0])  # epoch 2: no improvement, cut; cooldown starts
    assert callback.state_dict() == {"wait": 0, "best": 1.0, "cooldown_counter": 2}
    assert _lr(model) == pytest.approx(LR * 0.1)


def _ramp(step, warmup, start, peak, scale):
    """The warmup rate set before optimizer step ``step``, written out."""
    return scale * (start + (peak - start) * step / warmup) if step < warmup else scale * peak


@settings(max_examples=40, deadline=None)
@given(warmup=st.integers(1, 6), first=st.integers(0, 8), start=st.sampled_from([0.0, 0.01]),
       scale=st.sampled_from([1.0, 0.5]))
def test_warmup_ramp_from_any_step_then_watching(model, warmup, first, start, scale):
    peak, restored = 0.2, 0.125
    callback = WarmUpReduceLROnPlateau(learning_rate=peak, warmup_steps=warmup, initial_learning_rate=start,
                                       scale=scale, monitor="val_loss", patience=1, factor=0.5)
    model.optimizer.learning_rate = restored  # the rate in the optimizer (a resumed run: its checkpoint's)
    model.optimizer.iterations.assign(first)  # a resumed run starts at this step
    callback.set_model(model)
    callback.on_train_begin()
    if first < warmup:
        callback.on_epoch_end(0, {"val_loss": 1.0})
        assert callback.best is None  # an epoch that ends inside the warmup is not watched
        for step in range(first, warmup + 2):
            model.optimizer.iterations.assign(step)
            callback.on_train_batch_begin(0)
            assert _lr(model) == pytest.approx(_ramp(step, warmup, start, peak, scale), rel=1e-6)
        after = scale * peak
    else:  # past the warmup: the rate is left as restored, plateaus are watched at once
        callback.on_train_batch_begin(0)
        assert _lr(model) == pytest.approx(restored)
        after = restored
    callback.on_epoch_end(1, {"val_loss": 1.0})
    assert callback.best == 1.0
    callback.on_epoch_end(2, {"val_loss": 1.0})  # flat for `patience` epochs: cut by `factor`
    assert _lr(model) == pytest.approx(after * 0.5, rel=1e-6)
    model.optimizer.iterations.assign(0)
