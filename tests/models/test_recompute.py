"""Recompute: gradients equal the plain segment's (input and inner variables), under fit and save/load."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastricks.errors import ConfigError
from kerastricks.models import build_model
from kerastricks.models.recompute import Recompute, default_every, resolve_every


def segment():
    return keras.Sequential([
        keras.layers.Dense(12, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(12, activation="tanh"),
    ])


def wrap(inner, recompute):
    inputs = keras.Input((6,))
    x = Recompute(inner)(inputs) if recompute else inner(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def grads(model, x, y):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function  # graph mode, as model.fit runs it: where RematScope fails
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(y, model(x, training=True))
        return tape.gradient(loss, [x, *model.trainable_variables])

    return [g.numpy() for g in step(tf.constant(x))]


def data(n=16):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


def test_gradients_equal_plain_segment_including_inner_variables():
    x, y = data()
    plain = wrap(segment(), recompute=False)
    rec = wrap(segment(), recompute=True)
    rec.set_weights(plain.get_weights())
    g_plain, g_rec = grads(plain, x, y), grads(rec, x, y)
    # 1 input gradient + 6 segment variables + 2 logits variables, none missing
    assert len(g_rec) == 1 + len(rec.trainable_variables) == 9
    assert all(g is not None for g in g_rec)
    for a, b in zip(g_plain, g_rec):
        # the recomputation repeats the same float32 ops: equal up to op-order rounding
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert np.abs(g_rec[1]).sum() > 0  # an inner kernel really gets a gradient


def test_unbuilt_layer_builds_its_variables_outside_the_recomputation():
    x, y = data()
    dense = keras.layers.Dense(4)
    layer = Recompute(dense)
    layer.build((None, 6))
    assert dense.built and len(layer.trainable_variables) == 2
    with tf.GradientTape() as tape:
        out = layer(tf.constant(x), training=True)
    g = tape.gradient(out, layer.trainable_variables)
    # d sum(xW + b) / dW = sum over the batch of x, per output column; / db = batch size
    np.testing.assert_allclose(g[0].numpy(), np.repeat(x.sum(0)[:, None], 4, axis=1), rtol=1e-5)
    np.testing.assert_allclose(g[1].numpy(), np.full(4, len(x)), rtol=1e-6)


def test_fit_trains_and_saves_and_loads(tmp_path):
    x, y = data(64)
    model = wrap(segment(), recompute=True)
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[1], Recompute)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    config = Recompute(keras.layers.Dense(2)).get_config()
    assert isinstance(Recompute.from_config(config).layer, keras.layers.Dense)


def test_random_layers_and_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="random layers"):
        Recompute(keras.Sequential([keras.layers.Dense(2), keras.layers.Dropout(0.5)]))
    with pytest.raises(TypeError, match="keras.layers.Layer"):
        Recompute(lambda x: x)


@pytest.mark.parametrize(
    "name,shape,opts,segments",
    [
        ("mlp", (20,), {"depth": 5, "width": 8, "recompute_every": 2}, 3),
        ("cnn1d", (16, 1), {"depth": 4, "width": 4, "recompute_every": "auto"}, 2),
        ("resnet", (8, 8, 1), {"depth": 8, "width": 4, "recompute_every": 1}, 3),
    ],
)
def test_zoo_option_keeps_the_function_and_its_gradients(name, shape, opts, segments):
    plain = build_model(name, input_shape=shape, num_outputs=3, options={**opts, "recompute_every": 0})
    rec = build_model(name, input_shape=shape, num_outputs=3, options=opts)
    assert sum(isinstance(layer, Recompute) for layer in rec.layers) == segments
    assert rec.count_params() == plain.count_params()
    assert rec.get_layer("logits").dtype_policy.name == "float32"
    rec.set_weights(plain.get_weights())
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, *shape)).astype("float32")
    y = np.array([0, 1, 2, 0])
    for a, b in zip(grads(plain, x, y), grads(rec, x, y)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)  # deeper nets: more rounding to reorder


def test_zoo_option_rejects_dropout_in_recomputed_layers():
    with pytest.raises(ConfigError, match="model.recompute_every"):
        build_model("mlp", input_shape=(4,), num_outputs=2, options={"dropout": 0.1, "recompute_every": 1})


def test_default_every_is_rounded_square_root():
    assert [default_every(n) for n in (1, 4, 9, 24, 27)] == [1, 2, 3, 5, 5]
    assert resolve_every(0, 9) == 0 and resolve_every("auto", 9) == 3 and resolve_every(2, 9) == 2
