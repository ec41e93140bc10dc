"""Validate keyword arguments against a callable's signature.

Every named component (dataset loader, model builder, optimizer, schedule, loss,
technique) declares its options as a plain Python signature. Annotations may
carry pydantic constraints (``Annotated[int, Field(ge=1)]``); a small table of
rules by argument name (``learning_rate > 0``, ``momentum in [0, 1)``) covers
Keras classes that carry no annotations. The signature *is* the schema, so the
options a recipe accepts are exactly the options the code takes.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from kerastricks.errors import ConfigError

# Reusable constrained types for builder signatures.
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
#: Seeds: NumPy and the backends take unsigned 32-bit seeds.
Seed = Annotated[int, Field(ge=0, lt=2**32)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
UnitInterval = Annotated[float, Field(ge=0, le=1)]
OpenUnitInterval = Annotated[float, Field(ge=0, lt=1)]
Fraction = Annotated[float, Field(ge=0, lt=1)]

# Constraints applied by argument name to signatures without annotations
# (Keras optimizers and schedules).
NAME_RULES: dict[str, Any] = {
    "learning_rate": Optional[PositiveFloat],
    "seed": Seed,
    "initial_learning_rate": PositiveFloat,
    "weight_decay": Optional[NonNegativeFloat],
    "momentum": OpenUnitInterval,
    "beta_1": OpenUnitInterval,
    "beta_2": OpenUnitInterval,
    "rho": OpenUnitInterval,
    "epsilon": PositiveFloat,
    "clipnorm": Optional[PositiveFloat],
    "clipvalue": Optional[PositiveFloat],
    "global_clipnorm": Optional[PositiveFloat],
    "ema_momentum": OpenUnitInterval,
    "ema_overwrite_frequency": Optional[PositiveInt],
    "gradient_accumulation_steps": Optional[Annotated[int, Field(ge=2)]],
    "label_smoothing": Annotated[float, Field(ge=0, lt=1)],
    "dropout": Fraction,
    "patience": NonNegativeInt,
    "factor": PositiveFloat,
    "alpha": NonNegativeFloat,
    "delta": PositiveFloat,
}

# Arguments never exposed to recipes (filled by kerastricks itself or meaningless there).
HIDDEN = {"self", "name", "kwargs", "args", "dtype", "loss_scale_factor", "reduction"}


def _type_from_default(default: Any) -> Any:
    if default is None or default is inspect.Parameter.empty:
        return Any
    if isinstance(default, bool):
        return bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if isinstance(default, str):
        return str
    if isinstance(default, (list, tuple)):
        return list
    if isinstance(default, dict):
        return dict
    return Any


def _resolve_hints(fn: Callable) -> dict[str, Any]:
    """Parameter annotations of ``fn`` resolved one by one (the return annotation is never evaluated,
    so a builder annotated ``-> keras.Model`` does not import Keras when its options are validated)."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    # A wrapper's own annotations first (``functools.wraps`` copies the wrapped function's, and a wrapper that
    # adds options annotates them too); the wrapped function's when the wrapper has none.
    raw = dict(getattr(target, "__annotations__", None) or getattr(inspect.unwrap(target), "__annotations__", {}))
    raw.pop("return", None)
    namespace = dict(getattr(inspect.unwrap(target), "__globals__", {}))
    namespace.setdefault("Optional", typing.Optional)
    namespace.setdefault("Union", typing.Union)
    hints: dict[str, Any] = {}
    for pname, annotation in raw.items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)
            except Exception:  # an annotation naming a type we cannot resolve: no constraint
                continue
        hints[pname] = annotation
    return hints


@functools.cache
def schema_for(fn: Callable, exclude: tuple[str, ...] = ()) -> type[BaseModel]:
    """A pydantic model with one field per keyword argument of ``fn``."""
    sig = inspect.signature(fn)
    hints = _resolve_hints(fn)
    fields: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if pname in HIDDEN or pname in exclude:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(pname, inspect.Parameter.empty)
        if annotation is inspect.Parameter.empty or annotation is Any:
            annotation = NAME_RULES.get(pname, _type_from_default(param.default))
            if param.default is None and annotation is not Any:
                annotation = Optional[annotation]
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, default)
    name = getattr(fn, "__name__", "Options")
    return create_model(
        f"{name}Options",
        __config__=ConfigDict(extra="forbid", strict=False, arbitrary_types_allowed=True, allow_inf_nan=False),
        **fields,
    )


