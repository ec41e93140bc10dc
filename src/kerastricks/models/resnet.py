"""CIFAR-style residual networks (He et al. 2016, section 4.2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Union

from kerastricks._lazy import LazyModule, keras
from kerastricks.errors import ConfigError
from kerastricks.models.blocks import (
    as_image,
    conv_norm_act,
    logits_head,
    model_input,
    resolve_activation,
    resolve_initializer,
)
from kerastricks.validation import Fraction, NonNegativeInt, PositiveInt

Shortcut = Literal["projection", "zero_pad"]

_recompute = LazyModule("kerastricks.models.recompute")


def blocks_per_stage(depth: int) -> int:
    """``n`` for a CIFAR ResNet of ``depth = 6n + 2`` layers; other depths raise ``ConfigError``."""
    if depth < 8 or (depth - 2) % 6 != 0:
        raise ConfigError(
            "CIFAR ResNet depth must be 6n+2 with n >= 1",
            key="model.depth",
            expected="6n+2 (20, 32, 56, ...)",
            received=depth,
        )
    return (depth - 2) // 6


def basic_block(
    x: keras.KerasTensor,
    filters: int,
    *,
    strides: int = 1,
    shortcut: Shortcut = "projection",
    activation: Any = "relu",
    kernel_initializer: Any = "he_normal",
    conv: str = "plain",
    norm: str = "batch",
    kernel_regularizer: Any = None,
    name: str,
) -> keras.KerasTensor:
    """The two-layer residual block: ``act(F(x) + shortcut(x))``.

    ``F`` is ``conv3x3(strides) -> norm -> act -> conv3x3 -> norm``. The
    shortcut is the identity when shapes match; when ``strides > 1`` or the
    channels change it is

    - ``"projection"``: ``conv1x1(strides) -> norm`` (the paper's option B);
    - ``"zero_pad"``: subsample by ``strides`` and pad the new channels with
      zeros (option A, parameter-free, used for the paper's CIFAR results).
      Needs ``filters`` equal to twice the input channels, as in every stage
      transition of :func:`resnet`.

    Args:
        x: Input, ``(batch, height, width, channels)``.
        filters: Output channels.
        strides: Stride of the first conv and of the shortcut.
        shortcut: ``"projection"`` or ``"zero_pad"``.
        activation: Activation identifier.
        kernel_initializer: Conv kernel initializer.
        conv: A :data:`~kerastricks.models.blocks.CONVS` kind.
        norm: A :data:`~kerastricks.models.blocks.NORMS` kind.
        kernel_regularizer: Conv kernel regularizer, or None.
        name: Prefix of the block's layer names.
    """
    common = dict(
        rank=2,
        conv=conv,
        norm=norm,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
    )
    y = conv_norm_act(x, filters, 3, strides=strides, activation=activation, name=f"{name}_1", **common)
    y = conv_norm_act(y, filters, 3, activation=None, name=f"{name}_2", **common)
    in_channels = int(x.shape[-1])
    if strides == 1 and in_channels == filters:
        skip = x
    elif shortcut == "projection":
        skip = conv_norm_act(x, filters, 1, strides=strides, activation=None, name=f"{name}_proj", **common)
    else:
        if filters != 2 * in_channels:
            raise ValueError(
                f"zero_pad shortcut doubles the channels; got {in_channels} -> {filters} in block {name!r}"
            )
        skip = x
        if strides > 1:
            # A 1x1 max-pool with stride s keeps every s-th pixel: x[:, ::s, ::s, :].
            skip = keras.layers.MaxPooling2D(1, strides=strides, name=f"{name}_subsample")(skip)
        # Public layers only (so models load without kerastricks): the zero
        # channels are the subsampled input scaled by 0.
        zeros = keras.layers.Rescaling(0.0, name=f"{name}_zeros")(skip)
        skip = keras.layers.Concatenate(axis=-1, name=f"{name}_pad")([skip, zeros])
    y = keras.layers.Add(name=f"{name}_add")([y, skip])
    return keras.layers.Activation(activation, name=f"{name}_out")(y)


def resnet(
    input_shape: Sequence[int],
    num_outputs: int,
    task: str = "classification",
    *,
    depth: PositiveInt = 20,
    width: PositiveInt = 16,
    shortcut: Shortcut = "projection",
    activation: str = "relu",
    kernel_initializer: str = "he_normal",
    conv: str = "plain",
    norm: str = "batch",
    dropout: Fraction = 0.0,
    recompute_every: Union[NonNegativeInt, Literal["auto"]] = 0,
    kernel_regularizer: Any = None,
) -> keras.Model:
    """The CIFAR ResNet of He et al. (2016), section 4.2.

    A 3x3 conv with ``width`` channels, then three stages of ``n`` basic blocks
    (:func:`basic_block`) with ``width``, ``2*width`` and ``4*width`` channels
    (stages 2 and 3 start with stride 2), global average pooling and the
    logits: ``depth = 6n + 2`` weighted layers. ResNet-20/32/44/56/110 have
    0.27M/0.46M/0.66M/0.85M/1.7M parameters in the paper's Table 6 (option A
    shortcuts, ``shortcut="zero_pad"`` here); projection shortcuts add two
    1x1 convs and their norms (~2.7k parameters for ResNet-20).

    Any image size works (``padding="same"``): 32x32 CIFAR maps to 32/16/8, 8x8
    digits to 8/4/2.

    Args:
        input_shape: ``(height, width, channels)`` or ``(height, width)``.
        num_outputs: Classes or regression targets, >= 1.
        task: ``"classification"`` or ``"regression"``; both end in linear units.
        depth: ``6n + 2`` with n >= 1 (20, 32, 44, 56, 110, ...); other values
            raise ``ConfigError`` on key ``model.depth``. Default 20.
        width: Channels of the first stage, >= 1. Default 16 (the paper's).
        shortcut: ``"projection"`` (option B: 1x1 conv + norm when the shape
            changes) or ``"zero_pad"`` (option A: subsample + zero channels).
            Default ``"projection"``.
        activation: Any ``keras.activations`` name. Default ``"relu"``.
        kernel_initializer: Any ``keras.initializers`` name. Default
            ``"he_normal"`` (the paper's initialization, arXiv 1502.01852).
        conv: A :data:`~kerastricks.models.blocks.CONVS` kind. Default ``"plain"``.
        norm: A :data:`~kerastricks.models.blocks.NORMS` kind. Default ``"batch"``.
        dropout: Dropout rate before the logits, in [0, 1). Default 0 (the
            paper uses none).
        recompute_every: Gradient checkpointing: every ``k`` consecutive
            residual blocks form one
            :class:`~kerastricks.models.recompute.Recompute` segment;
            ``"auto"`` is ``round(sqrt(3n))``, 0 (default) turns it off.
        kernel_regularizer: Python-only: regularizer for every kernel (the paper
            uses weight decay 1e-4).

    Returns:
        A functional ``keras.Model`` named ``"resnet{depth}"`` with float32 logits.

    Reference:
        He, Zhang, Ren & Sun, 2016. "Deep Residual Learning for Image
        Recognition", CVPR, arXiv 1512.03385, section 4.2.
    """
    n = blocks_per_stage(depth)
    activation = resolve_activation(activation)
    kernel_initializer = resolve_initializer(kernel_initializer)
    inputs = model_input(input_shape)
    x = as_image(inputs, model="resnet")
    common = dict(
        activation=activation,
        kernel_initializer=kernel_initializer,
        conv=conv,
        norm=norm,
        kernel_regularizer=kernel_regularizer,
    )
    x = conv_norm_act(x, width, 3, rank=2, name="stem", **common)
    segments = _recompute.SegmentBuilder(_recompute.resolve_every(recompute_every, 3 * n), prefix="resnet")

    def residual(filters: int, strides: int, name: str):
        return lambda x: basic_block(x, filters, strides=strides, shortcut=shortcut, name=name, **common)

    for stage in range(3):
        filters = width * 2**stage
        for b in range(n):
            strides = 2 if (stage > 0 and b == 0) else 1
            x = segments.block(x, residual(filters, strides, f"stage{stage + 1}_block{b + 1}"))
    x = segments.flush(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = logits_head(x, num_outputs, dropout=dropout, kernel_regularizer=kernel_regularizer)
    return keras.Model(inputs, outputs, name=f"resnet{depth}")
