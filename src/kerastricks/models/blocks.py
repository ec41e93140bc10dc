"""Building blocks shared by every model in the zoo, and their extension points.

The builders in :mod:`kerastricks.models` never create a convolution or a
normalization layer directly: they ask :func:`make_conv` and :func:`make_norm`,
which look the requested kind up in the :data:`CONVS` and :data:`NORMS`
registries. A later technique (weight-standardized convolutions, ACNet blocks,
extended batch normalization, ...) plugs in by registering one factory, and every
conv builder accepts it at once through its ``conv=`` / ``norm=`` option::

    from kerastricks.models.blocks import register_conv

    @register_conv("ws", description="weight-standardized convolution")
    def ws_conv(rank, filters, kernel_size, *, strides, padding, use_bias,
                kernel_initializer, kernel_regularizer, name):
        return WSConv(rank, filters, kernel_size, ...)

    build_model("resnet", input_shape=(32, 32, 3), num_outputs=10,
                options={"conv": "ws"})

Factory contracts:

- conv factory: ``factory(rank, filters, kernel_size, *, strides, padding,
  use_bias, kernel_initializer, kernel_regularizer, name) -> keras.layers.Layer``
  where ``rank`` is 1 (sequences), 2 (images) or 3 (volumes).
- norm factory: ``factory(rank, *, name) -> keras.layers.Layer`` where ``rank``
  is 0 for feature vectors ``(batch, units)``, else as for convolutions. Each
  norm entry also declares ``centers``: whether the layer adds its own learned
  shift, so that the preceding layer can drop its bias.

Registered kinds: convs ``plain``, ``ws`` (weight standardization), ``nf``
(NFNets Scaled WS with gamma-scaled activations: use with ``norm="none"``),
``acb`` (ACNet block) and ``repvgg`` (RepVGG block); norms ``batch``,
``extended`` (extended batch norm) and ``none``. The non-plain kinds come from
:mod:`kerastricks.layers` (imported when first used); models built with them
need kerastricks to load, or :func:`kerastricks.layers.reparameterize` to turn
them into plain Keras layers.

All layers made here are Keras layers (public classes or subclasses of them),
so models built from them save to ``.keras``, load back and go through
``keras.models.clone_model``.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError
from kerastricks.registry import Registry

ConvFactory = Callable[..., Any]  # -> keras.layers.Layer
NormFactory = Callable[..., Any]  # -> keras.layers.Layer

CONVS: Registry[ConvFactory] = Registry("conv")
"""Convolution kinds (``conv=`` option of every conv builder)."""

NORMS: Registry[NormFactory] = Registry("norm")
"""Normalization kinds (``norm=`` option of every builder that normalizes)."""

_RANKS = (1, 2, 3)


# --------------------------------------------------------------------------- registries


def register_conv(
    name: str,
    factory: ConvFactory | None = None,
    *,
    description: str,
    scales_activation: bool = False,
) -> Any:
    """Register a convolution factory under ``name`` (usable as a decorator).

    Args:
        name: The value users write in ``model.conv``; case-insensitive.
        factory: ``factory(rank, filters, kernel_size, *, strides, padding,
            use_bias, kernel_initializer, kernel_regularizer, name)`` returning
            a Keras layer. Omit it to use ``register_conv`` as a decorator.
        description: One line shown by ``kerastricks list``.
        scales_activation: True when the activation after this conv must be
            multiplied by the activation's NFNets gamma (normalizer-free
            networks); :func:`conv_norm_act` adds the scaling. Default False.
    """
    return CONVS.register(name, factory, description=description, scales_activation=bool(scales_activation))


def register_norm(
    name: str,
    factory: NormFactory | None = None,
    *,
    description: str,
    centers: bool,
) -> Any:
    """Register a normalization factory under ``name`` (usable as a decorator).

    Args:
        name: The value users write in ``model.norm``; case-insensitive.
        factory: ``factory(rank, *, name)`` returning a Keras layer; ``rank`` is
            0 for ``(batch, units)`` features, 1 for sequences, 2 for images.
        description: One line shown by ``kerastricks list``.
        centers: True when the layer learns its own shift (like batch norm's
            ``beta``); the layer before it is then built without a bias.
    """
    return NORMS.register(name, factory, description=description, centers=bool(centers))


def _plain_conv(
    rank: int,
    filters: int,
    kernel_size: int,
    *,
    strides: int,
    padding: str,
    use_bias: bool,
    kernel_initializer: Any,
    kernel_regularizer: Any,
    name: str | None,
) -> keras.layers.Layer:
    cls = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}[rank]
    return cls(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )


def _batch_norm(rank: int, *, name: str | None) -> keras.layers.Layer:
    # Channels-last everywhere, so the feature axis is always the last one.
    return keras.layers.BatchNormalization(axis=-1, name=name)


def _no_norm(rank: int, *, name: str | None) -> keras.layers.Layer:
    return keras.layers.Identity(name=name)


register_conv("plain", _plain_conv, description="standard keras Conv1D/Conv2D/Conv3D")
register_norm(
    "batch",
    _batch_norm,
    description="batch normalization (Ioffe & Szegedy 2015, arXiv 1502.03167)",
    centers=True,
)
register_norm("none", _no_norm, description="no normalization (identity)", centers=False)


# Architecture tricks (kerastricks.layers). The multi-branch blocks (acb,
# repvgg) carry their own BatchNormalization per branch, so they ignore
# `use_bias` (the branch BNs supply the shift) and the builder's `norm` still
# applies after the block as configured: norm="batch" adds one BN after the sum
# (the ACNet code's `use_last_bn=True`), norm="none" gives the papers' blocks.
# A 1x1 (or even-sized) kernel has no asymmetric/centre structure to exploit:
# acb and repvgg fall back to a plain conv for kernel_size 1 and reject even sizes.


def _ws_conv(rank: int, filters: int, kernel_size: int, *, scale: Any = None, **kwargs: Any) -> keras.layers.Layer:
    from kerastricks.layers import WSConv1D, WSConv2D

    classes = {1: WSConv1D, 2: WSConv2D}
    if rank not in classes:
        raise ConfigError("weight-standardized convs exist for sequences and images only", key="model.conv",
                          expected="a 1-D or 2-D model", received=f"rank {rank}")
    return classes[rank](filters, kernel_size, scale=scale, **kwargs)


def _nf_conv(rank: int, filters: int, kernel_size: int, **kwargs: Any) -> keras.layers.Layer:
    return _ws_conv(rank, filters, kernel_size, scale=True, **kwargs)


def _branch_block(cls_name: str) -> ConvFactory:
    def factory(
        rank: int,
        filters: int,
        kernel_size: int,
        *,
        strides: int,
        padding: str,
        use_bias: bool,
        kernel_initializer: Any,
        kernel_regularizer: Any,
        name: str | None,
    ) -> keras.layers.Layer:
        import kerastricks.layers as kl

        if kernel_size == 1:
            return _plain_conv(rank, filters, 1, strides=strides, padding=padding, use_bias=use_bias,
                               kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer,
                               name=name)
        if rank not in (1, 2) or kernel_size % 2 == 0:
            raise ConfigError(f"conv '{cls_name}' needs an odd kernel on a 1-D or 2-D model", key="model.conv",
                              expected="odd kernel_size, rank 1 or 2", received=f"kernel_size {kernel_size}, "
                              f"rank {rank}")
        cls = getattr(kl, cls_name)
        return cls(filters, kernel_size, strides=strides, padding=padding, rank=rank,
                   kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer, name=name)

    return factory


def _extended_norm(rank: int, *, name: str | None) -> keras.layers.Layer:
    from kerastricks.layers import ExtendedBatchNormalization

    return ExtendedBatchNormalization(axis=-1, name=name)


register_conv("ws", _ws_conv, description="weight-standardized conv (Qiao et al. 2019, arXiv 1903.10520)")
register_conv(
    "nf",
    _nf_conv,
    description="NFNets Scaled WS conv; the activation after it is scaled by its gamma (arXiv 2101.08692)",
    scales_activation=True,
)
register_conv("acb", _branch_block("ACBlock"),
              description="ACNet block k x k + 1 x k + k x 1 (1-D: k + 1), fusable (arXiv 1908.03930)")
register_conv("repvgg", _branch_block("RepVGGBlock"),
              description="RepVGG block k x k + 1 x 1 + identity BN, fusable (arXiv 2101.03697)")
register_norm(
    "extended",
    _extended_norm,
    description="extended batch norm: per-channel mean, one shared std (Luo et al. 2020, arXiv 2003.05569)",
    centers=True,
)


# --------------------------------------------------------------------------- factories


def make_conv(
    kind: str,
    rank: int,
    filters: int,
    kernel_size: int,
    strides: int = 1,
    padding: str = "same",
    use_bias: bool = True,
    kernel_initializer: Any = "he_normal",
    kernel_regularizer: Any = None,
    name: str | None = None,
) -> keras.layers.Layer:
    """A convolution layer of the registered ``kind``.

    Args:
        kind: A name in :data:`CONVS` (``"plain"``); unknown kinds raise
            ``ConfigError`` on key ``model.conv`` with the closest name suggested.
        rank: Spatial rank: 1 (sequences), 2 (images) or 3 (volumes).
        filters: Number of output channels, >= 1.
        kernel_size: Kernel width along every spatial axis, >= 1.
        strides: Stride along every spatial axis, >= 1.
        padding: ``"same"`` or ``"valid"`` (Keras semantics).
        use_bias: Whether the layer learns a bias.
        kernel_initializer: Anything ``keras.initializers.get`` accepts.
        kernel_regularizer: Anything ``keras.regularizers.get`` accepts, or None.
        name: Layer name.
    """
    entry = CONVS.get(kind, key="model.conv")
    if rank not in _RANKS:
        raise ValueError(f"Argument `rank` must be one of {_RANKS}. Received: rank={rank!r}")
    return entry.obj(
        rank,
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )


def make_norm(kind: str, rank: int, name: str | None = None) -> keras.layers.Layer:
    """A normalization layer of the registered ``kind``.

    Args:
        kind: A name in :data:`NORMS` (``"batch"``, ``"none"``); unknown kinds
            raise ``ConfigError`` on key ``model.norm`` with a suggestion.
        rank: 0 for ``(batch, units)`` features, 1 for sequences, 2 for images,
            3 for volumes.
        name: Layer name.
    """
    entry = NORMS.get(kind, key="model.norm")
    if rank not in (0,) + _RANKS:
        raise ValueError(f"Argument `rank` must be one of (0, 1, 2, 3). Received: rank={rank!r}")
    return entry.obj(rank, name=name)


def norm_centers(kind: str) -> bool:
    """Whether the norm ``kind`` learns its own shift (so the layer before needs no bias)."""
    return bool(NORMS.get(kind, key="model.norm").meta.get("centers", False))


# --------------------------------------------------------------------------- resolvers

# "threshold" and "constant" need arguments, so Keras cannot use them by name (see models/names.py)
_NOT_ACTIVATIONS = {"get", "serialize", "deserialize", "threshold"}
_NOT_INITIALIZERS = {"get", "serialize", "deserialize", "constant"}


def activation_names() -> list[str]:
    """Names ``keras.activations.get`` accepts (the public functions of ``keras.activations``)."""
    return sorted(
        n for n in dir(keras.activations)
        if not n.startswith("_") and n not in _NOT_ACTIVATIONS and callable(getattr(keras.activations, n))
    )


def initializer_names() -> list[str]:
    """Snake-case names ``keras.initializers.get`` accepts (``he_normal``, ...)."""
    return sorted(
        n for n in dir(keras.initializers)
        if n.islower() and not n.startswith("_") and n not in _NOT_INITIALIZERS
    )


def _unknown(what: str, key: str, value: Any, names: Sequence[str]) -> ConfigError:
    close = difflib.get_close_matches(str(value).lower(), list(names), n=1, cutoff=0.5)
    return ConfigError(
        f"unknown {what} '{value}'",
        key=key,
        expected=f"one of {', '.join(names)}",
        received=value,
        hint=f"did you mean '{close[0]}'?" if close else None,
    )


def resolve_activation(identifier: Any, *, key: str = "model.activation") -> Any:
    """Check that Keras knows the activation ``identifier``; return it unchanged.

    The identifier (usually a string) is what the layers receive, so it
    serializes by name.

    Args:
        identifier: Anything ``keras.activations.get`` accepts (``"relu"``,
            ``"gelu"``, a callable).
        key: The recipe key named in the error.

    Raises:
        ConfigError: ``keras.activations.get`` rejects it; the closest name is
            suggested.
    """
    from kerastricks.models.names import ACTIVATIONS

    if isinstance(identifier, str) and identifier in ACTIVATIONS:
        return identifier
    if isinstance(identifier, str) and ("keras" not in sys.modules or identifier in _NOT_ACTIVATIONS):
        raise _unknown("activation", key, identifier, ACTIVATIONS if "keras" not in sys.modules else activation_names())
    try:
        keras.activations.get(identifier)
    except (ValueError, TypeError):
        raise _unknown("activation", key, identifier, activation_names()) from None
    return identifier


def resolve_initializer(identifier: Any, *, key: str = "model.kernel_initializer") -> Any:
    """Check that Keras knows the initializer ``identifier``; return it unchanged.

    Args:
        identifier: Anything ``keras.initializers.get`` accepts (``"he_normal"``,
            an ``Initializer`` instance).
        key: The recipe key named in the error.

    Raises:
        ConfigError: ``keras.initializers.get`` rejects it; the closest name is
            suggested.
    """
    from kerastricks.models.names import INITIALIZERS

    if isinstance(identifier, str) and identifier in INITIALIZERS:
        return identifier
    if isinstance(identifier, str) and ("keras" not in sys.modules or identifier in _NOT_INITIALIZERS):
        raise _unknown("initializer", key, identifier,
                       INITIALIZERS if "keras" not in sys.modules else initializer_names())
    try:
        keras.initializers.get(identifier)
    except (ValueError, TypeError):
        raise _unknown("initializer", key, identifier, initializer_names()) from None
    return identifier


def resolve_regularizer(identifier: Any, *, key: str = "kernel_regularizer") -> Any:
    """Check that Keras knows the regularizer ``identifier`` (None allowed); return it."""
    if identifier is None:
        return None
    try:
        keras.regularizers.get(identifier)
    except (ValueError, TypeError):
        raise ConfigError(
            "unknown regularizer",
            key=key,
            expected="a keras regularizer (e.g. keras.regularizers.L2(1e-4)) or None",
            received=identifier,
        ) from None
    return identifier


# --------------------------------------------------------------------------- inputs


def model_input(input_shape: Sequence[int]) -> keras.KerasTensor:
    """The functional model's input, named ``"inputs"``."""
    return keras.Input(shape=tuple(int(d) for d in input_shape), name="inputs")


