"""Multi-layer perceptron on flattened input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Union

from kerastricks._lazy import LazyModule, keras
from kerastricks.errors import ConfigError
from kerastricks.models.blocks import (
    logits_head,
    make_norm,
    model_input,
    norm_centers,
    resolve_activation,
    resolve_initializer,
)
from kerastricks.validation import Fraction, NonNegativeInt, PositiveInt

_recompute = LazyModule("kerastricks.models.recompute")


def mlp(
    input_shape: Sequence[int],
    num_outputs: int,
    task: str = "classification",
    *,
    width: PositiveInt = 256,
    depth: NonNegativeInt = 2,
    activation: str = "relu",
    kernel_initializer: str = "he_normal",
    norm: str = "none",
    dropout: Fraction = 0.0,
    dropout_kind: Literal["standard", "alpha"] = "standard",
    recompute_every: Union[NonNegativeInt, Literal["auto"]] = 0,
    kernel_regularizer: Any = None,
) -> keras.Model:
    """A fully connected network: flatten, ``depth`` hidden layers, logits.

    Each hidden layer is ``Dense(width) -> norm -> activation -> dropout``. The
    Dense layer drops its bias when the norm learns a shift (batch norm). With
    ``norm="none"`` the parameter count is
    ``d*w + w + (depth-1)*(w*w + w) + w*k + k`` for ``d`` input features and
    ``k`` outputs; ``depth=0`` is logistic / linear regression (the MNIST-1D
    paper's "logistic" baseline).

    Args:
        input_shape: Shape of one example; any rank, flattened first.
        num_outputs: Classes or regression targets, >= 1.
        task: ``"classification"`` or ``"regression"``; both end in linear units.
        width: Units per hidden layer, >= 1. Default 256.
        depth: Number of hidden layers, >= 0. Default 2.
        activation: Hidden activation, any ``keras.activations`` name. Default
            ``"relu"``.
        kernel_initializer: Hidden kernel initializer, any ``keras.initializers``
            name. Default ``"he_normal"`` (He et al. 2015, arXiv 1502.01852).
        norm: A :data:`~kerastricks.models.blocks.NORMS` kind after each hidden
            Dense layer. Default ``"none"``.
        dropout: Dropout rate after each hidden activation, in [0, 1). Default 0.
        dropout_kind: ``"standard"`` (``Dropout``) or ``"alpha"`` (``AlphaDropout``,
            which keeps the mean and variance of SELU activations: the dropout of
            self-normalizing networks, Klambauer et al. 2017, arXiv 1706.02515;
            see the ``mnist1d-snn`` preset). Default ``"standard"``.
        recompute_every: Gradient checkpointing: wrap every ``k`` hidden
            layers in a :class:`~kerastricks.models.recompute.Recompute`
            segment (activations recomputed in the backward pass); ``"auto"``
            is ``round(sqrt(depth))``, 0 (default) turns it off. Needs
            ``dropout = 0``.
        kernel_regularizer: Python-only: regularizer for every Dense kernel
            (not a recipe option).

    Returns:
        A functional ``keras.Model`` named ``"mlp"`` with float32 logits.
    """
    activation = resolve_activation(activation)
    kernel_initializer = resolve_initializer(kernel_initializer)
    use_bias = not norm_centers(norm)

    every = _recompute.resolve_every(recompute_every, depth)
    if every and dropout > 0:
        raise ConfigError("recomputed layers cannot contain dropout (the recomputation would draw a new mask)",
                          key="model.recompute_every", expected="0 while model.dropout > 0",
                          received=recompute_every)
    segments = _recompute.SegmentBuilder(every, prefix="mlp")

    def hidden(i: int):
        def block(x):
            x = keras.layers.Dense(
                width,
                use_bias=use_bias,
                kernel_initializer=kernel_initializer,
                kernel_regularizer=kernel_regularizer,
                name=f"dense{i}",
            )(x)
            x = make_norm(norm, 0, name=f"dense{i}_norm")(x)
            x = keras.layers.Activation(activation, name=f"dense{i}_act")(x)
            if dropout > 0:
                kind = keras.layers.AlphaDropout if dropout_kind == "alpha" else keras.layers.Dropout
                x = kind(dropout, name=f"dense{i}_dropout")(x)
            return x

        return block

    inputs = model_input(input_shape)
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in range(1, depth + 1):
        x = segments.block(x, hidden(i))
    x = segments.flush(x)
    outputs = logits_head(x, num_outputs, kernel_regularizer=kernel_regularizer)
    return keras.Model(inputs, outputs, name="mlp")
