"""The plain-Keras helpers: layer groups, reuse, freeze, discriminative rates, the two-phase rate."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kerastricks as kt
from kerastricks.transfer.core import TransferLearningRate, group_multipliers


def zoo_cnn(classes=3):
    from kerastricks.models import build_model

    return build_model("cnn1d", input_shape=(12, 1), num_outputs=classes,
                       options={"width": 4, "depth": 2, "norm": "batch"})


def test_layer_groups_follow_the_blocks():
    groups = kt.transfer.layer_groups(zoo_cnn())
    assert groups == [["block1_conv", "block1_norm", "block1_act", "block1_pool"],
                      ["block2_conv", "block2_norm", "block2_act", "block2_pool", "gap"], ["logits"]]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 12), lr_mult=st.floats(1.0, 1e4))
def test_multipliers_are_a_geometric_spread_from_one_over_lr_mult_to_one(n, lr_mult):
    m = np.array(group_multipliers(n, lr_mult))
    reference = lr_mult ** (np.arange(n) / max(n - 1, 1) - 1.0) if n > 1 else np.ones(1)
    np.testing.assert_allclose(m, reference, rtol=1e-12)
    assert m[-1] == 1.0 and (n == 1 or np.isclose(m[0], 1 / lr_mult, rtol=1e-12))
    if n > 2:  # constant ratio between neighbours
        np.testing.assert_allclose(m[1:] / m[:-1], m[1] / m[0], rtol=1e-9)


def reference_rate(step, phase1, phase2, p2, start, mult):
    """The schedule's definition, in numpy (phase rates as functions of the phase's own step)."""
    if step < start:
        return 0.0
    return phase1(step) if step < p2 else mult * phase2(step - p2)


@pytest.mark.parametrize("start", [0, 6, 9])
def test_transfer_rate_matches_its_definition(start):
    cosine = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=8, alpha=0.1)
    rate = TransferLearningRate(phase1=0.003, phase2=cosine, phase2_start=6, start=start, multiplier=0.25)
    steps = np.arange(20)
    got = np.array([float(rate(s)) for s in steps])

    def cos_ref(s):
        s = min(s, 8)
        return 0.01 * ((1 - 0.1) * 0.5 * (1 + np.cos(np.pi * s / 8)) + 0.1)

    want = np.array([reference_rate(s, lambda _: 0.003, cos_ref, 6, start, 0.25) for s in steps])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    assert np.all(got[:start] == 0.0)  # exactly zero while frozen
    clone = TransferLearningRate.from_config(rate.get_config())
    assert clone.get_config() == rate.get_config()
    np.testing.assert_array_equal([float(clone(s)) for s in steps], got)


def test_reuse_shares_the_trained_layers_and_adds_a_head():
    source = zoo_cnn(classes=5)
    model = kt.transfer.reuse(source, new_head=2)
    assert model.output_shape == (None, 2)
    assert model.get_layer("block1_conv") is source.get_layer("block1_conv")
    assert model.get_layer("logits") is not source.get_layer("logits")
    cut = kt.transfer.reuse(source, up_to="block1_act", new_head=3)  # rank-3 features: pooled first
    assert [layer.name for layer in cut.layers][-2:] == ["logits_pool", "logits"]
    with pytest.raises(ValueError, match="up_to"):
        kt.transfer.reuse(source, up_to="nope")


def test_freeze_puts_batch_norm_in_inference_mode():
    model = kt.transfer.reuse(zoo_cnn(), new_head=2)
    assert kt.transfer.freeze(model) == 4  # two convs and two norms; the head stays trainable
    assert [v.path for v in model.trainable_variables] == ["logits/kernel", "logits/bias"]
    bn = model.get_layer("block1_norm")
    before = [keras.ops.convert_to_numpy(v).copy() for v in bn.non_trainable_variables]
    x = np.random.default_rng(0).normal(3.0, 2.0, (8, 12, 1)).astype("float32")
    model(x, training=True)  # inference mode: moving statistics untouched, outputs use them
    after = [keras.ops.convert_to_numpy(v) for v in bn.non_trainable_variables]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(model(x, training=True), model(x, training=False), rtol=1e-6, atol=1e-6)


def optimizer_cases():
    from kerastricks.optimizers import SM3, Adafactor, AdaptiveGradientClipping

    return {
        "sgd": lambda: keras.optimizers.SGD(0.1),
        "adafactor": lambda: Adafactor(learning_rate=0.1),
        "sm3": lambda: SM3(learning_rate=0.1),
        "agc-adam": lambda: AdaptiveGradientClipping(keras.optimizers.Adam(0.1), clipping=0.05),
    }


@pytest.mark.parametrize("name", list(optimizer_cases()))
def test_discriminative_rates_per_group(name, tmp_path):
    source = zoo_cnn()
    model = kt.transfer.reuse(source, new_head=2)
    groups = kt.transfer.layer_groups(model)
    opt = kt.transfer.discriminative(optimizer_cases()[name], groups, lr_mult=16.0, model=model)
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 12, 1)).astype("float32"), rng.integers(0, 2, 16)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    # each group's effective rate = base x its multiplier (16^-1, 16^-1/2, 1)
    np.testing.assert_allclose(kt.transfer.group_learning_rates(opt), [0.1 / 16, 0.1 / 4, 0.1], rtol=1e-6)
    assert [len(o.iterations.shape) for o in opt.optimizers] == [0, 0, 0]
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(kt.transfer.group_learning_rates(loaded.optimizer), [0.1 / 16, 0.1 / 4, 0.1],
                               rtol=1e-6)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_discriminative_sgd_step_moves_each_group_by_its_rate():
    """One plain-SGD step: each group's change is -rate x gradient (numpy reference from the gradient)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    h = keras.layers.Dense(4, name="body")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="logits")(h))
    opt = kt.transfer.discriminative(lambda: keras.optimizers.SGD(0.5), [["body"], ["logits"]], lr_mult=10.0)
    x = np.ones((2, 3), "float32")
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables]
    opt.apply(grads, model.trainable_variables)
    rates = {"body": 0.05, "logits": 0.5}
    for v, b, g in zip(model.trainable_variables, before, grads):
        np.testing.assert_allclose(v.numpy(), b - rates[v.path.split("/")[0]] * g.numpy(), rtol=1e-6, atol=1e-7)
