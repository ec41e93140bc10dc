"""The search space: a TOML file of ``[[param]]`` tables, each a recipe key and its range.

.. code-block:: toml

    [[param]]
    key = "optimizer.learning_rate"
    type = "float"          # float | int | categorical
    low = 1e-4
    high = 3e-2
    log = true              # sample on a log scale (low > 0)
    # step = 0.5            # float/int: a grid of low, low + step, ... (not with log)
    [[param]]
    key = "schedule.name"
    type = "categorical"
    choices = ["one_cycle", "cosine", "triangular2"]

Every parameter is checked against the recipe schema before any trial runs: its range ends and every
choice are applied, one parameter at a time, to the base recipe and validated, so an unknown key or a
value the recipe rejects fails at once with the space file and the key named. A trial's values become
``--set`` assignments on the base recipe (switching a component by its ``name`` drops the options the
base recipe gave the previous one, exactly as ``--set`` does on the command line).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kerastricks.errors import ConfigError, UserError
from kerastricks.recipes import Recipe, apply_overrides, recipe_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TYPES = ("float", "int", "categorical")
PARAM_KEYS = ("key", "type", "low", "high", "log", "step", "choices")


@dataclass(frozen=True)
class Param:
    """One searched recipe key."""

    key: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.choices is not None:
            data["choices"] = list(self.choices)
        return {k: v for k, v in data.items() if v is not None and not (k == "log" and v is False)}

    def probes(self) -> list[Any]:
        """The values checked against the recipe schema: both ends of a range, every choice."""
        if self.type == "categorical":
            return list(self.choices or ())
        return [self.low, self.high] if self.low != self.high else [self.low]

    def grid(self) -> list[Any]:
        """Every value of a discrete parameter (for the grid sampler)."""
        if self.type == "categorical":
            return list(self.choices or ())
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [float(f"{self.low + i * self.step:.12g}") for i in range(count)]

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this parameter's value."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), step=self.step, log=self.log)


def _number(value: Any, *, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def parse_param(table: Any, index: int, file: str) -> Param:
    """Validate one ``[[param]]`` table."""
    where = f"param[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(file=file, key=where, expected="a table with key, type and a range or choices",
                          received=table)
    key = table.get("key")
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(file=file, key=f"{where}.key", expected="a dotted recipe key like optimizer.learning_rate",
                          received=key)
    unknown = sorted(set(table) - set(PARAM_KEYS))
    if unknown:
        raise ConfigError("unknown setting", file=file, key=f"{key}.{unknown[0]}",
                          expected=f"one of {', '.join(PARAM_KEYS)}", received=unknown[0])
    kind = table.get("type")
    if kind not in TYPES:
        raise ConfigError(file=file, key=f"{key}.type", expected=f"one of {', '.join(TYPES)}", received=kind)
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(file=file, key=f"{key}.log", expected="true or false", received=log)
    if kind == "categorical":
        extra = sorted(set(table) & {"low", "high", "log", "step"})
        if extra:
            raise ConfigError("not a categorical setting", file=file, key=f"{key}.{extra[0]}",
                              expected="choices only", received=extra[0])
        choices = table.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError("empty or missing choices", file=file, key=f"{key}.choices",
                              expected="a non-empty list of strings, numbers or booleans", received=choices)
        for choice in choices:
            if not isinstance(choice, (str, bool, int, float)) or (isinstance(choice, float)
                                                                    and not math.isfinite(choice)):
                raise ConfigError(file=file, key=f"{key}.choices",
                                  expected="strings, finite numbers or booleans", received=choice)
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise ConfigError("repeated choice", file=file, key=f"{key}.choices", expected="distinct values",
                              received=choices)
        return Param(key=key, type=kind, choices=tuple(choices))
    if "choices" in table:
        raise ConfigError(f"a {kind} parameter takes low and high", file=file, key=f"{key}.choices",
                          expected="type = \"categorical\" for a list of choices", received=table["choices"])
    integer = kind == "int"
    what = "an integer" if integer else "a finite number"
    low, high, step = table.get("low"), table.get("high"), table.get("step")
    for name, value in (("low", low), ("high", high)):
        if not _number(value, integer=integer):
            raise ConfigError(file=file, key=f"{key}.{name}", expected=what, received=value)
    if low > high:
        raise ConfigError("low > high", file=file, key=f"{key}.low", expected=f"a value <= high ({high})",
                          received=low)
    if log and low <= 0:
        raise ConfigError("a log scale needs a positive range", file=file, key=f"{key}.low",
                          expected="low > 0 with log = true", received=low)
    if step is not None:
        if not _number(step, integer=integer) or step <= 0:
            raise ConfigError(file=file, key=f"{key}.step", expected=f"{what} > 0", received=step)
        if log:
            raise ConfigError("step and log cannot be combined", file=file, key=f"{key}.step",
                              expected="no step with log = true", received=step)
    if not integer:
        low, high = float(low), float(high)
        step = None if step is None else float(step)
    return Param(key=key, type=kind, low=low, high=high, log=log, step=step)


def read_space(path: str | Path) -> list[Param]:
    """Read and check a search-space file (each table on its own; the schema check is :func:`check_space`)."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise ConfigError("search-space file not found" if not path.exists() else "is not a file", file=file,
                          key="--space")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read search space: {exc}", file=file, key="--space") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML: {exc}", file=file, key="--space") from None
    unknown = sorted(set(data) - {"param"})
    if unknown:
        raise ConfigError("unknown top-level key", file=file, key=unknown[0], expected="[[param]] tables only",
                          received=unknown[0])
    tables = data.get("param")
    if not isinstance(tables, list) or not tables:
        raise ConfigError("no parameters", file=file, key="param", expected="one or more [[param]] tables",
                          received=tables)
    params = [parse_param(t, i, file) for i, t in enumerate(tables)]
    seen: set[str] = set()
    for p in params:
        if p.key in seen:
            raise ConfigError("key searched twice", file=file, key=p.key, expected="each key in one [[param]]",
                              received=p.key)
        seen.add(p.key)
    return params


