"""Folding batch normalization into convolutions, and the multi-branch block base.

The functional core of structural re-parameterization: :func:`fuse_conv_bn`
turns ``BN(conv(x, W) + b)`` in inference mode into one convolution
``conv(x, W') + b'``; :class:`MultiBranchConv` is the training-time block of
parallel ``conv -> BN`` branches (ACNet, RepVGG) that sums to such a
convolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}


def fuse_conv_bn(
    kernel: np.ndarray,
    bias: np.ndarray | None,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold an inference-mode batch normalization into the convolution before it.

    ``BN(z) = gamma * (z - mean) / sqrt(var + eps) + beta`` with ``z = conv(x, W) + b``
    equals ``conv(x, W * t) + (beta + (b - mean) * t)`` where
    ``t = gamma / sqrt(var + eps)`` scales each output channel (the kernel's
    last axis).

    Args:
        kernel: Convolution kernel, output channels last, shape ``(..., C)``.
        bias: Convolution bias ``(C,)``, or None for a conv without bias.
        gamma: BN scale ``(C,)``, or None (``scale=False``: 1).
        beta: BN shift ``(C,)``, or None (``center=False``: 0).
        mean: BN moving mean ``(C,)``.
        var: BN moving variance ``(C,)``, or a scalar shared by all channels
            (:class:`~kerastricks.layers.ExtendedBatchNormalization`).
        eps: BN epsilon.

    Returns:
        ``(kernel, bias)`` of the equivalent convolution, float32 numpy arrays.

    Example:
        >>> k, b = fuse_conv_bn(conv.kernel.numpy(), None, *bn_parameters(bn))

    Reference:
        Ioffe & Szegedy, 2015, arXiv 1502.03167 (the inference-mode transform);
        Ding et al., 2019, arXiv 1908.03930, section 3.2 (folding it into the kernel).
    """
    kernel = np.asarray(kernel, dtype="float64")
    channels = kernel.shape[-1]
    mean = np.broadcast_to(np.asarray(mean, dtype="float64"), (channels,))
    var = np.broadcast_to(np.asarray(var, dtype="float64"), (channels,))
    gamma = np.ones(channels) if gamma is None else np.asarray(gamma, dtype="float64")
    beta = np.zeros(channels) if beta is None else np.asarray(beta, dtype="float64")
    bias = np.zeros(channels) if bias is None else np.asarray(bias, dtype="float64")
    t = gamma / np.sqrt(var + eps)
    return (kernel * t).astype("float32"), (beta + (bias - mean) * t).astype("float32")


def bn_parameters(layer: keras.layers.Layer) -> tuple[Any, Any, Any, Any, float]:
    """``(gamma, beta, mean, var, eps)`` of a Keras ``BatchNormalization`` or an
    :class:`~kerastricks.layers.ExtendedBatchNormalization`, as numpy (None for absent gamma/beta)."""

    def value(v):
        return None if v is None else np.asarray(ops.convert_to_numpy(v))

    return value(layer.gamma), value(layer.beta), value(layer.moving_mean), value(layer.moving_variance), float(
        layer.epsilon
    )


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``"same"`` padding ``(before, after)`` along one axis (more after when odd)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"Argument `{name}` must be an integer >= {low}. Received: {name}={value!r}")
    return int(value)


