"""Weight standardization (Qiao et al. 2019) and NFNets' Scaled WS (Brock et al. 2021)."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

NF_GAMMAS: dict[str, float] = {
    "linear": 1.0,
    "relu": 1.7139588594436646,
    "gelu": 1.7015043497085571,
    "silu": 1.7881293296813965,
    "swish": 1.7881293296813965,
}
"""Activation gammas of the NFNets reference code (``nfnets/base.py``, ``nonlinearities``).

``gamma = 1 / std(act(z))`` for ``z ~ N(0, 1)``, so that ``gamma * act(z)`` has
unit variance. The reference code estimated them by sampling; the closed form
for ReLU is ``sqrt(2 / (1 - 1/pi)) = 1.7128586``, 0.06% below the tabled
1.7139589. We keep the reference code's constants, so that models match it;
other activations get :func:`activation_gamma`'s numerical value.
"""


def standardize_kernel(kernel: Any, eps: float = 1e-4) -> Any:
    """Standardize a kernel per output channel (the last axis).

    ``w_hat = (w - mean(w)) / sqrt(var(w) + eps)`` where mean and variance are
    taken over every axis but the last (the kernel's spatial and input-channel
    axes, i.e. its fan-in). The statistics are computed in float32 whatever the
    kernel's dtype (mixed precision); the result has the kernel's dtype.

    Args:
        kernel: A tensor of rank >= 2, output channels last (Keras's conv and
            dense layout).
        eps: Added to the variance, > 0. Default 1e-4.

    Returns:
        The standardized kernel, same shape and dtype.

    Example:
        >>> w = standardize_kernel(keras.random.normal((3, 3, 8, 16)))
        >>> # every w[..., c] has mean ~0 and standard deviation ~1

    Reference:
        Qiao, Wang, Liu, Shen & Yuille, 2019. "Micro-Batch Training with
        Batch-Channel Normalization and Weight Standardization", arXiv 1903.10520.
    """
    if not eps > 0:
        raise ValueError(f"Argument `eps` must be > 0. Received: eps={eps!r}")
    kernel = ops.convert_to_tensor(kernel)
    if len(kernel.shape) < 2:
        raise ValueError(f"Argument `kernel` must have rank >= 2. Received: shape={tuple(kernel.shape)}")
    dtype = keras.backend.standardize_dtype(kernel.dtype)
    w = ops.cast(kernel, "float32")
    axes = tuple(range(len(w.shape) - 1))
    mean, var = ops.moments(w, axes, keepdims=True)
    return ops.cast((w - mean) * ops.rsqrt(var + eps), dtype)


def activation_gamma(activation: str) -> float:
    """``1 / std(act(z))`` for ``z ~ N(0, 1)``: NFNets' activation scale.

    Names in :data:`NF_GAMMAS` return the NFNets reference constants; any other
    ``keras.activations`` name is integrated numerically (trapezoid rule on
    ``[-12, 12]``, step 1e-4: accurate to about 1e-6).

    Args:
        activation: A ``keras.activations`` name (``"relu"``, ``"gelu"``, ...).

    Returns:
        The gamma, a positive float.
    """
    if not isinstance(activation, str):
        raise TypeError(f"Argument `activation` must be a string. Received: activation={activation!r}")
    key = activation.lower()
    if key in NF_GAMMAS:
        return NF_GAMMAS[key]
    fn = keras.activations.get(key)
    z = np.linspace(-12.0, 12.0, 240_001)
    density = np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
    y = np.asarray(ops.convert_to_numpy(fn(ops.convert_to_tensor(z.astype("float32")))), dtype="float64")
    mean = np.trapezoid(y * density, z)
    var = np.trapezoid((y - mean) ** 2 * density, z)
    if not var > 0:
        raise ValueError(f"activation {activation!r} has zero variance under N(0, 1); no gamma exists")
    return float(1.0 / math.sqrt(var))


def _resolve_scale(scale: Any) -> float | None:
    if scale is None or scale is False:
        return None
    if isinstance(scale, bool):  # True: Scaled WS without an activation gamma
        return 1.0
    if isinstance(scale, str):
        return activation_gamma(scale)
    if isinstance(scale, (int, float)) and scale > 0:
        return float(scale)
    raise ValueError(
        "Argument `scale` must be None, True, a float > 0 or an activation name. "
        f"Received: scale={scale!r}"
    )


class _WeightStandardized:
    """Shared logic of :class:`WSConv1D` and :class:`WSConv2D` (a mixin on Keras's Conv)."""

    def __init__(self, filters: int, kernel_size: Any, eps: float = 1e-4, gain: bool = True, scale: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, **kwargs)  # the Keras Conv class next in the MRO
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"Argument `eps` must be > 0. Received: eps={eps!r}")
        self.eps = float(eps)
        self.learn_gain = bool(gain)
        self.scale = scale
        self._gamma = _resolve_scale(scale)

    def build(self, input_shape):
        super().build(input_shape)
        self.gain = None
        if self.learn_gain:
            self.gain = self.add_weight(name="gain", shape=(self.filters,), initializer="ones", trainable=True)

    def standardized_kernel(self, kernel: Any = None) -> Any:
        """The kernel the convolution uses: standardized, scaled, times the gain.

        Args:
            kernel: The raw kernel; default the layer's own.

        Returns:
            A float32 tensor shaped like the kernel.
        """
        w = standardize_kernel(ops.cast(self.kernel if kernel is None else kernel, "float32"), self.eps)
        if self._gamma is not None:
            fan_in = int(np.prod(w.shape[:-1]))
            w = w * (self._gamma / math.sqrt(fan_in))
        if self.gain is not None:
            w = w * ops.cast(self.gain, "float32")
        return w

    def call(self, inputs):
        # Keras's Conv1D and Conv2D read `self.kernel` in different places, so the
        # forward pass is written out here once, with the standardized kernel.
        kernel = ops.cast(self.standardized_kernel(), self.compute_dtype)
        channels_last = self.data_format == "channels_last"
        padding = self.padding
        if padding == "causal":
            left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
            inputs = ops.pad(inputs, [[0, 0], [left, 0], [0, 0]] if channels_last else [[0, 0], [0, 0], [left, 0]])
            padding = "valid"
        outputs = ops.conv(inputs, kernel, strides=list(self.strides), padding=padding,
                           dilation_rate=self.dilation_rate, data_format=self.data_format)
        if self.use_bias:
            shape = (1,) * (self.rank + 1) + (self.filters,) if channels_last else (1, self.filters) + (1,) * self.rank
            outputs = ops.add(outputs, ops.reshape(self.bias, shape))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _own_variables(self) -> list:
        variables = [self.kernel]
        if self.use_bias:
            variables.append(self.bias)
        if self.gain is not None:
            variables.append(self.gain)
        return variables

    # Keras's conv saves only kernel and bias; the gain is saved after them.
    def save_own_variables(self, store):
        if not self.built:
            return
        for i, variable in enumerate(self._own_variables()):
            store[str(i)] = variable

    def load_own_variables(self, store):
        if not self.built:
            return
        variables = self._own_variables()
        if len(store.keys()) != len(variables):
            raise ValueError(f"Layer '{self.name}' expected {len(variables)} variables, but received "
                             f"{len(store.keys())} variables during loading.")
        for i, variable in enumerate(variables):
            variable.assign(store[str(i)])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"eps": self.eps, "gain": self.learn_gain, "scale": self.scale})
        return config


