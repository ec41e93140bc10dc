"""SWA components against numpy: the equal-weight average of the cycle-end weights (Izmailov et al. 2018,
Algorithm 1), the SWA learning rate (their eq. 2), and the BatchNorm update, which changes only moving statistics."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.swa import SWA, SWALearningRate, batch_norm_layers, swa_learning_rate, update_bn


def tiny(seed=0, bn=False, dropout=0.0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((5,))
    h = keras.layers.Dense(6, name="d1")(x)
    if bn:
        h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.Activation("relu")(h)
    h = keras.layers.Dense(4, name="d2")(h)
    if bn:
        h = keras.layers.BatchNormalization(name="bn2")(h)
    if dropout:
        h = keras.layers.Dropout(dropout, name="drop")(h)
    return keras.Model(x, keras.layers.Dense(3, name="logits")(h))


def data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 5)) * 2 + 1).astype("float32")
    return x, (x[:, 0] > 1).astype("int32")


class Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([v.numpy().astype(np.float64) for v in self.model.trainable_variables])


@pytest.mark.parametrize("start, every, averaged", [(2, 1, [2, 3, 4, 5]), (2, 2, [3, 5]), (5, 1, [5]), (1, 3, [3])])
def test_average_is_the_mean_of_the_cycle_end_weights(start, every, averaged):
    x, y = data()
    model = tiny()
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(True))
    swa, record = SWA(start_epoch=start, every=every), Record()
    model.fit(x, y, batch_size=25, epochs=5, shuffle=False, verbose=0, callbacks=[record, swa])
    assert swa.n_averaged == len(averaged)
    raw = [v.numpy().copy() for v in model.trainable_variables]
    assert swa.assign_average(model)
    for i, got in enumerate(model.trainable_variables):
        want = np.mean([record.weights[e - 1][i] for e in averaged], axis=0)  # epochs are 1-based
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)  # float64 mean cast to float32
    if len(averaged) > 1:
        assert any(not np.allclose(a, v.numpy()) for a, v in zip(raw, model.trainable_variables))


def test_nothing_to_assign_before_the_first_average():
    model = tiny()
    swa = SWA(start_epoch=3)
    before = [w.copy() for w in model.get_weights()]
    assert not swa.assign_average(model)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert [SWA(2, 3).averages_after(e) for e in range(1, 9)] == [False, False, False, True, False, False, True, False]


def test_state_round_trip_continues_the_average():
    """What a checkpoint keeps (count + arrays) gives the same average as one uninterrupted callback."""
    x, y = data()
    full, first = SWA(1), SWA(1)
    model = tiny()
    model.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(True))
    start = model.get_weights()
    model.fit(x, y, batch_size=50, epochs=4, shuffle=False, verbose=0, callbacks=[full])
    model.set_weights(start)
    model.fit(x, y, batch_size=50, epochs=2, shuffle=False, verbose=0, callbacks=[first])
    resumed = SWA(1)
    resumed.load_state_dict(first.state_dict())
    resumed.load_state_arrays(first.state_arrays())
    model.fit(x, y, batch_size=50, epochs=4, initial_epoch=2, shuffle=False, verbose=0, callbacks=[resumed])
    assert resumed.n_averaged == full.n_averaged == 4
    for a, b in zip(resumed.average, full.average):
        np.testing.assert_array_equal(a, b)


def numpy_swa_lr(step, base, start, lr1, lr2, c):
    """Izmailov et al. eq. 2 (0-based steps): alpha(i) = (1 - t) a1 + t a2, t = (mod(i - 1, c) + 1) / c."""
    if step < start:
        return base
    if lr2 is None:
        return lr1
    t = (((step - start) % c) + 1) / c
    return (1 - t) * lr1 + t * lr2


@settings(max_examples=10, deadline=None)
@given(start=st.integers(0, 20), c=st.integers(1, 7), lr1=st.floats(0.01, 1.0), frac=st.floats(0.01, 1.0))
def test_cyclical_rate_matches_eq_2(start, c, lr1, frac):
    lr2 = lr1 * frac
    base = keras.optimizers.schedules.ExponentialDecay(0.5, 10, 0.5)
    schedule = SWALearningRate(base, start_step=start, swa_lr=lr1, swa_lr_min=lr2, cycle_steps=c)
    steps = np.arange(start + 3 * c + 2)
    got = np.array([float(schedule(int(s))) for s in steps])
    want = np.array([numpy_swa_lr(s, 0.5 * 0.5 ** (s / 10), start, lr1, lr2, c) for s in steps])
    np.testing.assert_allclose(got, want, rtol=1e-5)  # float32 schedule arithmetic
    # periodic after the start, ending each cycle at the minimum
    after = got[start:]
    np.testing.assert_allclose(after[c:3 * c], after[:2 * c], rtol=1e-6)
    np.testing.assert_allclose(after[c - 1::c], lr2, rtol=1e-5)


def test_constant_rate_and_config_round_trip():
    schedule = SWALearningRate(0.3, start_step=4, swa_lr=0.05)
    assert [round(float(schedule(s)), 6) for s in (0, 3, 4, 100)] == [0.3, 0.3, 0.05, 0.05]
    nested = SWALearningRate(keras.optimizers.schedules.CosineDecay(0.1, 20), start_step=15, swa_lr=0.02,
                             swa_lr_min=0.005, cycle_steps=5)
    revived = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(nested))
    assert type(revived) is SWALearningRate and revived.get_config() == nested.get_config()
    for s in (0, 14, 15, 19, 23):
        assert float(revived(s)) == float(nested(s))
    assert float(swa_learning_rate(3, 0.2, start_step=5, swa_lr=0.01)) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="swa_lr_min"):
        SWALearningRate(0.1, start_step=0, swa_lr=0.01, swa_lr_min=0.02)


def numpy_bn_statistics(model, x, batch_size):
    """Mean over batches of each BN layer's batch mean and (biased) variance, with a numpy forward pass in
    training mode (each BN normalizes with its batch's own statistics)."""
    w = {v.path: v.numpy().astype(np.float64) for v in model.variables}
    out = {"bn1": ([], []), "bn2": ([], [])}
    for i in range(0, len(x), batch_size):
        h = x[i:i + batch_size].astype(np.float64) @ w["d1/kernel"] + w["d1/bias"]
        for name, dense in (("bn1", "d2"), ("bn2", None)):
            mean, var = h.mean(0), h.var(0)
            out[name][0].append(mean)
            out[name][1].append(var)
            h = (h - mean) / np.sqrt(var + 1e-3) * w[f"{name}/gamma"] + w[f"{name}/beta"]
            if dense:
                h = np.maximum(h, 0) @ w[f"{dense}/kernel"] + w[f"{dense}/bias"]
    return {name: (np.mean(m, 0), np.mean(v, 0)) for name, (m, v) in out.items()}


def test_update_bn_matches_numpy_and_changes_only_moving_statistics():
    x, y = data(n=100)
    model = tiny(bn=True, dropout=0.5)
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)  # moving statistics away from their initial values
    stats = {v.path for layer in batch_norm_layers(model) for v in (layer.moving_mean, layer.moving_variance)}
    assert stats == {"bn1/moving_mean", "bn1/moving_variance", "bn2/moving_mean", "bn2/moving_variance"}
    before = {v.path: v.numpy().copy() for v in model.variables}
    assert any("seed" in p for p in before)  # the dropout layer's seed state is among the variables kept
    want = numpy_bn_statistics(model, x, 32)

    assert update_bn(model, x, batch_size=32) == 2  # batches of 32, 32, 32 and 4: each counts once

    for v in model.variables:
        if v.path in stats:
            name, kind = v.path.split("/")
            ref = want[name][0 if kind == "moving_mean" else 1]
            np.testing.assert_allclose(v.numpy(), ref, rtol=1e-4, atol=1e-5, err_msg=v.path)  # float32 sums
            assert not np.allclose(v.numpy(), before[v.path])
        else:
            np.testing.assert_array_equal(v.numpy(), before[v.path], err_msg=v.path)
    assert all(layer.momentum == 0.99 for layer in batch_norm_layers(model))


def test_update_bn_reads_datasets_and_skips_models_without_bn():
    import tensorflow as tf

    x, y = data(n=64)
    model = tiny(bn=True)
    update_bn(model, x, batch_size=16)
    from_arrays = [v.numpy().copy() for v in model.non_trainable_variables]
    model2 = tiny(bn=True)
    assert update_bn(model2, tf.data.Dataset.from_tensor_slices((x, y)).batch(16)) == 2
    for a, b in zip(from_arrays, model2.non_trainable_variables):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-7)
    assert update_bn(tiny(), x) == 0
    with pytest.raises(ValueError, match="no batches"):
        update_bn(tiny(bn=True), x[:0])