def _wrong_input(model: str, needs: str, expected: str, shape: Sequence[int]) -> ConfigError:
    return ConfigError(
        f"model '{model}' needs {needs} input",
        key="model.name",
        expected=expected,
        received=tuple(shape),
    )


def as_sequence(x: keras.KerasTensor, *, model: str, images_as_rows: bool = False) -> keras.KerasTensor:
    """Reshape ``x`` to ``(batch, length, channels)``.

    ``(length,)`` inputs get one channel. With ``images_as_rows``, images
    ``(height, width, channels)`` are read row by row as a sequence of
    ``height`` steps with ``width * channels`` features (what RNNs do with
    images); otherwise images are rejected.

    Args:
        x: The model input.
        model: The model's registry name, for the error message.
        images_as_rows: Accept 3-D inputs by reading rows.

    Raises:
        ConfigError: on key ``model.name`` when the input is not a sequence.
    """
    shape = tuple(x.shape[1:])
    if len(shape) == 1:
        return keras.layers.Reshape((shape[0], 1), name="add_channel")(x)
    if len(shape) == 2:
        return x
    if len(shape) == 3 and images_as_rows:
        height, width, channels = shape
        return keras.layers.Reshape((height, width * channels), name="rows_as_sequence")(x)
    expected = "input shape (length, channels) or (length,)"
    if images_as_rows:
        expected += " or an image (height, width, channels)"
    raise _wrong_input(model, "sequence", expected, shape)