def option_names(fn: Callable, exclude: tuple[str, ...] = ()) -> list[str]:
    return list(schema_for(fn, tuple(exclude)).model_fields)


def defaults_of(fn: Callable, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every option of ``fn`` with its default (required options are left out)."""
    model = schema_for(fn, tuple(exclude))
    out = {}
    for key, field in model.model_fields.items():
        if not field.is_required():
            out[key] = field.get_default(call_default_factory=True)
    return out


def _describe_expected(error: dict[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    etype = error.get("type", "")
    bounds = {
        "greater_than": "> {gt}",
        "greater_than_equal": ">= {ge}",
        "less_than": "< {lt}",
        "less_than_equal": "<= {le}",
    }
    if etype in bounds:
        return "a value " + bounds[etype].format(**ctx)
    if etype == "literal_error":
        return f"one of {ctx.get('expected', '')}"
    if etype == "finite_number":
        return "a finite number"
    if etype == "too_short":
        return f"at least {ctx.get('min_length')} values"
    if etype == "too_long":
        return f"at most {ctx.get('max_length')} values"
    if etype.endswith("_type") or "_parsing" in etype or etype == "int_from_float":
        kind = etype.split("_")[0]
        return {"int": "an integer", "float": "a number", "bool": "true or false",
                "string": "a string", "list": "a list", "tuple": "a list", "dict": "a table"}.get(kind, kind)
    # pydantic's own wording ("Input should be a valid ...") reads as "expected a valid ..."
    return str(error.get("msg", "a valid value")).removeprefix("Input should be ").removeprefix("Value error, ")


def validate_options(
    fn: Callable,
    options: dict[str, Any],
    *,
    section: str,
    file: str | None = None,
    exclude: tuple[str, ...] = (),
    fill_defaults: bool = False,
) -> dict[str, Any]:
    """Check ``options`` against ``fn``'s signature; return them coerced.

    Unknown keys are rejected with the closest valid key suggested; values are
    checked for type and range. Errors are :class:`ConfigError` naming
    ``file``, ``section.key``, what was expected and what was received.

    With ``fill_defaults`` the result also holds every default, which is what
    ``kerastricks show`` prints.
    """
    model = schema_for(fn, tuple(exclude))
    allowed = list(model.model_fields)
    for key in options:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            raise ConfigError(
                "unknown key",
                file=file,
                key=f"{section}.{key}",
                expected=f"one of {', '.join(allowed)}" if allowed else "no options",
                received=key,
                hint=f"did you mean '{close[0]}'?" if close else None,
            )
    try:
        validated = model.model_validate(options)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        # For Optional[...] unions pydantic reports one branch per error; keep the
        # informative (non-None) one.
        loc = loc.split(".")[0] if loc else ""
        raise ConfigError(
            file=file,
            key=f"{section}.{loc}" if loc else section,
            expected=_describe_expected(err),
            received=err.get("input"),
        ) from None
    data = validated.model_dump(exclude_unset=not fill_defaults)
    if not fill_defaults:
        data = {k: v for k, v in data.items() if k in options}
    for key, value in data.items():
        check_finite(value, key=f"{section}.{key}", file=file)
    return data


#: The largest magnitude a recipe number may have: values end up in float32 tensors
#: (3.4e38), and integers in int64 counters.
FLOAT_LIMIT = 3.4028234663852886e38
INT_LIMIT = 2**63 - 1


def check_finite(value: Any, *, key: str, file: str | None = None) -> None:
    """Raise ``ConfigError`` if ``value`` (or a number inside a list/table) is not finite or is out of range."""
    if isinstance(value, bool):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(file=file, key=key, expected="a finite number", received=value)
        if abs(value) > FLOAT_LIMIT:
            raise ConfigError(file=file, key=key, expected=f"a number of magnitude <= {FLOAT_LIMIT:.4g} (float32)",
                              received=value)
    elif isinstance(value, int):
        if abs(value) > INT_LIMIT:
            raise ConfigError(file=file, key=key, expected="an integer of magnitude < 2**63", received=value)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, key=f"{key}.{k}", file=file)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_finite(v, key=key, file=file)


__all__ = [
    "Fraction",
    "Literal",
    "NonNegativeFloat",
    "NonNegativeInt",
    "Seed",
    "check_finite",
    "OpenUnitInterval",
    "PositiveFloat",
    "PositiveInt",
    "UnitInterval",
    "defaults_of",
    "option_names",
    "schema_for",
    "validate_options",
]