_WS_DOC = """A {rank}-D convolution with a weight-standardized kernel.

    The kernel used in the forward pass is ``g * gamma_s * standardize_kernel(W, eps)``
    with ``gamma_s = 1`` (plain weight standardization, ``scale=None``) or
    ``gamma_s = gamma / sqrt(fan_in)`` (NFNets' Scaled WS, ``scale`` set), and
    ``g`` a learnable gain per output channel (``gain=True``, initialized to 1).
    The raw kernel ``W`` is what the optimizer updates; statistics are computed
    in float32 under mixed precision. Every other argument is Keras's
    ``Conv{rank}D``'s.

    Args:
        filters: Output channels.
        kernel_size: As in ``keras.layers.Conv{rank}D``.
        eps: Added to the per-channel variance, > 0. Default 1e-4.
        gain: Learn a per-output-channel gain (init 1). Default True.
        scale: None (plain WS: unit variance per channel); a float ``gamma`` > 0
            (kernel times ``gamma / sqrt(fan_in)``, NFNets' Scaled WS); True
            (same with ``gamma = 1``); or an activation name whose NFNets gamma
            is used (``"relu"`` 1.7139588594, ``"gelu"`` 1.7015043497,
            ``"silu"`` 1.7881293297; see :data:`NF_GAMMAS`).
        **kwargs: ``keras.layers.Conv{rank}D`` arguments (``strides``,
            ``padding``, ``use_bias``, ``kernel_initializer``, ...).

    Deviation from the NFNets code: it divides by ``sqrt(max(var * fan_in, eps))``;
    we divide by ``sqrt(var + eps)`` and then by ``sqrt(fan_in)``, as in the
    original WS paper. Both agree unless the kernel's variance is below ``eps``.

    Example:
        >>> layer = WSConv{rank}D(16, 3, padding="same", scale="relu")

    Reference:
        Qiao et al., 2019, arXiv 1903.10520 (weight standardization);
        Brock, De, Smith & Simonyan, 2021, "Characterizing signal propagation to
        close the performance gap in unnormalized ResNets", arXiv 2101.08692
        (Scaled WS and the activation gammas).
    """


@keras.saving.register_keras_serializable(package="kerastricks")
class WSConv1D(_WeightStandardized, keras.layers.Conv1D):
    __doc__ = _WS_DOC.format(rank=1)


@keras.saving.register_keras_serializable(package="kerastricks")
class WSConv2D(_WeightStandardized, keras.layers.Conv2D):
    __doc__ = _WS_DOC.format(rank=2)