class MultiBranchConv(keras.layers.Layer):
    """Base of the training-time re-parameterizable blocks: parallel ``conv -> BN`` branches, summed.

    Every branch is a bias-free convolution with a kernel no larger than
    ``kernel_size`` along any axis, followed by its own ``BatchNormalization``.
    Branches share centres: the input is padded once as the full ``k x k``
    convolution would be (TensorFlow's ``"same"`` convention, or nothing for
    ``"valid"``), and a smaller branch kernel sees that input cropped by
    ``(k - k_branch) / 2`` on each side, so all branch outputs align with the
    full convolution's for any stride. Subclasses list their branches in
    :meth:`branch_kernels` and may add an identity branch (BN only).

    In inference mode the block equals one ``Conv{rank}D(filters, kernel_size,
    strides, padding)`` with a bias: :meth:`fuse` builds it. No activation is
    applied; add one after the block.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        strides: int = 1,
        padding: str = "same",
        rank: int = 2,
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        momentum: float = 0.9,
        epsilon: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = _check_int("filters", filters, 1)
        self.kernel_size = _check_int("kernel_size", kernel_size, 1)
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"Argument `kernel_size` must be odd (branches share the kernel's centre). "
                f"Received: kernel_size={kernel_size!r}"
            )
        self.strides = _check_int("strides", strides, 1)
        if padding not in ("same", "valid"):
            raise ValueError(f"Argument `padding` must be 'same' or 'valid'. Received: padding={padding!r}")
        self.padding = padding
        if rank not in _CONV:
            raise ValueError(f"Argument `rank` must be 1 or 2. Received: rank={rank!r}")
        self.rank = rank
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        if not 0 <= momentum < 1:
            raise ValueError(f"Argument `momentum` must be in [0, 1). Received: momentum={momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"Argument `epsilon` must be > 0. Received: epsilon={epsilon!r}")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    # ---- what subclasses define ---------------------------------------------------
    def branch_kernels(self) -> list[tuple[str, tuple[int, ...]]]:
        """``(branch name, kernel shape)`` of every conv branch."""
        raise NotImplementedError

    def has_identity(self, in_channels: int) -> bool:
        """Whether the block has a BN-only identity branch for this input."""
        return False

    # ---- layer ----------------------------------------------------------------------
    def _bn(self, name: str) -> keras.layers.BatchNormalization:
        return keras.layers.BatchNormalization(momentum=self.momentum, epsilon=self.epsilon,
                                               dtype=self.dtype_policy, name=name)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} with rank={self.rank} expects inputs of rank {self.rank + 2}. "
                             f"Received: input_shape={input_shape}")
        spatial = input_shape[1:-1]
        k, s = self.kernel_size, self.strides
        if self.padding == "same":
            if s > 1 and any(d is None for d in spatial):
                raise ValueError(f"{type(self).__name__} with strides > 1 and padding='same' needs known spatial "
                                 f"sizes. Received: input_shape={input_shape}")
            self._pads = tuple((k // 2, k // 2) if d is None else same_padding(d, k, s) for d in spatial)
        else:
            self._pads = ((0, 0),) * self.rank
        self._input_shape = input_shape
        padded = tuple(None if d is None else d + a + b for d, (a, b) in zip(spatial, self._pads))
        conv_cls = _CONV[self.rank]
        branches = []
        for name, shape in self.branch_kernels():
            crops = [(k - ks) // 2 for ks in shape]
            conv = conv_cls(self.filters, shape, strides=s, padding="valid", use_bias=False,
                            kernel_initializer=self.kernel_initializer, kernel_regularizer=self.kernel_regularizer,
                            dtype=self.dtype_policy, name=f"{name}_conv")
            bn = self._bn(f"{name}_bn")
            branch_in = (input_shape[0],) + tuple(None if d is None else d - 2 * c for d, c in zip(padded, crops))
            conv.build(branch_in + (input_shape[-1],))
            bn.build(conv.compute_output_shape(branch_in + (input_shape[-1],)))
            setattr(self, f"{name}_conv", conv)
            setattr(self, f"{name}_bn", bn)
            branches.append((name, tuple(shape), tuple(crops)))
        self._branches = tuple(branches)
        self.identity_bn = None
        if self.has_identity(int(input_shape[-1])):
            self.identity_bn = self._bn("identity_bn")
            self.identity_bn.build((input_shape[0],) + spatial + (input_shape[-1],))

    def _crop(self, x, crops: Sequence[int]):
        if not any(crops):
            return x
        index = [slice(None)]
        for c in crops:
            index.append(slice(c, -c) if c else slice(None))
        return x[tuple(index)]

    def call(self, inputs, training=None):
        x = inputs
        if any(a or b for a, b in self._pads):
            x = ops.pad(x, [(0, 0)] + [tuple(p) for p in self._pads] + [(0, 0)])
        out = None
        for name, _, crops in self._branches:
            y = getattr(self, f"{name}_conv")(self._crop(x, crops))
            y = getattr(self, f"{name}_bn")(y, training=training)
            out = y if out is None else out + y
        if self.identity_bn is not None:
            centre = [self.kernel_size // 2] * self.rank
            out = out + self.identity_bn(self._crop(x, centre), training=training)
        return out

    def compute_output_shape(self, input_shape):
        return _CONV[self.rank](self.filters, self.kernel_size, strides=self.strides,
                                padding=self.padding).compute_output_shape(input_shape)

    # ---- re-parameterization -------------------------------------------------------
    def fused_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """``(kernel, bias)`` of the single convolution equal to the block in inference mode.

        Each branch's BN is folded into its kernel (:func:`fuse_conv_bn`), the
        smaller kernels are added onto the centre of the ``k x k`` kernel, the
        identity branch is a kernel with 1 at the centre of channel ``i -> i``,
        and the biases add up.
        """
        if not self.built:
            raise ValueError(f"{type(self).__name__} must be built before it can be fused.")
        k = self.kernel_size
        in_channels = int(self._input_shape[-1])
        kernel = np.zeros((k,) * self.rank + (in_channels, self.filters), dtype="float32")
        bias = np.zeros((self.filters,), dtype="float32")
        for name, shape, crops in self._branches:
            w = ops.convert_to_numpy(getattr(self, f"{name}_conv").kernel)
            fw, fb = fuse_conv_bn(w, None, *bn_parameters(getattr(self, f"{name}_bn")))
            index = tuple(slice(c, c + ks) for c, ks in zip(crops, shape))
            kernel[index] += fw
            bias += fb
        if self.identity_bn is not None:
            eye = np.zeros_like(kernel)
            centre = (k // 2,) * self.rank
            eye[centre + (np.arange(in_channels), np.arange(in_channels))] = 1.0
            fw, fb = fuse_conv_bn(eye, None, *bn_parameters(self.identity_bn))
            kernel += fw
            bias += fb
        return kernel, bias

    def fuse(self) -> keras.layers.Layer:
        """One built ``Conv1D``/``Conv2D`` (same name and dtype policy) equal to the block in inference mode."""
        kernel, bias = self.fused_weights()
        conv = _CONV[self.rank](self.filters, self.kernel_size, strides=self.strides, padding=self.padding,
                                use_bias=True, dtype=self.dtype_policy, name=self.name)
        conv.build(self._input_shape)
        conv.set_weights([kernel, bias])
        return conv

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "rank": self.rank,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "momentum": self.momentum,
                "epsilon": self.epsilon,
            }
        )
        return config
