"""AGC: numpy parity with Brock et al. (2021), clipping properties, the wrapper's contract."""

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import keras
import numpy as np
import pytest
from hypothesis import given, settings

from kerastricks.optimizers import (
    AGC,
    AdaptiveGradientClipping,
    unitwise_clip,
    unitwise_norm,
)


def numpy_unit_norm(x):
    """Norm per output unit in Keras layouts: the last axis for rank >= 2, the whole tensor otherwise."""
    if x.ndim <= 1:
        return np.sqrt(np.sum(x * x))
    return np.sqrt(np.sum(x * x, axis=tuple(range(x.ndim - 1)), keepdims=True))


def numpy_agc(g, w, clipping, eps):
    max_norm = clipping * np.maximum(numpy_unit_norm(w), eps)
    g_norm = numpy_unit_norm(g)
    return np.where(g_norm > max_norm, g * max_norm / np.maximum(g_norm, 1e-6), g)


SHAPES = {"dense": (6, 5), "conv1d": (3, 4, 5), "conv2d": (3, 3, 2, 4), "bias": (7,), "scalar": ()}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_unitwise_clip_matches_numpy(shape):
    rng = np.random.default_rng(0)
    w = rng.normal(size=shape)
    g = rng.normal(size=shape) * rng.choice([0.001, 1.0], size=shape[-1:] if shape else ())
    got = keras.ops.convert_to_numpy(unitwise_clip(g.astype("float32"), w.astype("float32"), 0.05, 1e-3))
    # One float32 norm and one multiply per entry: ~1e-6 relative.
    np.testing.assert_allclose(got, numpy_agc(g, w, 0.05, 1e-3), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(unitwise_norm(w.astype("float32"))),
                               numpy_unit_norm(w), rtol=1e-5)


def test_zero_weights_use_eps():
    g = np.ones((2, 3), "float32")
    got = keras.ops.convert_to_numpy(unitwise_clip(g, np.zeros((2, 3), "float32"), 0.1, 1e-2))
    # each column has norm sqrt(2); the bound is 0.1 * 1e-2
    np.testing.assert_allclose(np.linalg.norm(got, axis=0), 1e-3, rtol=1e-5)


arrays = st.tuples(st.sampled_from([(4,), (3, 5), (2, 3, 4), (2, 2, 3, 3)]), st.integers(0, 2**31 - 1))


# The bound clipping * max(||W_i||, eps) is kept >= 2e-6: below the 1e-6 floor of ||G_i|| in the
# rule's denominator a clipped unit sits under the floor and a second pass shrinks it again.
@settings(max_examples=30, deadline=None)
@given(case=arrays, clipping=st.floats(2e-3, 1.0), eps=st.floats(1e-3, 1e-1), gscale=st.floats(1e-3, 1e3))
def test_clipped_norms_are_bounded_and_clipping_is_idempotent(case, clipping, eps, gscale):
    shape, seed = case
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape).astype("float32") * rng.choice([0.0, 1.0])
    g = (rng.normal(size=shape) * gscale).astype("float32")
    once = keras.ops.convert_to_numpy(unitwise_clip(g, w, clipping, eps))
    bound = clipping * np.maximum(numpy_unit_norm(w.astype(np.float64)), eps)
    # float32 rounding of the norm and the rescale: 1e-5 relative slack
    assert np.all(numpy_unit_norm(once.astype(np.float64)) <= bound * (1 + 1e-5))
    twice = keras.ops.convert_to_numpy(unitwise_clip(once, w, clipping, eps))
    # a clipped unit sits on the bound (up to rounding), so a second pass changes at most an ulp or so
    np.testing.assert_allclose(twice, once, rtol=1e-5, atol=0)


@settings(max_examples=20, deadline=None)
# Subnormals excluded: unclipped units are multiplied by exactly 1.0, which TensorFlow's CPU kernels
# flush to zero for values below ~1.2e-38.
@given(g=hnp.arrays(np.float32, (3, 4), elements=st.floats(-100, 100, width=32, allow_subnormal=False)))
def test_small_gradients_pass_unchanged(g):
    w = np.full((3, 4), 1e4, "float32")  # the bound (0.01 * ||W_i|| ~ 170) is above every gradient norm here
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(unitwise_clip(g, w, 0.01, 1e-3)), g)


# --- the wrapper -------------------------------------------------------------------------------
def small_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    h = keras.layers.Dense(5, name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(h))


