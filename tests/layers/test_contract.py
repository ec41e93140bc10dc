"""The layer contract, for every layer in kerastricks.layers: config round-trip, .keras save/load,
one fit step, mixed precision, and (in a subprocess) MirroredStrategy over two logical CPUs."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from kerastricks.layers import (
    ACBlock,
    ExtendedBatchNormalization,
    RepVGGBlock,
    WSConv1D,
    WSConv2D,
)

# name -> (layer factory, input shape without batch)
LAYERS = {
    "wsconv1d": (lambda: WSConv1D(4, 3, padding="same", scale="relu"), (9, 3)),
    "wsconv2d": (lambda: WSConv2D(4, 3, strides=2, padding="same", gain=True), (8, 8, 3)),
    "extended_bn": (lambda: ExtendedBatchNormalization(momentum=0.9), (6, 6, 3)),
    "acblock2d": (lambda: ACBlock(4, 3, strides=2), (8, 8, 3)),
    "acblock1d": (lambda: ACBlock(4, 5, rank=1, padding="valid"), (9, 3)),
    "repvgg2d": (lambda: RepVGGBlock(3, 3), (6, 6, 3)),
    "repvgg1d": (lambda: RepVGGBlock(4, 3, rank=1, strides=2), (9, 3)),
}


def model_with(name):
    factory, shape = LAYERS[name]
    inputs = keras.Input(shape)
    x = factory()(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(2, dtype="float32")(x)), shape


@pytest.mark.parametrize("name", list(LAYERS))
def test_config_round_trip_save_load_and_fit_step(name, tmp_path):
    layer = LAYERS[name][0]()
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    model, shape = model_with(name)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4,) + shape).astype("float32")
    y = rng.integers(0, 2, size=4)
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


@pytest.mark.parametrize("name", list(LAYERS))
def test_mixed_precision_fit_step(name):
    keras.config.set_dtype_policy("mixed_float16")
    model, shape = model_with(name)
    layer = model.layers[1]
    x = np.random.default_rng(1).normal(size=(4,) + shape).astype("float32")
    assert keras.backend.standardize_dtype(layer(x).dtype) == "float16"
    model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert np.isfinite(model.train_on_batch(x, np.array([0, 1, 0, 1])))
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)


def all_layers_model():
    """Every layer of LAYERS in one two-input model, so one distributed fit exercises them all."""
    image, seq = keras.Input((8, 8, 3)), keras.Input((9, 3))
    x = WSConv2D(4, 3, strides=2, padding="same")(image)
    x = ExtendedBatchNormalization()(x)
    x = ACBlock(4, 3, strides=2)(x)
    x = RepVGGBlock(4, 3)(x)
    y = WSConv1D(4, 3, padding="same", scale="relu")(seq)
    y = ACBlock(4, 5, rank=1, padding="valid")(y)
    y = RepVGGBlock(4, 3, rank=1, strides=2)(y)
    z = keras.layers.Concatenate()([keras.layers.Flatten()(x), keras.layers.Flatten()(y)])
    return keras.Model([image, seq], keras.layers.Dense(2)(z))


MIRRORED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    sys.path.insert(0, sys.argv[1])
    from test_contract import all_layers_model
    from kerastricks.layers import ExtendedBatchNormalization

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    with strategy.scope():
        model = all_layers_model()
        model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    xs = [rng.normal(size=(8, 8, 8, 3)).astype("float32"), rng.normal(size=(8, 9, 3)).astype("float32")]
    before = [w.copy() for w in model.get_weights()]
    hist = model.fit(xs, rng.integers(0, 2, 8), batch_size=8, epochs=1, shuffle=False, verbose=0)
    out = {"replicas": strategy.num_replicas_in_sync, "loss": hist.history["loss"][0],
           "changed": sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))}

    # the two replicas see halves with different means: only synchronized statistics
    # give the global batch's shared variance
    x = np.concatenate([rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 3)) + 3.0]).astype("float32")
    with strategy.scope():
        inputs = keras.Input((5, 3))
        layer = ExtendedBatchNormalization(momentum=0.0, center=False, scale=False)
        model = keras.Model(inputs, layer(inputs))
        model.compile(keras.optimizers.SGD(0.0), "mse")
    model.fit(x, np.zeros_like(x), batch_size=8, epochs=1, shuffle=False, verbose=0)
    out["moving_mean"] = np.asarray(layer.moving_mean.numpy()).tolist()
    out["moving_variance"] = float(layer.moving_variance.numpy())
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
def test_inside_mirrored_strategy_with_synchronized_extended_bn(tmp_path):
    """Logical devices must be configured before TensorFlow starts: a fresh process."""
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, str(script), str(Path(__file__).parent)], capture_output=True, text=True,
                          check=False, env=env, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[0][len("RESULT "):])
    assert out["replicas"] == 2
    assert np.isfinite(out["loss"]) and out["changed"] > 10
    rng = np.random.default_rng(0)
    rng.normal(size=(8, 8, 8, 3)), rng.normal(size=(8, 9, 3)), rng.integers(0, 2, 8)  # replay the script's draws
    x = np.concatenate([rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 3)) + 3.0]).astype("float32")
    x = x.astype("float64")
    mean = x.mean((0, 1))
    shared_var = ((x - mean) ** 2).mean()
    local_var = np.mean([((h - h.mean((0, 1))) ** 2).mean() for h in (x[:4], x[4:])])
    assert shared_var > 2 * local_var  # the check below can tell them apart
    # float32 statistics (E[x^2] - E[x]^2 across replicas): 1e-4
    np.testing.assert_allclose(out["moving_mean"], mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["moving_variance"], shared_var, rtol=1e-4)
