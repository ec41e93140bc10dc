"""Extended batch normalization against a numpy reference of Luo et al. (2020), eq. for EBN."""

import keras
import numpy as np
import pytest

from kerastricks.layers import ExtendedBatchNormalization


def numpy_ebn(x, gamma, beta, eps):
    """Per-channel mean over (batch, spatial); ONE variance over (batch, spatial, channels)."""
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axes)
    var = ((x - mean) ** 2).mean()
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, mean, var


@pytest.mark.parametrize("shape", [(6, 5), (4, 9, 3), (3, 5, 4, 6)])
def test_training_and_inference_paths_match_numpy(shape):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=shape) * rng.uniform(0.5, 3, size=shape[-1]) + rng.normal(size=shape[-1])).astype("float32")
    c = shape[-1]
    layer = ExtendedBatchNormalization(momentum=0.9, epsilon=1e-3)
    layer.build(shape)
    gamma, beta = rng.uniform(0.5, 2, c).astype("float32"), rng.normal(size=c).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    x64 = x.astype("float64")
    want, mean, var = numpy_ebn(x64, gamma, beta, 1e-3)
    got = keras.ops.convert_to_numpy(layer(x, training=True))
    # float32 statistics of O(1) values over <= 360 elements: 1e-5
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(layer.moving_variance), 0.9 + 0.1 * var, rtol=1e-5)
    # inference: the moving statistics, not the batch's
    mm, mv = 0.1 * mean, 0.9 + 0.1 * var
    want_inf = gamma * (x64 - mm) / np.sqrt(mv + 1e-3) + beta
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x, training=False)), want_inf, rtol=1e-5, atol=1e-5)
    assert layer.moving_variance.shape == ()


def test_std_is_shared_across_channels_unlike_batch_norm():
    x = np.random.default_rng(1).normal(size=(64, 2)).astype("float32") * np.array([1.0, 10.0], "float32")
    y = keras.ops.convert_to_numpy(ExtendedBatchNormalization(center=False, scale=False)(x, training=True))
    # channel std ratio is kept (10x), whereas BN would make both ~1
    ratio = y[:, 1].std() / y[:, 0].std()
    assert 8 < ratio < 12
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)


def test_channels_first_axis_and_validation():
    x = np.random.default_rng(2).normal(size=(4, 3, 5)).astype("float32")
    got = keras.ops.convert_to_numpy(ExtendedBatchNormalization(axis=1, epsilon=1e-3)(x, training=True))
    moved = np.moveaxis(x.astype("float64"), 1, -1)
    want = np.moveaxis(numpy_ebn(moved, 1.0, 0.0, 1e-3)[0], -1, 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="`momentum`"):
        ExtendedBatchNormalization(momentum=1.0)
    with pytest.raises(ValueError, match="`epsilon`"):
        ExtendedBatchNormalization(epsilon=0.0)
    with pytest.raises(ValueError, match="`axis`"):
        ExtendedBatchNormalization(axis=0).build((4, 3))
