"""The LR finder: leaves no trace, suggests a good rate on convex problems, stops on divergence."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerastricks
from kerastricks.lr_finder import (
    LRFinderResult,
    exponential_rates,
    lr_find,
    smooth,
    suggest,
    valley_index,
)


# --- the functional core against numpy written here --------------------------------------------
def test_exponential_rates():
    got = exponential_rates(1e-6, 1.0, 7)
    np.testing.assert_allclose(got, 10.0 ** np.arange(-6, 1), rtol=1e-12)


def test_smooth_is_a_bias_corrected_ema():
    losses = np.array([4.0, 2.0, 3.0, 1.0])
    beta = 0.9
    want, avg = [], 0.0
    for t, v in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * v
        want.append(avg / (1 - beta**t))
    np.testing.assert_allclose(smooth(losses, beta), want, rtol=1e-12)
    np.testing.assert_array_equal(smooth(losses, 0.0), losses)
    assert smooth(losses, beta)[0] == losses[0]  # bias correction: no pull towards 0


def test_valley_is_the_middle_of_the_longest_descent():
    # flat, then a strictly decreasing run over indices 3..11, then up again
    losses = np.array([5, 5, 5, 5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 1, 2, 4, 9], dtype=float)
    assert valley_index(losses) == 3 + (11 - 3) // 2
    assert valley_index(np.array([1.0])) == 0


def test_suggest_methods():
    lrs = 10.0 ** np.linspace(-5, 0, 11)
    smoothed = np.array([2.0, 2.0, 1.99, 1.9, 1.5, 0.8, 0.5, 0.4, 0.6, 1.5, 3.0])
    got = suggest(lrs, smoothed)
    assert got["minimum"] == pytest.approx(lrs[7] / 10)
    # Central differences per step of log10(lr): at 4, (0.8 - 1.9) / 2; at 5, (0.5 - 1.5) / 2 -> 4 is steepest.
    assert got["steep"] == pytest.approx(lrs[4])
    assert got["valley"] == pytest.approx(lrs[valley_index(smoothed)])


# --- the sweep on small models -------------------------------------------------------------------
def regression_data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 8)) * np.array([1, 1, 1, 1, 2, 2, 3, 3])).astype("float32")
    w = rng.normal(size=(8, 1)).astype("float32")
    y = x @ w + 0.1 * rng.normal(size=(n, 1)).astype("float32")
    return x, y


def linear_model(optimizer):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    return model


def state_of(model):
    return {
        "weights": [np.array(keras.ops.convert_to_numpy(v)) for v in model.variables],
        "optimizer": [np.array(keras.ops.convert_to_numpy(v)) for v in model.optimizer.variables],
        "metrics": [np.array(keras.ops.convert_to_numpy(v)) for v in model.metrics_variables],
        "lr": model.optimizer.get_config()["learning_rate"],  # a schedule's config, or the variable's value
        "config": json.dumps(model.optimizer.get_config(), sort_keys=True, default=str),
    }


def assert_same_state(before, after, config=True):
    for key in ("weights", "optimizer", "metrics"):
        assert len(before[key]) == len(after[key])
        for a, b in zip(before[key], after[key]):
            assert a.dtype == b.dtype and np.array_equal(a, b), key  # bit-identical
    assert before["lr"] == after["lr"]
    if config:
        assert before["config"] == after["config"]


@pytest.mark.parametrize("lr", ["schedule", "variable"])
def test_leaves_weights_and_optimizer_bit_identical(lr):
    """A trained model with BatchNorm, Dropout and a metric, its Adam moments non-zero."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")

    def trained_model():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((6,))
        h = keras.layers.Dense(16, activation="relu")(inputs)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.Dropout(0.3)(h)
        model = keras.Model(inputs, keras.layers.Dense(2)(h))
        rate = keras.optimizers.schedules.CosineDecay(0.01, 100) if lr == "schedule" else 0.01
        model.compile(keras.optimizers.Adam(rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
        return model

    model, twin = trained_model(), trained_model()
    before = state_of(model)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3
    result = lr_find(model, x, y, batch_size=16, num_steps=30)
    assert len(result.lrs) >= 2
    assert_same_state(before, state_of(model))
    assert_same_state(state_of(twin), state_of(model), config=False)  # optimizer names differ
    # ... and the next epoch trains exactly as it does for the twin that never saw the sweep.
    for m in (model, twin):
        keras.utils.set_random_seed(5)
        m.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_unbuilt_optimizer_stays_unbuilt():
    x, y = regression_data(64)
    model = linear_model(keras.optimizers.SGD(0.01))
    weights = [w.copy() for w in model.get_weights()]
    lr_find(model, x, y, num_steps=10)
    assert not model.optimizer.built
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def grid_best(optimizer_cls, x, y, grid, steps_per_run=48, batch_size=32):
    """The constant rate with the lowest full-data loss after `steps_per_run` steps from the same start."""
    model = linear_model(optimizer_cls(1e-3))
    init = [w.copy() for w in model.get_weights()]
    model.optimizer.build(model.trainable_variables)
    finals = []
    for lr in grid:
        model.set_weights(init)
        for var in model.optimizer.variables:
            var.assign(keras.ops.zeros_like(var))
        model.optimizer.learning_rate = float(lr)
        model.fit(x, y, batch_size=batch_size, epochs=steps_per_run * batch_size // len(x), verbose=0, shuffle=False)
        loss = model.evaluate(x, y, verbose=0, batch_size=len(x))
        finals.append(loss if np.isfinite(loss) else np.inf)
    return float(grid[int(np.argmin(finals))])


@pytest.mark.slow
@pytest.mark.parametrize("optimizer_cls", [keras.optimizers.SGD, keras.optimizers.Adam])
def test_suggestion_within_3x_of_the_best_constant_rate_on_least_squares(optimizer_cls):
    x, y = regression_data()
    grid = 10.0 ** np.arange(-3, 0.51, 0.25)  # quarter decades around both optima (SGD ~0.06, Adam ~0.5)
    best = grid_best(optimizer_cls, x, y, grid)
    result = lr_find(linear_model(optimizer_cls(1e-3)), x, y, batch_size=32, start_lr=1e-5, end_lr=10.0)
    ratio = result.suggestion / best
    assert 1 / 3 <= ratio <= 3, (result.suggestions, best)


def test_divergence_stops_the_sweep():
    x, y = regression_data(256)
    model = linear_model(keras.optimizers.SGD(0.01))
    result = lr_find(model, x, y, start_lr=1e-4, end_lr=1e4, num_steps=100, smoothing=0.9)
    assert result.diverged
    assert 5 < len(result.lrs) < 100
    final = result.smoothed_losses[-1]
    assert not np.isfinite(result.losses[-1]) or final > 4.0 * result.smoothed_losses[:-1].min()
    # Suggestions come from the part before the blow-up.
    assert result.suggestion < result.lrs[-1]
    np.testing.assert_allclose(result.lrs, exponential_rates(1e-4, 1e4, 100)[: len(result.lrs)], rtol=1e-12)


def test_without_divergence_all_steps_run_and_a_dataset_works(tmp_path):
    x, y = regression_data(128)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # 8 batches: the sweep cycles over them
    result = kerastricks.lr_find(linear_model(keras.optimizers.SGD(0.01)), ds, start_lr=1e-4, end_lr=2e-2,
                                 num_steps=20)
    assert not result.diverged and len(result.lrs) == 20 and result.suggestion is not None
    assert result.smoothed_losses[-1] < 0.9 * result.smoothed_losses[0]
    png = result.plot(tmp_path / "lr.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(json.dumps(result.to_dict()))
    assert data["suggestion"] == result.suggestion and len(data["lrs"]) == 20
    assert isinstance(result, LRFinderResult)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"start_lr": 0.0}, "start_lr"), ({"end_lr": 1e-8}, "end_lr"), ({"num_steps": 1}, "num_steps"),
     ({"smoothing": 1.0}, "smoothing"), ({"stop_factor": 1.0}, "stop_factor"), ({"batch_size": 0}, "batch_size")],
)
def test_invalid_arguments(kwargs, match):
    x, y = regression_data(32)
    with pytest.raises(ValueError, match=f"Argument `{match}`"):
        lr_find(linear_model(keras.optimizers.SGD(0.01)), x, y, **kwargs)


def test_needs_a_compiled_model():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compiled"):
        lr_find(model, *regression_data(32))