def as_image(x: keras.KerasTensor, *, model: str) -> keras.KerasTensor:
    """Reshape ``x`` to ``(batch, height, width, channels)``.

    ``(height, width)`` inputs get one channel; other ranks raise ``ConfigError``
    on key ``model.name``.
    """
    shape = tuple(x.shape[1:])
    if len(shape) == 2:
        return keras.layers.Reshape(shape + (1,), name="add_channel")(x)
    if len(shape) == 3:
        return x
    raise _wrong_input(model, "image", "input shape (height, width, channels) or (height, width)", shape)


# --------------------------------------------------------------------------- blocks


def conv_norm_act(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    rank: int,
    strides: int = 1,
    padding: str = "same",
    conv: str = "plain",
    norm: str = "batch",
    activation: Any = "relu",
    kernel_initializer: Any = "he_normal",
    kernel_regularizer: Any = None,
    name: str,
) -> keras.KerasTensor:
    """Convolution, then normalization, then activation.

    The convolution drops its bias when the norm learns its own shift
    (``NORMS`` entry with ``centers=True``, e.g. batch norm), as in ResNet and
    VGG-BN. A conv kind registered with ``scales_activation=True`` (``"nf"``)
    gets its activation multiplied by the activation's NFNets gamma
    (:func:`kerastricks.layers.activation_gamma`), layer ``{name}_gamma``. Layers are named
    ``{name}_conv``, ``{name}_norm`` and ``{name}_act``, so techniques that rewrite models can find them.

    Args:
        x: Input tensor, channels last.
        filters: Output channels, >= 1.
        kernel_size: Kernel width, >= 1.
        rank: Spatial rank (1 for sequences, 2 for images).
        strides: Convolution stride.
        padding: ``"same"`` or ``"valid"``.
        conv: A :data:`CONVS` kind.
        norm: A :data:`NORMS` kind; ``"none"`` inserts an identity layer.
        activation: Activation identifier, or None to stop after the norm
            (residual branches add before activating).
        kernel_initializer: Convolution kernel initializer.
        kernel_regularizer: Convolution kernel regularizer, or None.
        name: Prefix of the three layer names.
    """
    x = make_conv(
        conv,
        rank,
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=not norm_centers(norm),
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_conv",
    )(x)
    x = make_norm(norm, rank, name=f"{name}_norm")(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
        if CONVS.get(conv).meta.get("scales_activation"):
            # NFNets: gamma * act(x) keeps unit variance for unit-variance inputs.
            from kerastricks.layers import activation_gamma

            gamma = activation_gamma(activation) if isinstance(activation, str) else 1.0
            x = keras.layers.Rescaling(gamma, name=f"{name}_gamma")(x)
    return x


def logits_head(
    x: keras.KerasTensor,
    num_outputs: int,
    *,
    dropout: float = 0.0,
    kernel_initializer: Any = "glorot_uniform",
    kernel_regularizer: Any = None,
) -> keras.KerasTensor:
    """Optional dropout, then the ``"logits"`` Dense layer.

    The Dense layer has ``num_outputs`` linear units, no activation (losses use
    ``from_logits=True``; regression reads the units as predictions) and
    ``dtype="float32"``, so outputs stay float32 under mixed precision. Its
    kernel uses Keras's default ``glorot_uniform`` initializer unless the
    builder passes another (the body's initializer is not reused: He
    initialization targets layers followed by a ReLU).

    Args:
        x: Features, ``(batch, features)``.
        num_outputs: Classes (classification) or targets (regression), >= 1.
        dropout: Dropout rate before the Dense layer, in [0, 1); 0 adds no layer.
        kernel_initializer: Dense kernel initializer.
        kernel_regularizer: Dense kernel regularizer, or None.
    """
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return keras.layers.Dense(
        num_outputs,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        dtype="float32",
        name="logits",
    )(x)


def spatial_size(x: keras.KerasTensor) -> tuple[int, ...]:
    """Static spatial dimensions of a channels-last tensor (batch and channels dropped)."""
    return tuple(int(d) for d in x.shape[1:-1])


__all__ = [
    "CONVS",
    "NORMS",
    "activation_names",
    "as_image",
    "as_sequence",
    "conv_norm_act",
    "initializer_names",
    "logits_head",
    "make_conv",
    "make_norm",
    "model_input",
    "norm_centers",
    "register_conv",
    "register_norm",
    "resolve_activation",
    "resolve_initializer",
    "resolve_regularizer",
    "spatial_size",
]
