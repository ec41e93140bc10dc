"""Long-tail losses against numpy references of the papers' equations (values and gradients)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kerastricks.errors import ConfigError
from kerastricks.losses import (
    LOSSES,
    BalancedSoftmaxLoss,
    ClassBalancedLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    SparseCategoricalFocalCrossentropy,
    build_loss,
    class_balanced_weights,
    ldam_margins,
    logit_adjust,
)

COUNTS = [50.0, 20.0, 5.0, 1.0]


# --- independent numpy references (float64) ----------------------------------------------
def np_log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def np_cb_weights(n, beta):
    """Cui et al. 2019, eq. 5 / section 4: w = (1 - beta) / (1 - beta^n), normalized to sum C."""
    n = np.asarray(n, dtype=np.float64)
    w = (1 - beta) / (1 - beta**n)
    return w / w.sum() * len(n)


def np_ce(z, y):
    return -np_log_softmax(z)[np.arange(len(y)), y]


def np_loss(kind, z, y, n, **kw):
    """Mean over the batch of the per-example loss of each method."""
    z = np.asarray(z, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    onehot = np.eye(len(n))[y]
    if kind == "la":  # Menon et al. 2020, eq. 10
        per = np_ce(z + kw["tau"] * np.log(n / n.sum()), y)
    elif kind == "bs":  # Ren et al. 2020, eq. 4: n_y e^z_y / sum n_j e^z_j
        e = n * np.exp(z - z.max(axis=-1, keepdims=True))
        per = -np.log(e[np.arange(len(y)), y] / e.sum(axis=-1))
    elif kind == "ldam":  # Cao et al. 2019, eq. 13; margins C / n^(1/4) with max = max_margin
        m = n ** -0.25
        m = m * kw["max_margin"] / m.max()
        zy = z - onehot * m
        per = np_ce(kw["scale"] * zy, y)
    elif kind == "cb_softmax":
        per = np_cb_weights(n, kw["beta"])[y] * np_ce(z, y)
    elif kind == "cb_sigmoid":
        p = 1 / (1 + np.exp(-z))
        bce = -(onehot * np.log(p) + (1 - onehot) * np.log(1 - p))
        per = np_cb_weights(n, kw["beta"])[y] * bce.sum(-1)
    elif kind == "cb_focal":  # Cui et al. 2019, eq. 7 with the focal term (1 - p_t)^gamma
        p = 1 / (1 + np.exp(-z))
        pt = np.where(onehot == 1, p, 1 - p)
        per = np_cb_weights(n, kw["beta"])[y] * (-((1 - pt) ** kw["gamma"]) * np.log(pt)).sum(-1)
    else:
        raise ValueError(kind)
    return per.mean()


def np_grad(kind, z, y, n, eps=1e-6, **kw):
    """Central finite differences of the numpy reference (float64)."""
    g = np.zeros_like(z, dtype=np.float64)
    for idx in np.ndindex(*z.shape):
        zp, zm = z.astype(np.float64).copy(), z.astype(np.float64).copy()
        zp[idx] += eps
        zm[idx] -= eps
        g[idx] = (np_loss(kind, zp, y, n, **kw) - np_loss(kind, zm, y, n, **kw)) / (2 * eps)
    return g


CASES = [
    ("la", lambda: LogitAdjustedLoss(COUNTS, tau=1.0), {"tau": 1.0}),
    ("la", lambda: LogitAdjustedLoss(COUNTS, tau=0.5), {"tau": 0.5}),
    ("bs", lambda: BalancedSoftmaxLoss(COUNTS), {}),
    ("ldam", lambda: LDAMLoss(COUNTS, max_margin=0.5, scale=30.0), {"max_margin": 0.5, "scale": 30.0}),
    ("ldam", lambda: LDAMLoss(COUNTS, max_margin=0.3, scale=1.0), {"max_margin": 0.3, "scale": 1.0}),
    ("cb_softmax", lambda: ClassBalancedLoss(COUNTS, beta=0.99), {"beta": 0.99}),
    ("cb_sigmoid", lambda: ClassBalancedLoss(COUNTS, beta=0.9, base="sigmoid"), {"beta": 0.9}),
    ("cb_focal", lambda: ClassBalancedLoss(COUNTS, beta=0.999, base="focal", gamma=2.0),
     {"beta": 0.999, "gamma": 2.0}),
]


def batch(seed=0, b=6, c=4):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(b, c)).astype("float32")
    y = rng.integers(0, c, size=b)
    return z, y


@pytest.mark.parametrize("kind,make,kw", CASES)
def test_values_and_gradients_match_numpy(kind, make, kw):
    loss = make()
    z, y = batch()
    # float32 forward pass vs float64 reference: relative 1e-5 covers float32 rounding of ~10 ops.
    np.testing.assert_allclose(float(loss(y, z)), np_loss(kind, z, y, COUNTS, **kw), rtol=1e-5, atol=1e-6)
    zt = tf.Variable(z)
    with tf.GradientTape() as tape:
        value = loss(y, zt)
    got = tape.gradient(value, zt).numpy()
    # finite differences in float64 (error ~eps^2) vs float32 autodiff: 1e-4 absolute (LDAM's
    # scale 30 multiplies the float32 error), checked relative to the gradient's size.
    np.testing.assert_allclose(got, np_grad(kind, z, y, COUNTS, **kw), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind,make,kw", CASES)
def test_one_hot_and_sparse_shapes_agree(kind, make, kw):
    loss = make()
    z, y = batch(1)
    sparse = float(loss(y, z))
    np.testing.assert_allclose(float(loss(y[:, None], z)), sparse, rtol=1e-6)
    np.testing.assert_allclose(float(loss(np.eye(4, dtype="float32")[y], z)), sparse, rtol=1e-6)


@pytest.mark.parametrize("kind,make,kw", [c for c in CASES if not c[0].startswith("cb_s") and c[0] != "cb_focal"])
def test_probabilities_input_matches_logits(kind, make, kw):
    z, y = batch(2)
    probs = tf.nn.softmax(z).numpy()
    config = make().get_config()
    config["from_logits"] = False
    loss_p = type(make()).from_config(config)
    # log(softmax(z)) differs from z by a per-row constant, which every softmax-based loss ignores;
    # float32 log of probabilities loses ~1e-6 relative.
    np.testing.assert_allclose(float(loss_p(y, probs)), float(make()(y, z)), rtol=1e-4)


def test_sigmoid_probabilities_input_matches_logits():
    z, y = batch(3)
    for base in ("sigmoid", "focal"):
        a = ClassBalancedLoss(COUNTS, beta=0.9, base=base)
        b = ClassBalancedLoss(COUNTS, beta=0.9, base=base, from_logits=False)
        np.testing.assert_allclose(float(b(y, tf.sigmoid(z).numpy())), float(a(y, z)), rtol=1e-4)


def test_class_weight_formulas():
    n = np.array([1000, 100, 10, 1])
    w = class_balanced_weights(n, 0.999)
    np.testing.assert_allclose(w, np_cb_weights(n, 0.999), rtol=1e-12)
    assert w.sum() == pytest.approx(4.0)
    np.testing.assert_allclose(class_balanced_weights(n, 0.0), np.ones(4))
    # beta -> 1: inverse frequency (normalized)
    inv = (1 / n) / (1 / n).sum() * 4
    np.testing.assert_allclose(class_balanced_weights(n, 1 - 1e-9), inv, rtol=1e-5)
    m = ldam_margins(n, 0.5)
    assert m.max() == pytest.approx(0.5) and m[-1] == pytest.approx(0.5)
    np.testing.assert_allclose(m / m[-1], (n / n[-1]) ** -0.25, rtol=1e-12)


@settings(max_examples=12, deadline=None)
@given(
    z=hnp.arrays(np.float32, (5, 3), elements=st.floats(-8, 8, width=32)),
    y=hnp.arrays(np.int64, (5,), elements=st.integers(0, 2)),
    n=hnp.arrays(np.float64, (3,), elements=st.floats(1, 1e4)),
)
def test_invariants(z, y, n):
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    # balanced softmax == logit adjustment with tau = 1 (log n and log pi differ by a constant)
    np.testing.assert_allclose(float(BalancedSoftmaxLoss(n)(y, z)), float(LogitAdjustedLoss(n, 1.0)(y, z)),
                               rtol=1e-4, atol=1e-5)
    # tau = 0 and beta = 0 are plain cross-entropy
    np.testing.assert_allclose(float(LogitAdjustedLoss(n, 0.0)(y, z)), float(ce(y, z)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(ClassBalancedLoss(n, beta=0.0)(y, z)), float(ce(y, z)), rtol=1e-5, atol=1e-6)
    # LDAM's margin only makes the true class harder: loss >= CE on the scaled logits
    assert float(LDAMLoss(n, scale=1.0)(y, z)) >= float(ce(y, z)) - 1e-5
    # losses are non-negative
    assert float(ClassBalancedLoss(n, beta=0.99, base="focal")(y, z)) >= 0


def test_class_weights_variable_switches_without_recompiling():
    loss = LDAMLoss(COUNTS, scale=1.0)
    z, y = batch(4)
    fn = tf.function(lambda a, b: loss(a, b))
    before = float(fn(y, z))
    w = np.array([0.1, 0.5, 1.0, 2.4])
    loss.set_class_weights(w)
    after = float(fn(y, z))
    kw = {"max_margin": 0.5, "scale": 1.0}
    m = np.asarray(COUNTS) ** -0.25
    per = np_ce(1.0 * (z - np.eye(4)[y] * m * 0.5 / m.max()), y)
    np.testing.assert_allclose(before, np_loss("ldam", z, y, COUNTS, **kw), rtol=1e-5)
    np.testing.assert_allclose(after, (w[y] * per).mean(), rtol=1e-5)
    with pytest.raises(ConfigError, match="weights"):
        loss.set_class_weights([1.0, 2.0])


def test_focal_by_name_is_keras_focal_on_sparse_labels():
    z, y = batch(5)
    ours = build_loss("focal", {"gamma": 2.0}, task="classification")
    assert isinstance(ours, SparseCategoricalFocalCrossentropy)
    keras_focal = keras.losses.CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0, from_logits=True)
    np.testing.assert_allclose(float(ours(y, z)), float(keras_focal(np.eye(4)[y], z)), rtol=1e-6)
    p = tf.nn.softmax(z).numpy().astype(np.float64)
    ref = np.mean(-0.25 * (1 - p[np.arange(6), y]) ** 2 * np.log(p[np.arange(6), y]))
    np.testing.assert_allclose(float(ours(y, z)), ref, rtol=1e-5)


@pytest.mark.parametrize("make", [c[1] for c in CASES] + [lambda: SparseCategoricalFocalCrossentropy(gamma=1.5)])
def test_config_round_trip(make):
    loss = make()
    clone = type(loss).from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    z, y = batch(6)
    np.testing.assert_allclose(float(clone(y, z)), float(loss(y, z)), rtol=1e-7)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss)


def test_model_with_loss_and_logit_adjustment_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(4, name="logits")(inputs))
    model.compile(optimizer="sgd", loss=LDAMLoss(COUNTS, max_margin=0.4, scale=2.0))
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.arange(8) % 4
    model.fit(x, y, epochs=1, verbose=0)
    before = model(x).numpy()
    adjusted = logit_adjust(model, COUNTS, tau=1.0)
    np.testing.assert_allclose(model(x).numpy(), before)  # original untouched
    pi = np.asarray(COUNTS) / sum(COUNTS)
    np.testing.assert_allclose(adjusted(x).numpy(), before - np.log(pi), rtol=1e-5, atol=1e-5)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_allclose(loaded(x).numpy(), before, rtol=1e-6)
    adjusted.save(tmp_path / "a.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "a.keras")(x).numpy(),
                               adjusted(x).numpy(), rtol=1e-6)


def test_bad_counts_raise_clear_errors():
    with pytest.raises(ConfigError, match=r"class_counts.*> 0.*class_counts\[2\]"):
        LDAMLoss([10, 5, 0])
    with pytest.raises(ConfigError, match="at least 2"):
        BalancedSoftmaxLoss([10])
    loss = LogitAdjustedLoss([10, 5, 1])
    with pytest.raises(ValueError, match="3 class counts but the model outputs 4 classes"):
        loss(np.array([0, 1]), np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="3 class counts"):
        logit_adjust(keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)]), [10, 5, 1])
    with pytest.raises(ConfigError, match=r"beta.*\[0, 1\)"):
        ClassBalancedLoss(COUNTS, beta=1.0)


def test_registry_fills_class_counts_and_rejects_empty_classes():
    for name in ("class_balanced", "ldam", "logit_adjusted", "balanced_softmax"):
        assert name in LOSSES.names()
        loss = build_loss(name, {}, task="classification", class_counts=np.array([30, 3, 1]))
        assert loss.class_counts == [30.0, 3.0, 1.0]
    with pytest.raises(ConfigError, match="every class.*0 examples of class 1"):
        build_loss("ldam", {}, task="classification", class_counts=np.array([30, 0, 1]), file="r.toml")
    with pytest.raises(ConfigError, match="needs the class counts"):
        build_loss("balanced_softmax", {}, task="classification")
    with pytest.raises(ConfigError, match="loss.scale"):
        build_loss("ldam", {"scale": -1.0}, task="classification", class_counts=[3, 1])
