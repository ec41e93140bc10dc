"""A small model zoo, by name: ``build_model("resnet", input_shape=..., num_outputs=...)``.

Every model is a *functional* ``keras.Model`` (so ``keras.models.clone_model``
works on it) that ends in a Dense layer named ``"logits"`` with
``dtype="float32"``: linear outputs (losses use ``from_logits=True``;
regression reads them as predictions) that stay float32 under mixed precision.
Models use public Keras layers only, so they save to ``.keras`` and load back
without kerastricks installed.

A builder's keyword-only options are its recipe schema (see
:mod:`kerastricks.validation`): ``build_model`` rejects unknown keys with a
suggestion, checks types and ranges, and checks that ``activation``,
``kernel_initializer``, ``conv`` and ``norm`` name things that exist, all before
any layer is built. Convolution and normalization kinds come from the
:data:`~kerastricks.models.blocks.CONVS` / :data:`~kerastricks.models.blocks.NORMS`
registries, so a technique that registers a new kind reaches every conv builder.

``kernel_regularizer`` is a Python-only argument of :func:`build_model` (not a
recipe option, excluded from the option schema by :data:`BUILDER_ARGUMENTS`):
it is passed to every builder, which hands it to every kernel it creates
(conv, dense, recurrent input kernels; not recurrent kernels, norms or biases).
Regularization chosen in a recipe can instead be added to any built model
with ``keras.models.clone_model``, since every model here is functional.

Registering your own model::

    from kerastricks.models import register_model
    from kerastricks.validation import PositiveInt

    @register_model("tiny", description="one hidden layer", input_kind="any")
    def tiny(input_shape, num_outputs, task="classification", *, units: PositiveInt = 8):
        inputs = keras.Input(input_shape)
        x = keras.layers.Dense(units, activation="relu")(keras.layers.Flatten()(inputs))
        return keras.Model(inputs, keras.layers.Dense(num_outputs, name="logits", dtype="float32")(x))
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError, UserError
from kerastricks.models import cnn as _cnn
from kerastricks.models import mlp as _mlp
from kerastricks.models import resnet as _resnet
from kerastricks.models import rnn as _rnn
from kerastricks.models.blocks import (
    CONVS,
    NORMS,
    register_conv,
    register_norm,
    resolve_activation,
    resolve_initializer,
    resolve_regularizer,
)
from kerastricks.models.constraints import add_max_norm, split_shared_model_options
from kerastricks.registry import Registry
from kerastricks.validation import defaults_of, validate_options

Builder = Callable[..., Any]  # -> keras.Model

MODELS: Registry[Builder] = Registry("model")
"""Model builders by name, with ``description`` and ``input_kind`` metadata."""

BUILDER_ARGUMENTS = ("input_shape", "num_outputs", "task", "kernel_regularizer")
"""Builder arguments filled by kerastricks, never recipe options."""

INPUT_KINDS = ("any", "sequence", "image")
"""``input_kind`` values: what input a model accepts (``sequence`` models may also read images)."""

TASKS = ("classification", "regression")

# Option name -> check run on its value (given or default) before building.
_CHOICE_CHECKS: dict[str, Callable[..., Any]] = {
    "activation": resolve_activation,
    "kernel_initializer": resolve_initializer,
    "conv": lambda value, key: CONVS.get(value, key=key),
    "norm": lambda value, key: NORMS.get(value, key=key),
}


def _in_file(error: UserError, file: str | None) -> UserError:
    return error.with_context(file=file) if file and not error.file else error


def register_model(
    name: str,
    builder: Builder | None = None,
    *,
    description: str,
    input_kind: str = "any",
) -> Any:
    """Register a model builder under ``name``; without ``builder``, a decorator.

    A builder is called as ``builder(input_shape=..., num_outputs=..., task=...,
    **options)`` (plus ``kernel_regularizer=`` when the caller gives one) and
    returns a functional ``keras.Model`` ending in float32 logits. Its
    keyword-only arguments, with annotations such as ``PositiveInt`` or
    ``Literal[...]``, are the options a recipe may set.

    Args:
        name: Registry name, case-insensitive (``-`` and ``_`` alike).
        builder: The builder function.
        description: One line shown by ``kerastricks list``.
        input_kind: ``"any"``, ``"sequence"`` or ``"image"``.

    Raises:
        ValueError: bad ``input_kind`` or a name already registered.
        TypeError: the builder does not take ``input_shape``, ``num_outputs``
            and ``task``.
    """
    if input_kind not in INPUT_KINDS:
        raise ValueError(
            f"Argument `input_kind` must be one of {', '.join(INPUT_KINDS)}. Received: input_kind={input_kind!r}"
        )

    def add(fn: Builder) -> Builder:
        params = inspect.signature(fn).parameters
        missing = [p for p in ("input_shape", "num_outputs", "task") if p not in params]
        if missing:
            raise TypeError(f"model builder {name!r} must accept {', '.join(missing)}")
        MODELS.register(
            name,
            fn,
            description=description,
            defaults=defaults_of(fn, BUILDER_ARGUMENTS),
            input_kind=input_kind,
        )
        return fn

    return add if builder is None else add(builder)


register_model(
    "mlp",
    _mlp.mlp,
    description="multi-layer perceptron on flattened input",
    input_kind="any",
)
register_model(
    "cnn1d",
    _cnn.cnn1d,
    description="1-D conv-norm-act stack with downsampling, for (length, channels) sequences",
    input_kind="sequence",
)
register_model(
    "mnist1d_cnn",
    _cnn.mnist1d_cnn,
    description="the MNIST-1D paper's 3-layer CNN baseline (Greydanus 2020)",
    input_kind="sequence",
)
register_model(
    "cnn2d",
    _cnn.cnn2d,
    description="VGG-style 2-D CNN: conv-norm-act stages, max-pooling, GAP head",
    input_kind="image",
)
register_model(
    "resnet",
    _resnet.resnet,
    description="CIFAR-style ResNet of depth 6n+2 (He et al. 2016)",
    input_kind="image",
)
register_model(
    "gru",
    _rnn.gru,
    description="stacked (bidirectional) GRU; images are read row by row",
    input_kind="sequence",
)
register_model(
    "lstm",
    _rnn.lstm,
    description="stacked (bidirectional) LSTM; images are read row by row",
    input_kind="sequence",
)


def check_model_choices(options: dict[str, Any], *, file: str | None = None) -> None:
    """Check the named choices (activation, initializer, conv, norm) of validated model options."""
    try:
        for key, check in _CHOICE_CHECKS.items():
            if options.get(key) is not None:
                check(options[key], key=f"model.{key}")
    except UserError as exc:
        raise _in_file(exc, file) from None


def validate_model_options(
    name: str,
    options: dict[str, Any] | None = None,
    *,
    file: str | None = None,
) -> dict[str, Any]:
    """Check a recipe's ``[model]`` options without building anything.

    Args:
        name: Registry name of the model.
        options: Option name -> value, as in the recipe.
        file: Recipe file named in errors.

    Returns:
        The given options, coerced to their annotated types.

    Raises:
        ConfigError: unknown model (key ``model.name``), unknown option key,
            out-of-range value, or an ``activation`` / ``kernel_initializer`` /
            ``conv`` / ``norm`` that does not exist (key ``model.<option>``).
    """
    try:
        options = dict(options or {})
        shared = split_shared_model_options(options, file=file)  # max_norm: every model takes it
        entry = MODELS.get(name, key="model.name")
        validated = validate_options(
            entry.obj, options, section="model", file=file, exclude=BUILDER_ARGUMENTS
        )
        merged = {**entry.defaults, **validated}
        for key, check in _CHOICE_CHECKS.items():
            if merged.get(key) is not None:
                check(merged[key], key=f"model.{key}")
    except UserError as exc:
        raise _in_file(exc, file) from None
    return {**validated, **shared}


def _is_count(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _check_shape(input_shape: Any, num_outputs: Any, task: Any) -> tuple[int, ...]:
    if task not in TASKS:
        raise ConfigError(key="task", expected=f"one of {', '.join(TASKS)}", received=task)
    if not _is_count(num_outputs):
        raise ConfigError(key="num_outputs", expected="an integer >= 1", received=num_outputs)
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if not shape or not all(_is_count(d) for d in shape):
        raise ConfigError(
            key="input_shape",
            expected="a tuple of positive integers, e.g. (40, 1) or (32, 32, 3)",
            received=input_shape,
        )
    return tuple(int(d) for d in shape)


def build_model(
    name: str,
    *,
    input_shape: Sequence[int],
    num_outputs: int,
    task: str = "classification",
    options: dict[str, Any] | None = None,
    file: str | None = None,
    kernel_regularizer: Any = None,
) -> keras.Model:
    """Build the registered model ``name``.

    Args:
        name: Registry name (``"mlp"``, ``"cnn1d"``, ``"mnist1d_cnn"``,
            ``"cnn2d"``, ``"resnet"``, ``"gru"``, ``"lstm"`` or one you
            registered); case-insensitive.
        input_shape: Shape of one example, without the batch axis.
        num_outputs: Classes (classification) or targets (regression), >= 1.
        task: ``"classification"`` or ``"regression"``; both end in
            ``num_outputs`` linear float32 units named ``"logits"``.
        options: The recipe's model options (see each builder's Args), plus
            ``max_norm`` (every model: ``MaxNorm`` on every kernel, see
            :mod:`kerastricks.models.constraints`).
        file: Recipe file named in errors.
        kernel_regularizer: Python-only: a Keras regularizer applied to every
            kernel the builder creates (None: none).

    Returns:
        A functional ``keras.Model``, not compiled.

    Raises:
        ConfigError: as :func:`validate_model_options`, plus a bad
            ``input_shape`` / ``num_outputs`` / ``task``, an input the model
            cannot read (key ``model.name``) or a bad ``model.depth`` for ResNet.

    Example:
        >>> model = build_model("resnet", input_shape=(32, 32, 3), num_outputs=10,
        ...                     options={"depth": 20})
    """
    try:
        shape = _check_shape(input_shape, num_outputs, task)
        resolve_regularizer(kernel_regularizer)
    except UserError as exc:
        raise _in_file(exc, file) from None
    validated = validate_model_options(name, options, file=file)
    max_norm = validated.pop("max_norm", None)
    entry = MODELS.get(name)
    extra = {}
    if kernel_regularizer is not None:
        if "kernel_regularizer" not in inspect.signature(entry.obj).parameters:
            raise ConfigError(
                f"model '{entry.name}' does not accept a kernel_regularizer", key="kernel_regularizer"
            )
        extra["kernel_regularizer"] = kernel_regularizer
    try:
        model = entry.obj(input_shape=shape, num_outputs=int(num_outputs), task=task, **validated, **extra)
        if max_norm is not None:
            model, _ = add_max_norm(model, max_norm)
        return model
    except UserError as exc:
        raise _in_file(exc, file) from None


def describe_models() -> list[dict[str, Any]]:
    """One row per registered model: name, description, input kind, option defaults."""
    return [
        {
            "name": e.name,
            "description": e.description,
            "input_kind": e.meta.get("input_kind", "any"),
            "options": dict(e.defaults),
        }
        for e in MODELS
    ]


__all__ = [
    "BUILDER_ARGUMENTS",
    "CONVS",
    "INPUT_KINDS",
    "MODELS",
    "NORMS",
    "build_model",
    "check_model_choices",
    "describe_models",
    "register_conv",
    "register_model",
    "register_norm",
    "validate_model_options",
]
