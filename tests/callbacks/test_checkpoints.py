"""BestModel and RunCheckpoint: best weights by mode, one npz per checkpoint, seed states, exact resume."""

import json

import keras
import numpy as np
import pytest

from kerastricks.callbacks import (
    BestModel,
    EpochLogger,
    RunCheckpoint,
    model_state,
    read_checkpoint,
    restore_model,
    restore_optimizer,
)


def data(n=48):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0], "float32") > 0).astype("int32")
    return x, y


def tiny_model(seed=0, hidden=5, optimizer="adam", compile=True):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(2)])
    if compile:
        opt = keras.optimizers.Adam(0.01) if optimizer == "adam" else keras.optimizers.SGD(0.01)
        # 3 steps per epoch: running eagerly is cheaper than tracing a train function per fit.
        model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      run_eagerly=True)
    return model


def fit(model, epochs, callbacks=(), initial_epoch=0):
    x, y = data()
    return model.fit(x, y, batch_size=16, epochs=epochs, initial_epoch=initial_epoch, shuffle=False, verbose=0,
                     callbacks=list(callbacks))


def scaled(weights, k):
    return [w * k for w in weights]


# --- BestModel -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode, values, best_epoch",
                         [("max", [0.5, 0.8, 0.7, 0.8], 2), ("min", [0.5, 0.8, 0.2, 0.3], 3)])
def test_best_model_keeps_best_weights_by_mode(tmp_path, mode, values, best_epoch):
    model = tiny_model(compile=False)
    base = model.get_weights()
    path = tmp_path / "best" / "model.keras"
    cb = BestModel(monitor="val_metric", mode=mode)
    cb.set_model(model)
    for epoch, value in enumerate(values):
        model.set_weights(scaled(base, epoch + 1))  # epoch-specific weights
        cb.on_epoch_end(epoch, {"val_metric": value})
    assert cb.best_epoch == best_epoch and cb.best == values[best_epoch - 1]
    for got, want in zip(cb.best_weights, scaled(base, best_epoch)):
        np.testing.assert_array_equal(got, want)
    assert not path.exists()  # nothing is written until save()
    cb.save(model, path)
    loaded = keras.saving.load_model(path)
    x, _ = data(8)
    expected = tiny_model(compile=False)
    expected.set_weights(scaled(base, best_epoch))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected.predict(x, verbose=0))
    for got, want in zip(model.get_weights(), scaled(base, best_epoch)):  # save() puts the best weights in
        np.testing.assert_array_equal(got, want)
    assert [p.name for p in path.parent.iterdir()] == ["model.keras"]  # no temp files left
    arrays = cb.state_arrays()
    fresh = BestModel(monitor="val_metric", mode=mode)
    fresh.load_state_arrays(arrays)
    for got, want in zip(fresh.best_weights, scaled(base, best_epoch)):
        np.testing.assert_array_equal(got, want)


def test_best_model_ignores_missing_and_nan_and_keeps_state(tmp_path):
    model = tiny_model(compile=False)
    cb = BestModel(monitor="acc")
    cb.set_model(model)
    cb.on_epoch_end(0, {})
    cb.on_epoch_end(1, {"acc": float("nan")})
    assert cb.best is None and cb.best_weights is None
    cb.on_epoch_end(2, {"acc": 0.4})
    assert cb.best_epoch == 3 and cb.best_weights is not None

    resumed = BestModel(monitor="acc")
    resumed.load_state_dict(json.loads(json.dumps(cb.state_dict())))
    assert (resumed.best, resumed.best_epoch) == (0.4, 3)
    resumed.set_model(model)
    resumed.on_epoch_end(3, {"acc": 0.3})  # worse than the restored best
    assert resumed.best_epoch == 3 and resumed.best_weights is None


def test_best_model_saves_swapped_weights(tmp_path):
    model = tiny_model(compile=False)
    training = model.get_weights()
    averaged = scaled(training, 0.5)
    calls = []

    class Swap:
        def on_test_begin(self, logs=None):
            calls.append("begin")
            model.set_weights(averaged)

        def on_test_end(self, logs=None):
            calls.append("end")
            model.set_weights(training)

    cb = BestModel(monitor="val_acc", swap=Swap())
    cb.set_model(model)
    cb.on_epoch_end(0, {"val_acc": 0.9})
    assert calls == ["begin", "end"]
    for got, want in zip(cb.best_weights, averaged):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(model.get_weights(), training):  # training weights are back
        np.testing.assert_array_equal(got, want)
    cb.save(model, tmp_path / "m.keras")
    for got, want in zip(keras.saving.load_model(tmp_path / "m.keras").get_weights(), averaged):
        np.testing.assert_array_equal(got, want)


