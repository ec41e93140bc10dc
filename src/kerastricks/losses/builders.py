"""Loss builders by name, for recipes (importable without Keras).

Classification models in the zoo output logits, so cross-entropy losses are
built with ``from_logits=True``. ``"auto"`` picks cross-entropy for
classification data and mean squared error for regression data.

Long-tail losses (``class_balanced``, ``ldam``, ``logit_adjusted``,
``balanced_softmax``) need the training set's examples per class: the
trainer passes them to :func:`build_loss` as ``class_counts`` (they are not a
recipe option).
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import numpy as np

from kerastricks._lazy import LazyModule, keras
from kerastricks.errors import ConfigError
from kerastricks.registry import Registry
from kerastricks.validation import Fraction, NonNegativeFloat, PositiveFloat

_crossentropy = LazyModule("kerastricks.losses.crossentropy")
_long_tail = LazyModule("kerastricks.losses.long_tail")
_regression = LazyModule("kerastricks.losses.regression")

LOSSES: Registry = Registry("loss")

#: Arguments the trainer supplies (not recipe options).
CONTEXT_ARGS = ("task", "class_counts")


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
        return _crossentropy.SparseCrossentropy(label_smoothing=label_smoothing)
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


@LOSSES.register("huber", description="Huber loss with threshold delta (regression).", task="regression")
def huber(*, task: str, delta: PositiveFloat = 1.0) -> keras.losses.Loss:
    """Huber loss.

    Args:
        delta: Point where the loss turns from quadratic to linear.
    """
    return _regression.Huber(delta=delta)


@LOSSES.register(
    "focal",
    description="Keras's categorical focal cross-entropy (Lin et al. 2017) on integer labels, from logits.",
    task="classification",
)
def focal(*, task: str, gamma: NonNegativeFloat = 2.0, alpha: PositiveFloat = 0.25) -> keras.losses.Loss:
    """Focal loss ``-alpha (1 - p_y)^gamma log p_y``.

    Args:
        gamma: Focusing parameter >= 0 (0 is cross-entropy scaled by alpha).
        alpha: Constant factor (Keras's default 0.25).
    """
    return _long_tail.SparseCategoricalFocalCrossentropy(alpha=alpha, gamma=gamma, from_logits=True)


@LOSSES.register(
    "class_balanced",
    description="Class-balanced loss (Cui et al. 2019): weights 1/effective number; softmax, sigmoid or focal.",
    task="classification",
)
def class_balanced(*, task: str, class_counts, beta: Fraction = 0.9999,
                   base: Literal["softmax", "sigmoid", "focal"] = "softmax",
                   gamma: NonNegativeFloat = 2.0) -> keras.losses.Loss:
    """Class-balanced loss.

    Args:
        beta: Effective-number hyper-parameter in [0, 1).
        base: Base loss: "softmax", "sigmoid" or "focal".
        gamma: Focusing parameter of the focal base.
    """
    return _long_tail.ClassBalancedLoss(class_counts, beta=beta, base=base, gamma=gamma)


@LOSSES.register(
    "ldam",
    description="LDAM loss (Cao et al. 2019): per-class margins ~ n^(-1/4); pair with technique drw.",
    task="classification",
)
def ldam(*, task: str, class_counts, max_margin: PositiveFloat = 0.5, scale: PositiveFloat = 30.0) -> keras.losses.Loss:
    """LDAM loss.

    Args:
        max_margin: Margin of the rarest class.
        scale: Logit scale s (30 in the paper, for a cosine classifier).
    """
    return _long_tail.LDAMLoss(class_counts, max_margin=max_margin, scale=scale)


@LOSSES.register(
    "logit_adjusted",
    description="Logit-adjusted cross-entropy (Menon et al. 2020): softmax(z + tau log prior).",
    task="classification",
)
def logit_adjusted(*, task: str, class_counts, tau: NonNegativeFloat = 1.0) -> keras.losses.Loss:
    """Logit-adjusted loss.

    Args:
        tau: Adjustment strength (1 in the paper).
    """
    return _long_tail.LogitAdjustedLoss(class_counts, tau=tau)


@LOSSES.register(
    "balanced_softmax",
    description="Balanced softmax cross-entropy (Ren et al. 2020): softmax(z + log n).",
    task="classification",
)
def balanced_softmax(*, task: str, class_counts) -> keras.losses.Loss:
    return _long_tail.BalancedSoftmaxLoss(class_counts)


def needs_class_counts(name: str) -> bool:
    """Whether the named loss is built from the training set's class counts."""
    return "class_counts" in inspect.signature(LOSSES.get(name, key="loss.name").schema).parameters


def build_loss(name: str, options: dict[str, Any] | None, *, task: str, file: str | None = None,
               class_counts=None, validated: bool = False) -> keras.losses.Loss:
    """Build the named loss for a ``task`` ("classification" or "regression").

    Args:
        name: A name in ``LOSSES``.
        options: The recipe's ``[loss]`` options (without ``name``).
        task: The data's task.
        file: The recipe, named in errors.
        class_counts: Training examples per class (classification), for the
            long-tail losses; a class with no example raises ``ConfigError``.
    """
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
    if validated:
        opts = dict(options or {})
    else:
        opts = LOSSES.validate(entry.name, options, section="loss", file=file, exclude=CONTEXT_ARGS,
                               fill_defaults=False)[1]
    if "class_counts" not in inspect.signature(entry.schema).parameters:
        return LOSSES.build(entry.name, opts, section="loss", file=file, validated=True, context={"task": task})
    if class_counts is None:
        raise ConfigError(
            f"loss '{entry.name}' needs the class counts of the training data",
            file=file, key="loss.name", expected="class_counts (the trainer passes them)", received="no class counts",
        )
    counts = np.asarray(class_counts)
    if counts.ndim != 1 or len(counts) < 2 or np.any(counts <= 0):
        empty = [int(i) for i in np.flatnonzero(counts <= 0)] if counts.ndim == 1 else []
        raise ConfigError(
            f"loss '{entry.name}' needs at least one training example of every class",
            file=file, key="loss.name",
            expected="every class count > 0",
            received=f"0 examples of class {', '.join(map(str, empty))}" if empty else counts.tolist(),
        )
    return LOSSES.build(entry.name, opts, section="loss", file=file, validated=True,
                        context={"task": task, "class_counts": counts.tolist()})


