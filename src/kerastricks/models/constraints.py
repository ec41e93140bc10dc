"""Max-norm weight constraints on every kernel of a built model, and the model options every builder shares.

``[model] max_norm = r`` (any registered model) rebuilds the built model with a
``keras.constraints.MaxNorm(r)`` on every kernel: after each optimizer step the
incoming weights of each output unit are rescaled so their L2 norm is at most
``r`` (Srivastava et al. 2014, section 5.1). The constraint is Keras's own; the
optimizer applies it after every update, and it is part of the layer's config,
so the model saves to ``.keras`` and loads back with it.

A kernel's "unit" is its last axis (Keras layouts: Dense ``(in, out)``,
ConvND ``(*window, in, out)``, recurrent input kernels ``(in, gates * units)``),
so the norm is taken over every other axis; Keras's ``MaxNorm`` default
(``axis=0``) is right only for Dense kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError
from kerastricks.validation import PositiveFloat, validate_options

#: ``[model]`` keys every model accepts; :func:`~kerastricks.models.build_model` applies them after building.
SHARED_MODEL_KEYS = ("max_norm",)


def shared_model_settings(*, max_norm: Optional[PositiveFloat] = None) -> None:
    """``[model]`` keys that every model takes, whatever its builder.

    Args:
        max_norm: Largest L2 norm of each unit's incoming weights, on every
            kernel (``keras.constraints.MaxNorm``); unset: no constraint.
            Srivastava et al. (2014) report values of 3 to 4.
    """


def split_shared_model_options(options: dict[str, Any], *, file: str | None = None) -> dict[str, Any]:
    """Remove the shared keys from ``options`` (in place) and return them validated (unset ones omitted)."""
    given = {k: options.pop(k) for k in SHARED_MODEL_KEYS if k in options}
    validated = validate_options(shared_model_settings, given, section="model", file=file)
    return {k: v for k, v in validated.items() if v is not None}


def kernel_axes(kernel: Any) -> list[int]:
    """The axes of ``kernel`` that a unit's norm runs over: all but the last."""
    rank = len(kernel.shape)
    return list(range(max(rank - 1, 1)))


def _kernel_of(layer: Any) -> Any:
    kernel = getattr(layer, "kernel", None)
    if kernel is None and getattr(layer, "cell", None) is not None:  # RNN layers keep it on the cell
        kernel = getattr(layer.cell, "kernel", None)
    if kernel is None and getattr(layer, "forward_layer", None) is not None:  # Bidirectional
        return _kernel_of(layer.forward_layer)
    return kernel


def rebuild_layers(model: keras.Model, edit: Callable[[Any, dict[str, Any]], bool], *,
                   key: str) -> tuple[keras.Model, int]:
    """A copy of ``model`` whose layers were rebuilt from configs that ``edit`` changed, with the same weights.

    ``edit(layer, config)`` changes ``config`` in place and returns whether it
    did. The model is rebuilt with ``keras.models.clone_model``, so it must be
    functional or sequential; weights are copied, so a trained model keeps its values.

    Args:
        model: The model.
        edit: Called once per layer with the layer and a copy of its config.
        key: The recipe key named when the model cannot be cloned (``techniques.l2``).

    Returns:
        The new model and the number of layers changed.
    """
    changed = 0

    def clone(layer):
        nonlocal changed
        config = layer.get_config()
        touched = edit(layer, config)
        changed += int(bool(touched))
        return layer.__class__.from_config(config)

    try:
        new = keras.models.clone_model(model, clone_function=clone)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{key.rsplit('.', 1)[-1]} needs a functional or sequential Keras model",
            key=key,
            expected="a functional/sequential model",
            received=f"{type(model).__name__} ({str(exc).splitlines()[0]})",
        ) from None
    new.set_weights(model.get_weights())
    return new, changed


def add_max_norm(model: keras.Model, max_value: float, *, key: str = "model.max_norm") -> tuple[keras.Model, int]:
    """A copy of ``model`` with ``MaxNorm(max_value)`` on every kernel (each unit's norm over all but the last axis).

    Every layer whose config has a ``kernel_constraint`` (Dense, convolutions,
    the input kernels of GRU/LSTM) gets one; recurrent kernels, biases and
    normalization parameters are left alone. Weights are copied as they are
    (not projected): the constraint acts from the first optimizer step on.

    Args:
        model: A functional or sequential model.
        max_value: The largest norm, > 0.
        key: The recipe key named in errors.

    Returns:
        The new model and the number of layers constrained.

    Example:

    >>> model, n = add_max_norm(model, 3.0)
    """
    if not max_value > 0:
        raise ValueError(f"Argument `max_value` must be > 0. Received: max_value={max_value}")

    def edit(layer, config):
        if "kernel_constraint" not in config:
            return False
        kernel = _kernel_of(layer)
        axis = kernel_axes(kernel) if kernel is not None else [0]
        config["kernel_constraint"] = keras.constraints.MaxNorm(max_value, axis=axis[0] if len(axis) == 1 else axis)
        return True

    return rebuild_layers(model, edit, key=key)


__all__ = ["SHARED_MODEL_KEYS", "add_max_norm", "kernel_axes", "rebuild_layers",
           "shared_model_settings", "split_shared_model_options"]
