"""SparseCrossentropy / smoothed_sparse_crossentropy against a numpy reference and Keras."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kerastricks.losses import SparseCrossentropy, smoothed_sparse_crossentropy


# --- independent numpy reference (float64) -----------------------------------------------
def np_log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def np_smoothed_target(y, num_classes, eps):
    return (1.0 - eps) * np.eye(num_classes)[np.asarray(y).reshape(-1)] + eps / num_classes


def np_smoothed_ce(y, logits, eps):
    """Per-example (1 - eps) * nll + eps * mean_k(-log p_k) (Szegedy et al. 2016, sec. 7)."""
    log_p = np_log_softmax(logits)
    y = np.asarray(y).reshape(-1)
    nll = -log_p[np.arange(len(y)), y]
    return (1.0 - eps) * nll + eps * (-log_p.mean(axis=-1))


def random_case(seed, batch=16, classes=7, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.normal(size=(batch, classes))).astype("float32")
    labels = rng.integers(0, classes, size=batch).astype("int32")
    return labels, logits


# float32 softmax/log of O(1..10) values: relative error ~1e-6; 1e-5 leaves headroom
# without hiding a wrong formula (a wrong eps term changes the value by >1e-2).
RTOL = 1e-5


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 0.9])
def test_per_example_values_match_numpy(eps):
    y, z = random_case(0)
    got = keras.ops.convert_to_numpy(smoothed_sparse_crossentropy(y, z, eps))
    assert got.shape == (16,)
    np.testing.assert_allclose(got, np_smoothed_ce(y, z, eps), rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_mean_reduction_value_and_gradient_match_analytic(eps):
    y, z = random_case(1, batch=8, classes=5)
    loss = SparseCrossentropy(label_smoothing=eps)
    zt = tf.Variable(z)
    with tf.GradientTape() as tape:
        value = loss(y, zt)
    grad = tape.gradient(value, zt).numpy()
    np.testing.assert_allclose(float(value), np_smoothed_ce(y, z, eps).mean(), rtol=RTOL)
    # d/dz of mean_i CE(t_i, softmax(z_i)) = (softmax(z_i) - t_i) / B, since sum_k t_ik = 1.
    expected = (np.exp(np_log_softmax(z)) - np_smoothed_target(y, 5, eps)) / len(y)
    # Gradients are O(1/B) = O(0.1): an absolute tolerance of 1e-6 is ~1e-5 relative.
    np.testing.assert_allclose(grad, expected, atol=1e-6)


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.5])
def test_equals_keras_categorical_crossentropy_on_one_hot(eps):
    y, z = random_case(2)
    ours = float(SparseCrossentropy(label_smoothing=eps)(y, z))
    ref = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps)
    theirs = float(ref(keras.ops.one_hot(y, 7), z))
    # Same float32 math by two routes: agreement to ~1e-6 relative.
    np.testing.assert_allclose(ours, theirs, rtol=RTOL)


def test_zero_smoothing_equals_keras_sparse_crossentropy():
    y, z = random_case(3)
    ours = float(SparseCrossentropy()(y, z))
    theirs = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, z))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL)


def test_labels_shaped_b_and_b1_agree():
    y, z = random_case(4)
    loss = SparseCrossentropy(label_smoothing=0.1, reduction=None)
    a = keras.ops.convert_to_numpy(loss(y, z))
    b = keras.ops.convert_to_numpy(loss(y.reshape(-1, 1), z))
    assert a.shape == b.shape == (16,)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, np_smoothed_ce(y, z, 0.1), rtol=RTOL, atol=1e-6)


def test_from_probabilities():
    y, z = random_case(5, scale=1.0)  # moderate logits: no probability falls below the 1e-7 clip
    probs = np.exp(np_log_softmax(z)).astype("float32")
    loss = SparseCrossentropy(label_smoothing=0.2, from_logits=False, reduction=None)
    got = keras.ops.convert_to_numpy(loss(y, probs))
    # log of float32 probabilities instead of log_softmax of logits: ~1e-6 relative, headroom 10x.
    np.testing.assert_allclose(got, np_smoothed_ce(y, z, 0.2), rtol=RTOL, atol=1e-6)
    keras_ref = keras.losses.SparseCategoricalCrossentropy(from_logits=False, reduction=None)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(SparseCrossentropy(from_logits=False, reduction=None)(y, probs)),
        keras.ops.convert_to_numpy(keras_ref(y, probs)),
        rtol=RTOL, atol=1e-6,
    )


def test_sample_weight_and_sum_reduction():
    y, z = random_case(6)
    w = np.linspace(0.0, 2.0, 16).astype("float32")
    loss = SparseCrossentropy(label_smoothing=0.1, reduction="sum")
    np.testing.assert_allclose(float(loss(y, z, sample_weight=w)), (np_smoothed_ce(y, z, 0.1) * w).sum(), rtol=RTOL)


def test_config_round_trip():
    loss = SparseCrossentropy(label_smoothing=0.25, from_logits=False, name="smooth")
    config = loss.get_config()
    assert config["label_smoothing"] == 0.25 and config["from_logits"] is False and config["name"] == "smooth"
    clone = SparseCrossentropy.from_config(config)
    assert clone.get_config() == config
    # Through Keras's registry as well (the class is registered as kerastricks>SparseCrossentropy).
    revived = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(revived, SparseCrossentropy) and revived.get_config() == config


def test_model_saves_and_loads_with_loss(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=SparseCrossentropy(label_smoothing=0.1))
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.arange(8) % 3
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.loss, SparseCrossentropy)
    assert loaded.loss.label_smoothing == 0.1
    np.testing.assert_allclose(
        loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6
    )


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_invalid_label_smoothing(bad):
    with pytest.raises(ValueError) as info:
        SparseCrossentropy(label_smoothing=bad)
    message = str(info.value)
    assert "\n" not in message
    assert message == f"Argument `label_smoothing` must be in [0, 1). Received: label_smoothing={bad!r}"


# --- properties ----------------------------------------------------------------------------
case = st.integers(2, 6).flatmap(
    lambda c: st.tuples(
        st.just(c),
        hnp.arrays(np.float32, (3, c), elements=st.floats(-30, 30, width=32)),
        hnp.arrays(np.int32, (3,), elements=st.integers(0, c - 1)),
        st.floats(0.0, 0.99),
    )
)


@settings(max_examples=30, deadline=None)
@given(case)
def test_loss_is_at_least_the_entropy_of_the_target(args):
    classes, z, y, eps = args
    got = keras.ops.convert_to_numpy(smoothed_sparse_crossentropy(y, z, eps)).astype(np.float64)
    t = np_smoothed_target(y, classes, eps)
    entropy = -(t * np.log(np.where(t > 0, t, 1.0))).sum(axis=-1)
    # Gibbs' inequality CE(t, p) >= H(t); float32 rounding of logits up to 30 allows ~1e-4 absolute slack.
    assert np.all(got >= entropy - 1e-4)
    np.testing.assert_allclose(got, np_smoothed_ce(y, z, eps), rtol=1e-4, atol=1e-4)


@settings(max_examples=20, deadline=None)
@given(
    hnp.arrays(np.float32, (4, 5), elements=st.floats(-1e4, 1e4, width=32)),
    hnp.arrays(np.int32, (4,), elements=st.integers(0, 4)),
    st.floats(0.0, 0.5),
)
def test_large_logits_give_finite_loss_and_gradient(z, y, eps):
    zt = tf.Variable(z)
    with tf.GradientTape() as tape:
        value = SparseCrossentropy(label_smoothing=eps)(y, zt)
    grad = tape.gradient(value, zt).numpy()
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad))
    # The reference in float64 stays exact at this scale; float32 holds ~1e-7 * 1e4 = 1e-3 absolute.
    np.testing.assert_allclose(float(value), np_smoothed_ce(y, z, eps).mean(), rtol=1e-5, atol=5e-3)
