"""ResumableMixin: restored counters survive the reset in on_train_begin."""

import json

import keras
import numpy as np

from kerastricks.callbacks import ResumableMixin


class ResumableEarlyStopping(ResumableMixin, keras.callbacks.EarlyStopping):
    state_attributes = ("wait", "best", "best_epoch", "stopped_epoch")


def test_state_is_applied_after_the_reset():
    cb = ResumableEarlyStopping(monitor="loss", patience=3)
    cb.load_state_dict({"wait": 2, "best": 0.5, "best_epoch": 4, "not_an_attribute": 1})
    cb.on_train_begin()
    assert (cb.wait, cb.best, cb.best_epoch) == (2, 0.5, 4)
    assert not hasattr(cb, "not_an_attribute")
    # The pending state is used once: a later fit starts fresh as Keras intends.
    cb.on_train_begin()
    assert (cb.wait, cb.best, cb.best_epoch) == (0, None, 0)


def test_state_dict_is_plain_json():
    cb = ResumableEarlyStopping(monitor="loss")
    cb.wait = np.int64(3)
    cb.best = np.float32(0.25)
    cb.best_epoch = keras.ops.convert_to_tensor(7)
    state = cb.state_dict()
    assert state == {"wait": 3, "best": 0.25, "best_epoch": 7, "stopped_epoch": 0}
    assert type(state["wait"]) is int and type(state["best"]) is float and type(state["best_epoch"]) is int
    assert json.loads(json.dumps(state)) == state


def test_resumed_counters_change_what_fit_does():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")

    def resume(state):
        cb = ResumableEarlyStopping(monitor="loss", patience=2)
        if state:
            cb.load_state_dict(state)
        history = model.fit(x, y, batch_size=16, epochs=6, initial_epoch=3, verbose=0, callbacks=[cb])
        return cb, len(history.history["loss"])

    # Killed after one epoch without improvement on an unbeatable best: one more such epoch stops the run.
    cb, epochs_run = resume({"wait": 1, "best": -1.0, "best_epoch": 1, "stopped_epoch": 0})
    assert epochs_run == 1 and cb.stopped_epoch == 3 and cb.wait == 2
    # Without the state the counters start over and the (improving) run goes on to the end.
    _, epochs_run = resume(None)
    assert epochs_run == 3


def test_early_stopping_best_weights_survive_a_resume():
    from kerastricks.callbacks import ResumableEarlyStopping as Kept

    best = [np.full((2, 2), 3.0, "float32")]
    cb = Kept(monitor="loss", restore_best_weights=True)
    cb.best_weights = best
    restored = Kept(monitor="loss", restore_best_weights=True)
    restored.load_state_arrays(cb.state_arrays())
    restored.on_train_begin()  # Keras resets best_weights here; the checkpoint's come back after
    np.testing.assert_array_equal(restored.best_weights[0], best[0])
    restored.on_train_begin()  # used once
    assert restored.best_weights is None
