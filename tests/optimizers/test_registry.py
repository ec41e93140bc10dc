"""Optimizers by name: defaults, validated options, schedules, numpy parity, a conformance table."""

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.optimizers import OPTIMIZERS, build_optimizer, validate_optimizer_options

NAMES = OPTIMIZERS.names()


def test_registry_lists_keras_and_kerastricks_optimizers():
    assert {"sgd", "adam", "adamw", "lion", "rmsprop", "keras_adafactor"} <= set(NAMES)
    for entry in OPTIMIZERS:
        assert entry.description
        expected = "kerastricks" if entry.name in ("adafactor", "sm3") else "keras"
        assert entry.meta.get("source") == expected, entry.name
    assert OPTIMIZERS.get("adafactor").obj is not keras.optimizers.Adafactor


@pytest.mark.parametrize("name", NAMES)
def test_builds_with_defaults(name):
    opt = build_optimizer(name)
    assert isinstance(opt, keras.optimizers.Optimizer)
    assert isinstance(opt, OPTIMIZERS.get(name).obj)


def test_options_are_passed():
    opt = build_optimizer("SGD", {"momentum": 0.9, "nesterov": True, "learning_rate": 0.3, "clipnorm": 1.0})
    assert opt.momentum == 0.9 and opt.nesterov is True and opt.clipnorm == 1.0
    np.testing.assert_allclose(float(opt.learning_rate), 0.3, rtol=1e-7)
    # The learning_rate argument (from [optimizer] or a schedule) overrides the option.
    np.testing.assert_allclose(float(build_optimizer("sgd", {"learning_rate": 0.3}, learning_rate=0.02).learning_rate),
                               0.02, rtol=1e-6)


@pytest.mark.parametrize(
    "name, options, key",
    [
        ("sgd", {"learning_rate": -0.1}, "optimizer.learning_rate"),
        ("adam", {"learning_rate": 0}, "optimizer.learning_rate"),
        ("sgd", {"momentum": 1.0}, "optimizer.momentum"),
        ("sgd", {"momentum": -0.1}, "optimizer.momentum"),
        ("adam", {"beta_1": 1.0}, "optimizer.beta_1"),
        ("adam", {"clipnorm": 0}, "optimizer.clipnorm"),
        ("adam", {"global_clipnorm": -1}, "optimizer.global_clipnorm"),
        ("adamw", {"weight_decay": -0.01}, "optimizer.weight_decay"),
        ("adam", {"epsilon": 0}, "optimizer.epsilon"),
        ("adam", {"gradient_accumulation_steps": 1}, "optimizer.gradient_accumulation_steps"),
        ("sgd", {"nesterov": "maybe"}, "optimizer.nesterov"),
        ("rmsprop", {"rho": 1.0}, "optimizer.rho"),
    ],
)
def test_invalid_option_values(name, options, key):
    with pytest.raises(ConfigError) as info:
        build_optimizer(name, options, file="r.toml")
    err = info.value
    assert err.key == key and err.file == "r.toml"
    assert err.received == next(iter(options.values()))
    assert "\n" not in str(err) and str(err).startswith(f"r.toml: key '{key}'")


def test_unknown_option_suggests():
    with pytest.raises(ConfigError) as info:
        build_optimizer("sgd", {"momentun": 0.9})
    assert info.value.key == "optimizer.momentun" and info.value.hint == "did you mean 'momentum'?"


@pytest.mark.parametrize("hidden", ["name", "loss_scale_factor"])
def test_internal_arguments_are_not_options(hidden):
    with pytest.raises(ConfigError, match=f"key 'optimizer.{hidden}'"):
        build_optimizer("adam", {hidden: None})


def test_unknown_optimizer_suggests():
    with pytest.raises(ConfigError) as info:
        build_optimizer("adamv")
    assert info.value.key == "optimizer.name" and info.value.hint is not None


def test_keras_constructor_errors_become_config_errors():
    # Keras itself refuses two clipping modes at once; the message is kept on one line.
    with pytest.raises(ConfigError) as info:
        build_optimizer("sgd", {"clipnorm": 1.0, "global_clipnorm": 1.0}, file="r.toml")
    assert info.value.key == "optimizer" and "\n" not in str(info.value)
    assert "clipnorm" in str(info.value)


def test_validate_optimizer_options_fill_defaults():
    out = validate_optimizer_options("sgd", {"momentum": 0.5}, fill_defaults=True)
    assert out["momentum"] == 0.5 and out["nesterov"] is False and out["learning_rate"] == 0.01
    assert "name" not in out
    assert validate_optimizer_options("sgd", {"momentum": 0.5}) == {"momentum": 0.5}