# --- RunCheckpoint -------------------------------------------------------------------------
def test_checkpoint_file_holds_state_and_arrays(tmp_path):
    model = tiny_model()
    logger = EpochLogger(None)

    class Mutate(keras.callbacks.Callback):
        """A technique that edits the weights and the learning rate at epoch end (like a plateau schedule)."""

        def on_epoch_end(self, epoch, logs=None):
            self.model.set_weights(scaled(self.model.get_weights(), 0.5))
            self.model.optimizer.learning_rate = 0.001 * (epoch + 1)
            self.after = [w.copy() for w in self.model.get_weights()]
            self.opt_after = [keras.ops.convert_to_numpy(v).copy() for v in self.model.optimizer.variables]

    mutate = Mutate()
    path = tmp_path / "checkpoints" / "last.npz"
    ckpt = RunCheckpoint(path, every=2, states={"log": logger}, extra=lambda: {"seed": np.int64(7), "note": "x"})
    fit(model, 3, [logger, mutate, ckpt])
    assert ckpt.saved_epochs == [2, 3]  # every 2 epochs, and always the last
    assert [p.name for p in path.parent.iterdir()] == ["last.npz"]

    state, weights, opt = read_checkpoint(path)
    assert state["epoch"] == 3
    assert state["extra"] == {"seed": 7, "note": "x"}
    # Everything is taken after every other callback ran for the epoch: what the next epoch starts from.
    assert [r["epoch"] for r in state["callbacks"]["log"]["rows"]] == [1, 2, 3]
    assert len(weights) == len(mutate.after) and len(opt) == len(mutate.opt_after)
    for got, want in zip(weights + opt, mutate.after + mutate.opt_after):
        np.testing.assert_array_equal(got, want)
    assert float(opt[1]) == np.float32(0.003)  # the learning rate the technique set at the last epoch end
    assert int(opt[0]) == 9  # the optimizer's iteration counter: 3 epochs x 3 steps


def test_model_state_holds_the_dropout_seed_and_restores_it():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.5),
                              keras.layers.Dense(2)])
    x, _ = data(8)
    state = model_state(model)
    assert len(state) == len(model.get_weights()) + 1  # the Dropout layer's seed-generator state
    first = model(x, training=True).numpy()
    assert not np.array_equal(first, model(x, training=True).numpy())  # the seed moved on
    restore_model(model, state)
    np.testing.assert_array_equal(model(x, training=True).numpy(), first)  # same masks again
    with pytest.raises(ValueError, match=r"model has \d+ variables, checkpoint has \d+"):
        restore_model(model, state[:-1])


def test_resume_mid_training_equals_uninterrupted_run(tmp_path):
    full = tiny_model(seed=0)
    fit(full, 3)

    first = tiny_model(seed=0)
    ckpt = RunCheckpoint(tmp_path / "last.npz")
    fit(first, 2, [ckpt])

    state, weights, opt = read_checkpoint(tmp_path / "last.npz")
    assert state["epoch"] == 2
    resumed = tiny_model(seed=123)  # different initial weights: everything must come from the file
    restore_model(resumed, weights)
    restore_optimizer(resumed, opt)
    assert int(resumed.optimizer.iterations) == 6
    fit(resumed, 3, initial_epoch=state["epoch"])
    # Same float32 ops in the same order on CPU: equal up to accumulation-order noise.
    for got, want in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-6)
    # Without the optimizer state (fresh Adam moments) the result differs: the restore matters.
    fresh = tiny_model(seed=123)
    fresh.set_weights(weights)
    fit(fresh, 3, initial_epoch=2)
    assert max(np.abs(a - b).max() for a, b in zip(fresh.get_weights(), full.get_weights())) > 1e-4


def test_restore_into_mismatched_optimizer_raises(tmp_path):
    model = tiny_model()
    ckpt = RunCheckpoint(tmp_path / "c.npz")
    fit(model, 1, [ckpt])
    _, _, opt = read_checkpoint(tmp_path / "c.npz")
    with pytest.raises(ValueError, match=r"optimizer has \d+ variables, checkpoint has \d+"):
        restore_optimizer(tiny_model(optimizer="sgd"), opt)
    with pytest.raises(ValueError, match="shape"):
        restore_optimizer(tiny_model(hidden=6), opt)


def test_best_model_last_keeps_the_final_weights(tmp_path):
    model = tiny_model(compile=False)
    cb = BestModel(monitor="last")
    cb.set_model(model)
    for epoch in range(3):
        cb.on_epoch_end(epoch, {"val_metric": 1.0 - epoch})
    assert cb.best_epoch == 3 and cb.best_weights is None
    final = [w * 2 for w in model.get_weights()]
    model.set_weights(final)
    cb.save(model, tmp_path / "m.keras")
    for got, want in zip(keras.saving.load_model(tmp_path / "m.keras").get_weights(), final):
        np.testing.assert_array_equal(got, want)
