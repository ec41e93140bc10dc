"""One contract for every optimizer kerastricks ships (SM3, Adafactor, AGC around Adam, Lookahead around AdamW).

Each row: converges on a quadratic and on a small MNIST-1D model (trained with
``jit_compile=True``); ``get_config`` round-trip; ``.keras`` save/load with
the optimizer state; ``mixed_bfloat16``; ``gradient_accumulation_steps``; a
resumed checkpoint continues bit-for-bit; and (one subprocess for the whole
table) a ``tf.distribute.MirroredStrategy`` over 2 logical CPU devices gives
the single-device result.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from kerastricks.callbacks import restore_optimizer
from kerastricks.optimizers import (
    AGC,
    OPTIMIZERS,
    SM3,
    Adafactor,
    AdaptiveGradientClipping,
    Lookahead,
)

#: name -> factory; every optimizer of the package (``source="kerastricks"`` in OPTIMIZERS) plus AGC.
#: Adafactor factors kernels with both of the last two dims >= 8 here, so the small test models
#: exercise the factored and the full-accumulator paths; SM3 keeps a momentum slot.
FACTORIES = {
    "adafactor": lambda **kw: Adafactor(min_dim_size_to_factor=8, **kw),
    "sm3": lambda **kw: SM3(learning_rate=0.1, momentum=0.5, **kw),
    "agc_adam": lambda **kw: AGC(keras.optimizers.Adam(0.05, **kw), clipping=0.05, exclude=["^logits/"]),
    "lookahead_adamw": lambda **kw: Lookahead(keras.optimizers.AdamW(0.05, **kw), sync_period=2),
}
NAMES = list(FACTORIES)


def test_table_covers_every_package_optimizer():
    ours = {e.name for e in OPTIMIZERS if e.meta.get("source") == "kerastricks"}
    assert ours == {"adafactor", "sm3"} and ours <= set(NAMES)
    assert any(isinstance(FACTORIES[n](), AdaptiveGradientClipping) for n in NAMES)


def mlp(seed=0, inputs=8, width=16, outputs=3):
    keras.utils.set_random_seed(seed)
    x = keras.Input((inputs,))
    h = keras.layers.Dense(width, activation="relu", name="hidden")(x)
    return keras.Model(x, keras.layers.Dense(outputs, name="logits")(h))


def batches(n=5, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(size, 8)).astype("float32"), rng.integers(0, 3, size=(size,)).astype("int32"))
            for _ in range(n)]


LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize("name", NAMES)
def test_converges_on_a_quadratic(name):
    # f(W) = 0.5 * sum(a * (W - W*)^2) on a 2-D variable (the shape the factored/cover code paths use)
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, size=(6, 5)).astype("float32")
    target = (1.0 + 0.5 * rng.normal(size=(6, 5))).astype("float32")
    # minimum and start away from 0: Adafactor's step is relative to RMS(W)
    var = keras.Variable(np.full((6, 5), 3.0, "float32"), name="w")
    opt = FACTORIES[name]()

    def f(w):
        return float(0.5 * np.sum(a * (w - target) ** 2))

    start = f(var.numpy())
    for _ in range(100):
        opt.apply([keras.ops.convert_to_tensor(a * (var.numpy() - target))], [var])
    assert f(var.numpy()) < 0.2 * start
    assert int(opt.iterations) == 100


@pytest.fixture(scope="module")
def mnist1d_small():
    from kerastricks.data import load_dataset

    ds = load_dataset("mnist1d", seed=0)
    return ds.x_train[:1500], ds.y_train[:1500], ds.x_test[:1000], ds.y_test[:1000]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_trains_mnist1d_under_jit(name, mnist1d_small):
    x, y, xt, yt = mnist1d_small
    model = mlp(inputs=x.shape[1], width=64, outputs=10)
    model.compile(FACTORIES[name](), LOSS, metrics=["accuracy"], jit_compile=True)
    model.fit(x, y, batch_size=100, epochs=5, verbose=0)
    # chance is 10%; this MLP reaches ~30-40% after 5 short epochs with a working optimizer
    assert model.evaluate(xt, yt, batch_size=500, verbose=0)[1] > 0.2


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    opt = FACTORIES[name]()
    revived = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(revived) is type(opt) and revived.get_config() == opt.get_config()


def train_steps(model, data):
    for x, y in data:
        model.train_on_batch(x, y)


@pytest.mark.parametrize("name", NAMES)
def test_keras_file_keeps_optimizer_state(name, tmp_path):
    data = batches(n=4)
    model = mlp()
    model.compile(FACTORIES[name](), LOSS)
    train_steps(model, data[:3])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert int(loaded.optimizer.iterations) == 3
    train_steps(model, data[3:])
    train_steps(loaded, data[3:])
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_resumed_checkpoint_continues_bit_for_bit(name):
    data = batches(n=4)
    full = mlp()
    full.compile(FACTORIES[name](), LOSS)
    train_steps(full, data)

    first = mlp()
    first.compile(FACTORIES[name](), LOSS)
    train_steps(first, data[:2])
    # what RunCheckpoint stores: model weights and optimizer variables as numpy arrays
    weights = [np.array(w) for w in first.get_weights()]
    state = [keras.ops.convert_to_numpy(v) for v in first.optimizer.variables]

    resumed = mlp(seed=99)  # different initial weights: everything must come from the checkpoint
    resumed.compile(FACTORIES[name](), LOSS)
    resumed.set_weights(weights)
    restore_optimizer(resumed, state)
    train_steps(resumed, data[2:])
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(full.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.parametrize("name", NAMES)
def test_mixed_bfloat16(name):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = mlp()
        model.compile(FACTORIES[name](), LOSS)
        data = batches(n=1, size=64)
        losses = [float(model.train_on_batch(*data[0])) for _ in range(8)]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # statistics stay float32 (the variables are float32 under mixed policies)
    assert all(keras.backend.standardize_dtype(v.dtype) in ("float32", "int64", "int32")
               for v in model.optimizer.variables)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_accumulation(name):
    """Two accumulated micro-batches make one update on their mean gradient."""
    rng = np.random.default_rng(3)
    g1, g2 = (rng.normal(size=(6, 5)).astype("float32") for _ in range(2))
    w0 = rng.normal(size=(6, 5)).astype("float32")
    acc_var, ref_var = keras.Variable(w0, name="w"), keras.Variable(w0, name="w")
    acc = FACTORIES[name](gradient_accumulation_steps=2)
    ref = FACTORIES[name]()
    acc.apply([keras.ops.convert_to_tensor(g1)], [acc_var])
    np.testing.assert_array_equal(acc_var.numpy(), w0)  # first micro-batch: no update
    acc.apply([keras.ops.convert_to_tensor(g2)], [acc_var])
    if isinstance(acc, AdaptiveGradientClipping):
        # AGC clips each micro-batch's gradient before the wrapped optimizer accumulates it
        g1, g2 = (keras.ops.convert_to_numpy(ref.clip_gradients([g], [ref_var])[0]) for g in (g1, g2))
        ref = ref.inner_optimizer
    ref.apply([keras.ops.convert_to_tensor((g1 + g2) / 2)], [ref_var])
    # (g1 + g2) / 2 is formed in float32 in both paths, in different orders: a few ulps
    np.testing.assert_allclose(acc_var.numpy(), ref_var.numpy(), rtol=1e-5, atol=1e-6)
    assert int(acc.iterations) == 1


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    sys.path.insert(0, sys.argv[1])
    from test_conformance import FACTORIES, LOSS, batches, mlp

    out = {}
    (x, y), = batches(n=1, size=96)
    for name, factory in FACTORIES.items():
        results = []
        for distributed in (False, True):
            strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if distributed else None
            scope = strategy.scope() if strategy else tf.distribute.get_strategy().scope()
            with scope:
                model = mlp()
                model.compile(factory(), LOSS)
            # 3 steps of global batch 32 (16 per replica when distributed)
            model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
            results.append([w.tolist() for w in model.get_weights()])
            if distributed:
                out[name + "_replicas"] = strategy.num_replicas_in_sync
        out[name] = max(float(np.max(np.abs(np.array(a) - np.array(b))))
                        for a, b in zip(*[[np.array(w) for w in r] for r in results]))
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_matches_single_device(tmp_path):
    # Logical devices must be configured before TensorFlow starts, so this runs in a fresh process.
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(script), str(Path(__file__).parent)], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, proc.stderr[-3000:]
    result = json.loads(line[len("RESULT "):])
    for name in NAMES:
        assert result[name + "_replicas"] == 2
        # Summing two half-batch gradients instead of one full batch reorders float32 sums: ~1e-7
        # per step, amplified by 1/sqrt(nu)-type normalizations over 3 steps: 1e-5 absolute.
        assert result[name] < 1e-5, (name, result[name])