def toml_value(value: Any) -> str:
    """``value`` as a TOML literal for a ``--set`` assignment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")  # TOML forbids a raw DEL


def overrides_for(values: dict[str, Any]) -> list[str]:
    """``--set`` assignments for a trial's values (component names first, so their options survive)."""
    items = sorted(values.items(), key=lambda kv: not kv[0].endswith(".name"))
    return [f"{key}={toml_value(value)}" for key, value in items]


def trial_recipe(base_toml: str, values: dict[str, Any], *, source: str) -> Recipe:
    """The base recipe with a trial's values applied, validated (``ConfigError`` if the schema rejects it)."""
    data = tomllib.loads(base_toml)
    apply_overrides(data, overrides_for(values), file=source)
    return recipe_from_dict(data, source=source)


def check_space(params: list[Param], base_toml: str, *, fixed: list[str], file: str) -> None:
    """Raise ``ConfigError`` (naming the space file and the key) for a key the recipe does not have or a value its
    schema rejects. Each parameter's probes are applied alone to the base recipe."""
    fixed_keys = {a.partition("=")[0].strip() for a in fixed}
    for p in params:
        if p.key in fixed_keys:
            raise ConfigError("key both fixed with --set and searched", file=file, key=p.key,
                              expected="a key in the space or in --set, not both", received=f"--set {p.key}=...")
        for value in p.probes():
            try:
                trial_recipe(base_toml, {p.key: value}, source=file)
            except UserError as exc:
                raise ConfigError(f"the recipe rejects {p.key} = {toml_value(value)} ({exc.line()})", file=file,
                                  key=p.key) from None


def grid_space(params: list[Param], file: str) -> dict[str, list[Any]]:
    """The grid sampler's search space; every parameter must be discrete."""
    space = {}
    for p in params:
        if p.type == "float" and p.step is None:
            raise ConfigError("the grid sampler needs discrete values", file=file, key=f"{p.key}.step",
                              expected="a step for float parameters (or type = \"categorical\")",
                              received="no step")
        space[p.key] = p.grid()
    return space


def signature(params: list[Param]) -> list[dict[str, Any]]:
    """A JSON-ready description of the space (stored with the study; compared when it is continued)."""
    return [p.to_dict() for p in params]


def describe(params: list[Param]) -> str:
    parts = []
    for p in params:
        if p.type == "categorical":
            parts.append(f"{p.key} in {list(p.choices)}")
        else:
            parts.append(f"{p.key} in [{p.low}, {p.high}]" + (" log" if p.log else "")
                         + (f" step {p.step}" if p.step is not None else ""))
    return "; ".join(parts)
