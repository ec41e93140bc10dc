"""Optimizers by name, for recipes.

Keras's own optimizers are registered under their Keras names with their own
signatures as option schemas (``weight_decay``, ``clipnorm``, ``clipvalue``,
``global_clipnorm``, ``gradient_accumulation_steps``, ``use_ema`` come from
Keras's base optimizer and are not re-implemented). kerastricks's own
optimizers register next to them: ``adafactor`` (factored, sublinear memory;
Keras's stays ``keras_adafactor``) and ``sm3``. Adaptive gradient clipping
wraps any of them (:class:`AdaptiveGradientClipping`); in recipes it is a
mode of the ``clip`` technique.
"""

from __future__ import annotations

import re
from typing import Any

import keras

from kerastricks.errors import ConfigError
from kerastricks.optimizers.adafactor import Adafactor
from kerastricks.optimizers.agc import (
    AGC,
    AdaptiveGradientClipping,
    unitwise_clip,
    unitwise_norm,
)
from kerastricks.optimizers.sm3 import SM3
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
OPTIMIZERS.register("adafactor", Adafactor, source="kerastricks",
                    description="Adafactor with factored second moments: state sublinear in the parameters "
                                "(Shazeer & Stern 2018).")
OPTIMIZERS.register("sm3", SM3, source="kerastricks",
                    description="SM3-II: Adagrad with one accumulator per tensor axis (Anil et al. 2019).")

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
        message = str(exc).splitlines()[0]
        # Keras-style messages name the argument: "Argument `beta_1` must be ...".
        arg = re.match(r"Argument `(\w+)`", message)
        key = f"optimizer.{arg.group(1)}" if arg and arg.group(1) in opts else "optimizer"
        raise ConfigError(message, file=file, key=key) from None


__all__ = [
    "AGC",
    "OPTIMIZERS",
    "SM3",
    "Adafactor",
    "AdaptiveGradientClipping",
    "build_optimizer",
    "unitwise_clip",
    "unitwise_norm",
    "validate_optimizer_options",
]