def test_wrapper_step_equals_sgd_on_numpy_clipped_gradients():
    model = small_model()
    w0 = [v.numpy().copy() for v in model.trainable_variables]
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=v.shape).astype("float32") * 10 for v in model.trainable_variables]
    opt = AGC(keras.optimizers.SGD(0.1), clipping=0.02, exclude=["^logits/"])
    opt.apply([keras.ops.convert_to_tensor(g) for g in grads], model.trainable_variables)
    for v, w, g in zip(model.trainable_variables, w0, grads):
        clipped = g if v.path.startswith("logits/") else numpy_agc(g, w, 0.02, 1e-3)
        # one SGD step on float32 values: rtol 1e-5
        np.testing.assert_allclose(v.numpy(), w - 0.1 * clipped, rtol=1e-5, atol=1e-7)
    assert int(opt.iterations) == 1 and opt.iterations is opt.inner_optimizer.iterations
    assert opt.is_clipped(model.layers[1].kernel) and not opt.is_clipped(model.layers[2].kernel)


def test_wrapper_delegates_state_and_learning_rate():
    inner = keras.optimizers.Adam(0.01)
    opt = AdaptiveGradientClipping(inner)
    model = small_model()
    opt.build(model.trainable_variables)
    assert opt.variables == inner.variables and len(opt.variables) == 2 + 2 * 4
    opt.learning_rate = 0.5
    np.testing.assert_allclose(float(inner.learning_rate), 0.5)
    np.testing.assert_allclose(float(opt.learning_rate), 0.5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"optimizer": "adam"}, TypeError, "Argument `optimizer` must be"),
        ({"clipping": 0.0}, ValueError, "Argument `clipping` must be > 0"),
        ({"eps": -1.0}, ValueError, "Argument `eps` must be > 0"),
        ({"exclude": ["("]}, ValueError, "Argument `exclude`"),
        ({"clipnorm": 1.0}, ValueError, "set them on the wrapped optimizer"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    kwargs = {"optimizer": keras.optimizers.SGD(), **kwargs}
    with pytest.raises(error, match=match):
        AdaptiveGradientClipping(**kwargs)


def test_config_round_trip_serializes_the_inner_optimizer():
    opt = AGC(keras.optimizers.SGD(0.3, momentum=0.9), clipping=0.05, eps=1e-2, exclude=["logits"])
    config = opt.get_config()
    assert config["optimizer"]["class_name"] == "SGD"
    revived = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(revived, AdaptiveGradientClipping) and isinstance(revived.inner_optimizer, keras.optimizers.SGD)
    assert revived.get_config() == config


@pytest.mark.parametrize("order", ["lso_outside", "lso_inside"])
def test_with_loss_scale_optimizer(order):
    """Both nestings clip the UNSCALED gradient: same step as plain AGC(SGD)."""
    rng = np.random.default_rng(2)
    model, ref_model = small_model(), small_model()
    grads = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
    ref = AGC(keras.optimizers.SGD(0.1), clipping=0.01)
    ref.apply([keras.ops.convert_to_tensor(g) for g in grads], ref_model.trainable_variables)
    if order == "lso_outside":
        opt = keras.optimizers.LossScaleOptimizer(AGC(keras.optimizers.SGD(0.1), clipping=0.01), initial_scale=1024.0)
    else:
        opt = AGC(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=1024.0), clipping=0.01)
    opt.build(model.trainable_variables)
    np.testing.assert_allclose(float(opt.scale_loss(1.0)), 1024.0)
    # what the trainer does: gradients of the scaled loss
    opt.apply([keras.ops.convert_to_tensor(g * 1024.0) for g in grads], model.trainable_variables)
    for got, want in zip(model.trainable_variables, ref_model.trainable_variables):
        # x1024 and /1024 are exact in binary floating point: float32 rounding only
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_mixed_float16_compile_wraps_it_and_trains():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_model()
        model.compile(AGC(keras.optimizers.Adam(1e-2)), loss="mse")
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
        loss = model.fit(x, x[:, :3], epochs=3, verbose=0).history["loss"]
        assert np.all(np.isfinite(loss)) and loss[-1] < loss[0]
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_ema_swap_reaches_the_wrapped_optimizer():
    model = small_model()
    model.compile(AGC(keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    model.fit(x, x[:, :3], epochs=2, verbose=0, callbacks=[keras.callbacks.SwapEMAWeights()])
    assert np.all(np.isfinite(model.predict(x, verbose=0)))
