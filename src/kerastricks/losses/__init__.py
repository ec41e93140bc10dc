"""Losses by name, for recipes, and kerastricks's loss components.

Classification models in the zoo output logits, so cross-entropy losses are
built with ``from_logits=True``. ``"auto"`` picks cross-entropy for
classification data and mean squared error for regression data.
"""

from __future__ import annotations

from typing import Any

import keras

from kerastricks.errors import ConfigError
from kerastricks.losses.crossentropy import SparseCrossentropy, smoothed_sparse_crossentropy
from kerastricks.registry import Registry
from kerastricks.validation import Fraction, PositiveFloat, validate_options

LOSSES: Registry = Registry("loss")



@LOSSES.register("auto", description="crossentropy for classification data, mse for regression data.", task="any")
def auto(*, task: str) -> keras.losses.Loss:
    return crossentropy(task=task) if task == "classification" else mse(task=task)


@LOSSES.register(
    "crossentropy",
    description="Softmax cross-entropy on integer labels (from logits), optional label smoothing.",
    task="classification",
)
def crossentropy(*, task: str, label_smoothing: Fraction = 0.0) -> keras.losses.Loss:
    """Cross-entropy on integer labels.

    Args:
        label_smoothing: Smoothing ``eps`` in [0, 1); 0 uses Keras's own sparse loss.
    """
    if label_smoothing:
        return SparseCrossentropy(label_smoothing=label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


LOSSES.register(
    "sparse_categorical_crossentropy",
    crossentropy,
    description="Keras's name for crossentropy on integer labels (same loss).",
    task="classification",
)


@LOSSES.register("mse", description="Mean squared error (regression).", task="regression")
def mse(*, task: str) -> keras.losses.Loss:
    return keras.losses.MeanSquaredError()


@LOSSES.register("mae", description="Mean absolute error (regression).", task="regression")
def mae(*, task: str) -> keras.losses.Loss:
    return keras.losses.MeanAbsoluteError()


@keras.saving.register_keras_serializable(package="kerastricks")
class Huber(keras.losses.Huber):
    """Keras's ``Huber`` whose config keeps ``delta``.

    Keras 3's ``Huber.get_config`` leaves ``delta`` out, so a saved model comes
    back with ``delta=1.0``; this subclass only adds it back.
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(delta=delta, reduction=reduction, name=name, dtype=dtype)
        self.delta = float(delta)

    def get_config(self):
        config = super().get_config()
        config["delta"] = self.delta
        return config


@LOSSES.register("huber", description="Huber loss with threshold delta (regression).", task="regression")
def huber(*, task: str, delta: PositiveFloat = 1.0) -> keras.losses.Loss:
    """Huber loss.

    Args:
        delta: Point where the loss turns from quadratic to linear.
    """
    return Huber(delta=delta)


def build_loss(name: str, options: dict[str, Any] | None, *, task: str, file: str | None = None) -> keras.losses.Loss:
    """Build the named loss for a ``task`` ("classification" or "regression")."""
    entry = LOSSES.get(name, key="loss.name")
    wanted = entry.meta.get("task", "any")
    if wanted != "any" and wanted != task:
        raise ConfigError(
            f"loss '{entry.name}' is for {wanted} and the data is {task}",
            file=file,
            key="loss.name",
            expected=f"a {task} loss",
            received=entry.name,
        )
    opts = validate_options(entry.obj, dict(options or {}), section="loss", file=file, exclude=("task",))
    return entry.obj(task=task, **opts)


__all__ = ["LOSSES", "Huber", "SparseCrossentropy", "build_loss", "smoothed_sparse_crossentropy"]
