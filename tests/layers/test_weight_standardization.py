"""Weight standardization against a numpy reference of Qiao et al. (2019) and NFNets' Scaled WS."""

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from kerastricks.layers import (
    NF_GAMMAS,
    WSConv1D,
    WSConv2D,
    activation_gamma,
    standardize_kernel,
)


def numpy_ws(w, eps, gamma=None, gain=None):
    """The paper's formula: per output channel (last axis), over the fan-in."""
    axes = tuple(range(w.ndim - 1))
    w = w.astype("float64")
    out = (w - w.mean(axes, keepdims=True)) / np.sqrt(w.var(axes, keepdims=True) + eps)
    if gamma is not None:
        out = out * gamma / math.sqrt(np.prod(w.shape[:-1]))
    if gain is not None:
        out = out * gain
    return out


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    fan=st.integers(2, 8),
    out=st.integers(1, 6),
    scale=st.floats(0.01, 100.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_standardized_kernel_has_zero_mean_unit_std_per_channel(shape, fan, out, scale, seed):
    rng = np.random.default_rng(seed)
    # random offsets and scales: standardization must remove both. Each channel's
    # values are spread (unit variance before scaling) so float32 rounding stays
    # ~1e-6 relative; a near-constant channel is eps's business, tested below.
    z = rng.normal(size=shape + (fan, out))
    axes = tuple(range(z.ndim - 1))
    z = (z - z.mean(axes)) / z.std(axes)
    w = ((z + rng.normal(size=out) * 3) * scale).astype("float32")
    got = keras.ops.convert_to_numpy(standardize_kernel(w, eps=1e-10)).astype("float64")
    # float32 arithmetic on values of size ~1: 1e-5 absolute on the mean, 1e-4 relative on the std
    np.testing.assert_allclose(got.mean(axes), 0.0, atol=1e-5)
    np.testing.assert_allclose(got.std(axes), 1.0, rtol=1e-4)
    # with eps the std is exactly sqrt(var / (var + eps))
    eps = 1e-2 * scale**2
    got = keras.ops.convert_to_numpy(standardize_kernel(w, eps=eps)).astype("float64")
    var = w.astype("float64").var(axes)
    np.testing.assert_allclose(got.std(axes), np.sqrt(var / (var + eps)), rtol=1e-4)


def test_standardize_kernel_matches_numpy_and_keeps_dtype():
    w = np.random.default_rng(1).normal(size=(3, 3, 4, 5)).astype("float32")
    got = standardize_kernel(w, eps=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), numpy_ws(w, 1e-4), rtol=1e-5, atol=1e-6)
    half = standardize_kernel(w.astype("float16"), eps=1e-4)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    # statistics in float32: only the final rounding to float16 differs (rel 2**-11)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(half).astype("float64"),
                               numpy_ws(w.astype("float16").astype("float32"), 1e-4), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_standardize_kernel_rejects_bad_eps(bad):
    with pytest.raises(ValueError, match="`eps` must be > 0"):
        standardize_kernel(np.ones((3, 2)), eps=bad)


@pytest.mark.parametrize(
    "cls,shape,scale,gamma",
    [
        (WSConv2D, (2, 7, 7, 3), None, None),
        (WSConv2D, (2, 7, 7, 3), "relu", NF_GAMMAS["relu"]),
        (WSConv1D, (2, 11, 3), 1.5, 1.5),
        (WSConv1D, (2, 11, 3), True, 1.0),
    ],
)
def test_ws_conv_equals_plain_conv_with_numpy_standardized_kernel(cls, shape, scale, gamma):
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    layer = cls(4, 3, padding="same", scale=scale, use_bias=True, bias_initializer="random_normal")
    layer(x)
    kernel, bias, gain = [w.copy() for w in layer.get_weights()]
    gain = np.linspace(0.5, 2.0, 4).astype("float32")
    layer.set_weights([kernel, bias, gain])
    plain = (keras.layers.Conv2D if cls is WSConv2D else keras.layers.Conv1D)(4, 3, padding="same")
    plain(x)
    plain.set_weights([numpy_ws(kernel, 1e-4, gamma, gain).astype("float32"), bias])
    # same conv arithmetic on kernels equal to float32 rounding
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), keras.ops.convert_to_numpy(plain(x)),
                               rtol=1e-5, atol=1e-5)


def test_gain_false_has_no_gain_weight_and_validation():
    layer = WSConv2D(2, 3, gain=False)
    layer(np.zeros((1, 5, 5, 1), "float32"))
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    with pytest.raises(ValueError, match="`eps` must be > 0"):
        WSConv2D(2, 3, eps=0)
    with pytest.raises(ValueError, match="`scale`"):
        WSConv1D(2, 3, scale=-1.0)


@pytest.mark.parametrize("name", ["relu", "gelu", "silu"])
def test_nf_gammas_agree_with_quadrature(name):
    """gamma = 1/std(act(z)), z ~ N(0,1), by scipy quadrature (an independent integrator)."""
    fn = {"relu": lambda z: max(z, 0.0),
          "gelu": lambda z: z * stats.norm.cdf(z),
          "silu": lambda z: z * special.expit(z)}[name]
    m1 = integrate.quad(lambda z: fn(z) * stats.norm.pdf(z), -np.inf, np.inf)[0]
    m2 = integrate.quad(lambda z: fn(z) ** 2 * stats.norm.pdf(z), -np.inf, np.inf)[0]
    exact = 1.0 / math.sqrt(m2 - m1**2)
    # the NFNets constants were estimated by sampling: within 0.1% of the exact value
    assert abs(NF_GAMMAS[name] / exact - 1) < 1e-3
    if name == "relu":
        assert exact == pytest.approx(math.sqrt(2 / (1 - 1 / math.pi)), rel=1e-9)


def test_activation_gamma_numerical_for_unlisted_activation():
    m1 = integrate.quad(lambda z: math.tanh(z) * stats.norm.pdf(z), -np.inf, np.inf)[0]
    m2 = integrate.quad(lambda z: math.tanh(z) ** 2 * stats.norm.pdf(z), -np.inf, np.inf)[0]
    assert activation_gamma("tanh") == pytest.approx(1 / math.sqrt(m2 - m1**2), rel=1e-5)
    with pytest.raises(TypeError):
        activation_gamma(3)