def test_schedule_as_learning_rate_is_used():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    opt = build_optimizer("sgd", {"learning_rate": 0.7}, learning_rate=schedule)
    assert opt.get_config()["learning_rate"]["class_name"] == "ExponentialDecay"
    var = keras.Variable(np.zeros(3, "float32"))
    for _ in range(3):
        opt.apply([keras.ops.ones(3)], [var])
    # Steps 0, 1, 2 use 0.1, 0.05, 0.025 with gradient 1.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(var), -0.175, rtol=1e-6)
    np.testing.assert_allclose(float(opt.learning_rate), 0.0125, rtol=1e-6)  # the next step's rate


# --- numpy parity ---------------------------------------------------------------------------
def grad_quadratic(w, a, b):
    """Gradient of 0.5 * sum(a * w^2) - b . w."""
    return a * w - b


A = np.array([1.0, 2.0, 0.5, 3.0])
B = np.array([0.5, -1.0, 2.0, 0.0])
W0 = np.array([1.0, -2.0, 0.5, 3.0])


def run_keras(opt, steps):
    var = keras.Variable(W0.astype("float32"))
    for _ in range(steps):
        w = keras.ops.convert_to_numpy(var).astype(np.float64)
        opt.apply([keras.ops.convert_to_tensor(grad_quadratic(w, A, B).astype("float32"))], [var])
    return keras.ops.convert_to_numpy(var).astype(np.float64)


def test_sgd_one_step_is_w_minus_lr_g():
    got = run_keras(build_optimizer("sgd", {"learning_rate": 0.1}), 1)
    # A single float32 multiply-add: ~1e-7 relative.
    np.testing.assert_allclose(got, W0 - 0.1 * grad_quadratic(W0, A, B), rtol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_matches_numpy(nesterov):
    lr, mu = 0.05, 0.9
    w, v = W0.copy(), np.zeros_like(W0)
    for _ in range(5):
        g = grad_quadratic(w, A, B)
        v = mu * v - lr * g
        w = w + (mu * v - lr * g if nesterov else v)
    got = run_keras(build_optimizer("sgd", {"learning_rate": lr, "momentum": mu, "nesterov": nesterov}), 5)
    # Five float32 steps accumulate a few ulps: rtol 1e-5.
    np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)


def test_adam_matches_numpy():
    # Kingma & Ba (2015), Algorithm 1 with the bias correction folded into the step size
    # (their section 2, last paragraph), which is the form with eps outside the correction.
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v = W0.copy(), np.zeros_like(W0), np.zeros_like(W0)
    for t in range(1, 6):
        g = grad_quadratic(w, A, B)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    got = run_keras(build_optimizer("adam", {"learning_rate": lr}), 5)
    np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)


# --- conformance table: every registered optimizer -----------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_decreases_a_quadratic(name):
    opt = build_optimizer(name, {"learning_rate": 0.05})
    w_star = np.linalg.solve(np.diag(A), B)

    def loss(w):
        return 0.5 * np.sum(A * w * w) - B @ w

    w = run_keras(opt, 20)
    assert loss(w) < loss(W0)
    assert np.linalg.norm(w - w_star) < np.linalg.norm(W0 - w_star)
    assert int(opt.iterations) == 20


@pytest.mark.parametrize("name", NAMES)
def test_serialize_round_trip(name):
    opt = build_optimizer(name, {"learning_rate": 0.02, "clipnorm": 1.0})
    # keras.saving's path (what .keras files use); keras.optimizers.deserialize misses Lamb in Keras 3.15
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(opt))
    assert type(revived) is type(opt)
    assert revived.get_config() == opt.get_config()


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_serialize_round_trip_with_schedule(name):
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10, warmup_target=0.2, warmup_steps=2)
    opt = build_optimizer(name, learning_rate=schedule)
    revived = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert revived.get_config() == opt.get_config()
    assert isinstance(revived._learning_rate, keras.optimizers.schedules.CosineDecay)
    np.testing.assert_allclose(float(revived.learning_rate), 0.1, rtol=1e-6)  # schedule(0)


def test_muon_split_is_what_docs_optimizers_md_says():
    """Muon: exactly-2-D variables get the Muon step unless excluded; conv kernels, biases, norms: AdamW."""
    x = keras.Input((12, 3))
    h = keras.layers.Conv1D(4, 3, name="conv")(x)
    h = keras.layers.BatchNormalization(name="bn")(keras.layers.Flatten()(h))
    h = keras.layers.Dense(5, name="hidden")(h)
    model = keras.Model(x, keras.layers.Dense(2, name="logits")(h))
    opt = build_optimizer("muon", {"exclude_layers": ["logits"]})
    opt.build(model.trainable_variables)
    muon = [v.path for v in model.trainable_variables if not opt._should_use_adamw(v)]  # Keras's own rule
    assert muon == ["hidden/kernel"]
