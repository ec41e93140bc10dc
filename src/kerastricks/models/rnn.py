"""Recurrent classifiers: stacked (bidirectional) GRU and LSTM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kerastricks._lazy import keras
from kerastricks.models.blocks import as_sequence, logits_head, model_input, resolve_initializer
from kerastricks.validation import Fraction, PositiveInt

_CELLS = {"gru": "GRU", "lstm": "LSTM"}  # keras.layers class names


def recurrent(
    kind: str,
    input_shape: Sequence[int],
    num_outputs: int,
    *,
    units: int,
    layers: int,
    bidirectional: bool,
    dropout: float,
    kernel_initializer: Any,
    kernel_regularizer: Any,
) -> keras.Model:
    """Shared body of :func:`gru` and :func:`lstm` (``kind`` is ``"gru"`` or ``"lstm"``)."""
    kernel_initializer = resolve_initializer(kernel_initializer)
    layer_cls = getattr(keras.layers, _CELLS[kind])
    inputs = model_input(input_shape)
    x = as_sequence(inputs, model=kind, images_as_rows=True)
    for i in range(1, layers + 1):
        last = i == layers
        # Keras's default activations (tanh / sigmoid) keep the fused cuDNN kernel
        # usable on GPU; dropout is applied between layers, not inside the cell,
        # for the same reason.
        layer = layer_cls(
            units,
            return_sequences=not last,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            name=f"{kind}{i}",
        )
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bi{kind}{i}")
        x = layer(x)
        if dropout > 0 and not last:
            x = keras.layers.Dropout(dropout, name=f"{kind}{i}_dropout")(x)
    outputs = logits_head(x, num_outputs, dropout=dropout, kernel_regularizer=kernel_regularizer)
    return keras.Model(inputs, outputs, name=kind)


def gru(
    input_shape: Sequence[int],
    num_outputs: int,
    task: str = "classification",
    *,
    units: PositiveInt = 64,
    layers: PositiveInt = 1,
    bidirectional: bool = False,
    dropout: Fraction = 0.0,
    kernel_initializer: str = "glorot_uniform",
    kernel_regularizer: Any = None,
) -> keras.Model:
    """A stacked GRU classifier (Cho et al. 2014, arXiv 1406.1078).

    The last layer's final state (both directions concatenated when
    bidirectional) feeds the logits. Images ``(height, width, channels)`` are
    read row by row: ``height`` steps of ``width * channels`` features.

    Args:
        input_shape: ``(length, features)``, ``(length,)`` or an image
            ``(height, width, channels)``.
        num_outputs: Classes or regression targets, >= 1.
        task: ``"classification"`` or ``"regression"``; both end in linear units.
        units: Hidden units per layer (per direction), >= 1. Default 64.
        layers: Number of stacked recurrent layers, >= 1. Default 1.
        bidirectional: Run each layer in both directions. Default False.
        dropout: Dropout rate between layers and before the logits, in [0, 1).
            Default 0.
        kernel_initializer: Input kernel initializer, any ``keras.initializers``
            name. Default ``"glorot_uniform"`` (Keras's); recurrent kernels keep
            Keras's ``orthogonal``.
        kernel_regularizer: Python-only: regularizer for every input and Dense
            kernel (recurrent kernels are not regularized).

    Returns:
        A functional ``keras.Model`` named ``"gru"`` with float32 logits.
    """
    return recurrent(
        "gru",
        input_shape,
        num_outputs,
        units=units,
        layers=layers,
        bidirectional=bidirectional,
        dropout=dropout,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
    )


def lstm(
    input_shape: Sequence[int],
    num_outputs: int,
    task: str = "classification",
    *,
    units: PositiveInt = 64,
    layers: PositiveInt = 1,
    bidirectional: bool = False,
    dropout: Fraction = 0.0,
    kernel_initializer: str = "glorot_uniform",
    kernel_regularizer: Any = None,
) -> keras.Model:
    """A stacked LSTM classifier (Hochreiter & Schmidhuber 1997, Neural Computation 9(8)).

    The same structure, inputs and options as :func:`gru`, with LSTM layers.

    Returns:
        A functional ``keras.Model`` named ``"lstm"`` with float32 logits.
    """
    return recurrent(
        "lstm",
        input_shape,
        num_outputs,
        units=units,
        layers=layers,
        bidirectional=bidirectional,
        dropout=dropout,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
    )

