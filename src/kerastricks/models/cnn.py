"""Plain convolutional networks: a 1-D stack, the MNIST-1D baseline and a VGG-style 2-D net."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, Union

import numpy as np

from kerastricks._lazy import LazyModule, keras
from kerastricks.errors import ConfigError
from kerastricks.models.blocks import (
    as_image,
    as_sequence,
    conv_norm_act,
    logits_head,
    model_input,
    resolve_activation,
    resolve_initializer,
    spatial_size,
)
from kerastricks.validation import Fraction, NonNegativeInt, PositiveFloat, PositiveInt

_recompute = LazyModule("kerastricks.models.recompute")


def stage_widths(width: int, depth: int, multiplier: float) -> list[int]:
    """Channels per stage: ``round(width * multiplier**i)`` for ``i < depth``, at least 1."""
    return [max(1, int(round(width * multiplier**i))) for i in range(depth)]


def cnn1d(
    input_shape: Sequence[int],
    num_outputs: int,
    task: str = "classification",
    *,
    width: PositiveInt = 32,
    depth: PositiveInt = 3,
    kernel_size: PositiveInt = 5,
    width_multiplier: PositiveFloat = 2.0,
    activation: str = "relu",
    kernel_initializer: str = "he_normal",
    conv: str = "plain",
    norm: str = "batch",
    downsample: Literal["max", "avg", "stride", "none"] = "max",
    head: Literal["gap", "flatten"] = "gap",
    dropout: Fraction = 0.0,
    recompute_every: Union[NonNegativeInt, Literal["auto"]] = 0,
    kernel_regularizer: Any = None,
) -> keras.Model:
    """A 1-D convolutional stack for sequences ``(length, channels)``.

    ``depth`` blocks of ``conv -> norm -> activation``, block ``i`` with
    ``round(width * width_multiplier**i)`` channels, each followed by a 2x
    downsampling while the sequence is longer than 1: a pooling layer of size
    2 (``"max"``/``"avg"``, ``padding="same"``), or with ``downsample="stride"`` a
    stride-2 convolution (all-convolutional, Springenberg et al. 2014,
    arXiv 1412.6806). Then global average pooling (``head="gap"``) or
    flattening (``head="flatten"``), dropout and the logits.

    Args:
        input_shape: ``(length, channels)`` or ``(length,)``; anything else
            raises ``ConfigError`` on key ``model.name``.
        num_outputs: Classes or regression targets, >= 1.
        task: ``"classification"`` or ``"regression"``; both end in linear units.
        width: Channels of the first block, >= 1. Default 32.
        depth: Number of conv blocks, >= 1. Default 3.
        kernel_size: Convolution width, >= 1. Default 5.
        width_multiplier: Channel growth per block, > 0. Default 2.0.
        activation: Any ``keras.activations`` name. Default ``"relu"``.
        kernel_initializer: Any ``keras.initializers`` name. Default
            ``"he_normal"``.
        conv: A :data:`~kerastricks.models.blocks.CONVS` kind. Default ``"plain"``.
        norm: A :data:`~kerastricks.models.blocks.NORMS` kind. Default ``"batch"``.
        downsample: ``"max"`` or ``"avg"`` pooling, ``"stride"`` (stride-2
            convolutions) or ``"none"`` (every block keeps the full length:
            more compute, and the most accurate on short signals such as
            MNIST-1D's 40 steps). Default ``"max"``.
        head: ``"gap"`` (global average pooling) or ``"flatten"``. Default
            ``"gap"``.
        dropout: Dropout rate before the logits, in [0, 1). Default 0.
        recompute_every: Gradient checkpointing: every ``k`` blocks (with
            their downsampling) form one
            :class:`~kerastricks.models.recompute.Recompute` segment;
            ``"auto"`` is ``round(sqrt(depth))``, 0 (default) turns it off.
        kernel_regularizer: Python-only: regularizer for every kernel.

    Returns:
        A functional ``keras.Model`` named ``"cnn1d"`` with float32 logits.
    """
    activation = resolve_activation(activation)
    kernel_initializer = resolve_initializer(kernel_initializer)
    inputs = model_input(input_shape)
    x = as_sequence(inputs, model="cnn1d")
    pool_layer = {"max": keras.layers.MaxPooling1D, "avg": keras.layers.AveragePooling1D}.get(downsample)
    segments = _recompute.SegmentBuilder(_recompute.resolve_every(recompute_every, depth), prefix="cnn1d")

    def conv_block(i: int, filters: int):
        def block(x):
            shrink = downsample != "none" and spatial_size(x)[0] >= 2
            x = conv_norm_act(
                x,
                filters,
                kernel_size,
                rank=1,
                strides=2 if (shrink and pool_layer is None) else 1,
                conv=conv,
                norm=norm,
                activation=activation,
                kernel_initializer=kernel_initializer,
                kernel_regularizer=kernel_regularizer,
                name=f"block{i}",
            )
            if shrink and pool_layer is not None:
                x = pool_layer(2, padding="same", name=f"block{i}_pool")(x)
            return x

        return block

    for i, filters in enumerate(stage_widths(width, depth, width_multiplier), start=1):
        x = segments.block(x, conv_block(i, filters))
    x = segments.flush(x)
    if head == "gap":
        x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
    outputs = logits_head(x, num_outputs, dropout=dropout, kernel_regularizer=kernel_regularizer)
    return keras.Model(inputs, outputs, name="cnn1d")


def torch_default_initializer() -> keras.initializers.Initializer:
    """PyTorch's default ``Conv1d`` / ``Linear`` kernel initializer, in Keras.

    PyTorch draws kernels from ``kaiming_uniform_(a=sqrt(5))``, i.e.
    ``U(-b, b)`` with ``b = sqrt(6 / ((1 + a**2) * fan_in)) = 1/sqrt(fan_in)``.
    ``VarianceScaling(scale=1/3, mode="fan_in", distribution="uniform")`` has
    limit ``sqrt(3 * scale / fan_in) = 1/sqrt(fan_in)``: the same distribution.
    """
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


def mnist1d_cnn(
    input_shape: Sequence[int],
    num_outputs: int,
    task: str = "classification",
    *,
    channels: PositiveInt = 25,
    activation: str = "relu",
    kernel_initializer: str | None = None,
    conv: str = "plain",
    norm: str = "none",
    kernel_regularizer: Any = None,
) -> keras.Model:
    """The CNN baseline of the MNIST-1D paper (94% test accuracy reported there).

    Three ``Conv1D(channels)`` layers with kernel sizes 5, 3, 3, stride 2 and
    padding 1, each followed by ReLU, then flatten and one linear layer::

        x (40, 1) -> pad 1, conv k5 s2 -> (19, 25) -> pad 1, conv k3 s2 -> (10, 25)
                  -> pad 1, conv k3 s2 -> (5, 25) -> flatten (125) -> linear (10)

    PyTorch's ``padding=1`` is emulated with ``ZeroPadding1D(1)`` followed by a
    ``"valid"`` convolution, so the length arithmetic is exactly PyTorch's
    (``L_out = floor((L_in + 2 - k) / 2) + 1``). With the defaults the
    parameter count equals the reference model's (5,210 for 10 classes on
    length 40).

    Deviations from the reference code: Keras flattens ``(length, channels)``
    where PyTorch flattens ``(channels, length)``, so the linear layer sees the
    same features in another order (same count, weights need a permutation
    to transfer). With the default ``kernel_initializer=None`` both kernels
    and biases are drawn as PyTorch does (:func:`torch_default_initializer`,
    :func:`torch_default_biases`); this matters: with zero biases the
    baseline ended about one point lower in our runs.

    Args:
        input_shape: ``(length,)`` or ``(length, channels)``, length >= 3.
        num_outputs: Classes or regression targets, >= 1.
        task: ``"classification"`` or ``"regression"``; both end in linear units.
        channels: Channels of each conv layer, >= 1. Default 25 (the paper's).
        activation: Any ``keras.activations`` name. Default ``"relu"``.
        kernel_initializer: Any ``keras.initializers`` name for the conv
            kernels (the linear layer then keeps Keras's ``glorot_uniform``),
            or None (default) for PyTorch's default initializer on every kernel.
        conv: A :data:`~kerastricks.models.blocks.CONVS` kind. Default ``"plain"``.
        norm: A :data:`~kerastricks.models.blocks.NORMS` kind after each conv.
            Default ``"none"`` (the paper's model has no normalization).
        kernel_regularizer: Python-only: regularizer for every kernel.

    Returns:
        A functional ``keras.Model`` named ``"mnist1d_cnn"`` with float32 logits.

    Reference:
        Greydanus, 2020. "Scaling down deep learning" (MNIST-1D), arXiv
        2011.14439; reference code github.com/greydanus/mnist1d,
        ``notebooks/models.py``, class ``ConvBase``.
    """
    activation = resolve_activation(activation)
    torch_init = kernel_initializer is None
    if not torch_init:
        kernel_initializer = resolve_initializer(kernel_initializer)
    inputs = model_input(input_shape)
    x = as_sequence(inputs, model="mnist1d_cnn")
    length = spatial_size(x)[0]
    if length < 3:
        raise ConfigError(
            "model 'mnist1d_cnn' needs longer sequences",
            key="model.name",
            expected="input length >= 3",
            received=tuple(input_shape),
        )
    for i, k in enumerate((5, 3, 3), start=1):
        x = keras.layers.ZeroPadding1D(1, name=f"conv{i}_pad")(x)
        x = conv_norm_act(
            x,
            channels,
            k,
            rank=1,
            strides=2,
            padding="valid",
            conv=conv,
            norm=norm,
            activation=activation,
            # A fresh initializer per layer: one shared instance would be shared state.
            kernel_initializer=torch_default_initializer() if torch_init else kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            name=f"conv{i}",
        )
    x = keras.layers.Flatten(name="flatten")(x)
    head_init = torch_default_initializer() if torch_init else "glorot_uniform"
    outputs = logits_head(x, num_outputs, kernel_initializer=head_init, kernel_regularizer=kernel_regularizer)
    model = keras.Model(inputs, outputs, name="mnist1d_cnn")
    if torch_init:
        torch_default_biases(model)
    return model


def torch_default_biases(model: keras.Model) -> int:
    """Draw every conv/dense bias from PyTorch's default ``U(+-1/sqrt(fan_in))``.

    PyTorch initializes biases uniformly with the layer's fan-in; Keras starts
    them at zero. The values are assigned once after the build (Keras's global
    seed makes them reproducible); the layers' configs keep Keras's zeros
    initializer, which only matters when rebuilding an untrained model from
    its config. Returns the number of biases set.
    """
    count = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        bias = getattr(layer, "bias", None)
        if kernel is None or bias is None:
            continue
        fan_in = int(np.prod(kernel.shape[:-1]))
        bound = 1.0 / math.sqrt(fan_in)
        bias.assign(keras.initializers.RandomUniform(-bound, bound)(bias.shape, dtype=bias.dtype))
        count += 1
    return count


def cnn2d(
    input_shape: Sequence[int],
    num_outputs: int,
    task: str = "classification",
    *,
    width: PositiveInt = 32,
    depth: PositiveInt = 3,
    convs_per_stage: PositiveInt = 2,
    kernel_size: PositiveInt = 3,
    activation: str = "relu",
    kernel_initializer: str = "he_normal",
    conv: str = "plain",
    norm: str = "batch",
    dropout: Fraction = 0.0,
    kernel_regularizer: Any = None,
) -> keras.Model:
    """A VGG-style 2-D CNN: stages of ``[conv -> norm -> activation] x n`` and max-pooling.

    Stage ``i`` (0-based) has ``width * 2**i`` channels and ends in a 2x2
    max-pool (``padding="same"``) as long as both spatial sides are >= 2, so
    the feature map never shrinks below 1x1: an ``s x s`` image is pooled
    ``min(depth, ceil(log2(s)))`` times and 8x8 digits work with any depth.
    The head is global average pooling, dropout and the logits.

    Args:
        input_shape: ``(height, width, channels)`` or ``(height, width)``;
            anything else raises ``ConfigError`` on key ``model.name``.
        num_outputs: Classes or regression targets, >= 1.
        task: ``"classification"`` or ``"regression"``; both end in linear units.
        width: Channels of the first stage, >= 1. Default 32.
        depth: Number of stages, >= 1. Default 3.
        convs_per_stage: Conv blocks per stage, >= 1. Default 2.
        kernel_size: Convolution size, >= 1. Default 3.
        activation: Any ``keras.activations`` name. Default ``"relu"``.
        kernel_initializer: Any ``keras.initializers`` name. Default
            ``"he_normal"``.
        conv: A :data:`~kerastricks.models.blocks.CONVS` kind. Default ``"plain"``.
        norm: A :data:`~kerastricks.models.blocks.NORMS` kind. Default ``"batch"``.
        dropout: Dropout rate before the logits, in [0, 1). Default 0.
        kernel_regularizer: Python-only: regularizer for every kernel.

    Returns:
        A functional ``keras.Model`` named ``"cnn2d"`` with float32 logits.

    Reference:
        Simonyan & Zisserman, 2014. "Very Deep Convolutional Networks for
        Large-Scale Image Recognition", arXiv 1409.1556 (with batch norm and a
        global-average-pooling head instead of the fully connected layers).
    """
    activation = resolve_activation(activation)
    kernel_initializer = resolve_initializer(kernel_initializer)
    inputs = model_input(input_shape)
    x = as_image(inputs, model="cnn2d")
    for stage in range(depth):
        filters = width * 2**stage
        for j in range(1, convs_per_stage + 1):
            x = conv_norm_act(
                x,
                filters,
                kernel_size,
                rank=2,
                conv=conv,
                norm=norm,
                activation=activation,
                kernel_initializer=kernel_initializer,
                kernel_regularizer=kernel_regularizer,
                name=f"stage{stage + 1}_conv{j}",
            )
        if min(spatial_size(x)) >= 2:
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"stage{stage + 1}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = logits_head(x, num_outputs, dropout=dropout, kernel_regularizer=kernel_regularizer)
    return keras.Model(inputs, outputs, name="cnn2d")

