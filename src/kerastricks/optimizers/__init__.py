"""Optimizers by name, for recipes.

Keras's own optimizers are registered under their Keras names with their own
signatures as option schemas (``weight_decay``, ``clipnorm``, ``clipvalue``,
``global_clipnorm``, ``gradient_accumulation_steps``, ``use_ema`` come from
Keras's base optimizer and are not re-implemented). kerastricks's optimizers
register here too as they land.
"""

from __future__ import annotations

from typing import Any

import keras

from kerastricks.errors import ConfigError
from kerastricks.registry import Registry
from kerastricks.validation import validate_options

OPTIMIZERS: Registry = Registry("optimizer")

_KERAS = {
    "sgd": (keras.optimizers.SGD, "Stochastic gradient descent with optional (Nesterov) momentum."),
    "rmsprop": (keras.optimizers.RMSprop, "RMSprop (Hinton 2012)."),
    "adagrad": (keras.optimizers.Adagrad, "Adagrad (Duchi et al. 2011)."),
    "adadelta": (keras.optimizers.Adadelta, "Adadelta (Zeiler 2012)."),
    "adam": (keras.optimizers.Adam, "Adam (Kingma & Ba 2015)."),
    "adamw": (keras.optimizers.AdamW, "Adam with decoupled weight decay (Loshchilov & Hutter 2019)."),
    "adamax": (keras.optimizers.Adamax, "Adamax, the infinity-norm Adam variant."),
    "nadam": (keras.optimizers.Nadam, "Adam with Nesterov momentum (Dozat 2016)."),
    "lion": (keras.optimizers.Lion, "Lion, sign-based momentum (Chen et al. 2023)."),
    "keras_adafactor": (
        keras.optimizers.Adafactor,
        "Keras's Adafactor (keeps a full-size slot per variable).",
    ),
}
for _name, (_cls, _desc) in _KERAS.items():
    OPTIMIZERS.register(_name, _cls, description=_desc, source="keras")

#: Filled by the trainer from [optimizer] / the schedule, never validated twice.
CONTEXT_ARGS = ("learning_rate",)


def validate_optimizer_options(name: str, options: dict[str, Any], *, file: str | None = None,
                               fill_defaults: bool = False) -> dict[str, Any]:
    entry = OPTIMIZERS.get(name, key="optimizer.name")
    return validate_options(entry.obj, options, section="optimizer", file=file, fill_defaults=fill_defaults)


def build_optimizer(name: str, options: dict[str, Any] | None = None, *, learning_rate: Any = None,
                    file: str | None = None) -> keras.optimizers.Optimizer:
    """Build the named optimizer; ``learning_rate`` (float or schedule) overrides the option."""
    entry = OPTIMIZERS.get(name, key="optimizer.name")
    opts = validate_options(entry.obj, dict(options or {}), section="optimizer", file=file)
    if learning_rate is not None:
        opts["learning_rate"] = learning_rate
    try:
        return entry.obj(**opts)
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc).splitlines()[0], file=file, key="optimizer") from None


__all__ = ["OPTIMIZERS", "build_optimizer", "validate_optimizer_options"]
