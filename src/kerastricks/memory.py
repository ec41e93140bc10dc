"""How much memory an optimizer's state takes, next to the parameters it trains.

:func:`optimizer_state` measures one optimizer on one model;
:func:`compare_optimizers` measures the usual alternatives on the same model,
which is what ``kerastricks memory`` prints.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

#: The optimizers ``kerastricks memory`` compares (label, registry name, options).
REFERENCE_OPTIMIZERS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("adam", "adam", {}),
    ("sgd + momentum", "sgd", {"momentum": 0.9}),
    ("keras_adafactor", "keras_adafactor", {}),
    ("adafactor (kerastricks)", "adafactor", {}),
    ("sm3", "sm3", {}),
)

#: Bookkeeping variables every Keras optimizer keeps (step counter, learning rate).
BOOKKEEPING = ("iteration", "learning_rate")


def _size(var: Any) -> tuple[int, int]:
    n = int(np.prod(var.shape)) if len(var.shape) else 1
    return n, n * np.dtype(keras.backend.standardize_dtype(var.dtype)).itemsize


def optimizer_state(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> dict[str, Any]:
    """The size of ``optimizer``'s state for training ``model``'s trainable variables.

    If ``optimizer`` is not built yet, a copy of it (``from_config``) is built
    on the model's trainable variables and measured, so neither the model nor
    the optimizer is changed. The step counter and learning-rate variables are
    counted apart from the state (``bookkeeping_scalars``).

    Args:
        model: A built Keras model.
        optimizer: A Keras optimizer (built for ``model`` or not).

    Returns:
        A dict with ``params`` (trainable scalars), ``param_bytes``,
        ``state_scalars``, ``state_bytes``, ``bookkeeping_scalars``,
        ``ratio`` (state scalars per parameter) and ``variables`` (number of
        state variables).

    Example:

    >>> from kerastricks.optimizers import SM3
    >>> optimizer_state(model, SM3())["ratio"]  # doctest: +SKIP
    0.0039
    """
    if not model.built:
        raise ValueError(f"Argument `model` must be built. Received: model={model.name} (not built)")
    params = list(model.trainable_variables)
    if not optimizer.built:
        optimizer = type(optimizer).from_config(optimizer.get_config())
        optimizer.build(params)
    n_params = sum(_size(v)[0] for v in params)
    param_bytes = sum(_size(v)[1] for v in params)
    state = bookkeeping = state_bytes = n_vars = 0
    for var in optimizer.variables:
        n, nbytes = _size(var)
        if len(var.shape) == 0 and var.name in BOOKKEEPING:
            bookkeeping += n
            continue
        state += n
        state_bytes += nbytes
        n_vars += 1
    return {
        "params": n_params,
        "param_bytes": param_bytes,
        "state_scalars": state,
        "state_bytes": state_bytes,
        "bookkeeping_scalars": bookkeeping,
        "ratio": state / n_params if n_params else 0.0,
        "variables": n_vars,
    }


def compare_optimizers(model: keras.Model, optimizer: keras.optimizers.Optimizer | None = None,
                       label: str = "recipe") -> list[dict[str, Any]]:
    """:func:`optimizer_state` for ``optimizer`` (if given) and every reference optimizer.

    Each row also holds ``vs_adam``: its state divided by Adam's.

    Args:
        model: A built Keras model.
        optimizer: An extra optimizer to measure first (e.g. a recipe's).
        label: That optimizer's row label.

    Returns:
        One dict per optimizer with ``name`` plus the keys of
        :func:`optimizer_state`.
    """
    from kerastricks.optimizers import build_optimizer

    rows = []
    if optimizer is not None:
        rows.append({"name": label, **optimizer_state(model, optimizer)})
    for name, registry_name, options in REFERENCE_OPTIMIZERS:
        rows.append({"name": name, **optimizer_state(model, build_optimizer(registry_name, options))})
    adam = next(r for r in rows if r["name"] == "adam")["state_scalars"]
    for row in rows:
        row["vs_adam"] = row["state_scalars"] / adam if adam else 0.0
    return rows


def recipe_model_and_optimizer(recipe: Any) -> tuple[keras.Model, keras.optimizers.Optimizer]:
    """The model and optimizer a run of ``recipe`` would train with (techniques applied).

    Built by the trainer's own setup (:func:`kerastricks.build.build_components`:
    data, model, optimizer and loss phases); nothing is trained.
    """
    from kerastricks.build import build_components
    from kerastricks.runtime import prepared
    from kerastricks.techniques import TrainContext

    with prepared(recipe.train, file=recipe.source):
        ctx = TrainContext.for_recipe(recipe)
        parts = build_components(recipe, ctx, recipe.build_techniques())
    return parts.model, parts.optimizer


def format_table(rows: list[dict[str, Any]]) -> str:
    """The table ``kerastricks memory`` prints."""
    headers = ("optimizer", "state scalars", "state bytes", "per param", "vs adam")
    cells = [headers] + [
        (r["name"], f"{r['state_scalars']:,}", format_bytes(r["state_bytes"]), f"{r['ratio']:.4f}",
         f"{r['vs_adam']:.4f}")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_bytes(n: int) -> str:
    """``n`` bytes as a short human-readable string (KiB/MiB/GiB)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover


__all__ = [
    "REFERENCE_OPTIMIZERS",
    "compare_optimizers",
    "format_bytes",
    "format_table",
    "optimizer_state",
    "recipe_model_and_optimizer",
]
