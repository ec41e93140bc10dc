"""What a bench measures: a base recipe, its variants, the seeds and the target.

A bench is given on the command line::

    kerastricks bench --preset mnist1d --variant base --variant ema:techniques.ema.momentum=0.99 --seeds 3

or as a bench file (TOML) for a study that should be repeatable::

    description = "EMA of the weights vs none"
    preset = "mnist1d"              # or: recipe = "my-recipe.toml" (relative to this file)
    seeds = 3
    target = "val_accuracy=0.98"    # or {metric = "val_accuracy", value = 0.98, stop = true}
    [set]                           # applied to every variant
    "train.epochs" = 25
    [[variants]]
    name = "base"                   # the first variant is the baseline
    [[variants]]
    name = "ema"
    set = { "techniques.ema.momentum" = 0.99 }

Every variant's recipe is resolved and validated here, before any run starts,
so a typo in the last variant fails in a second, not after an hour.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerastricks.errors import ConfigError, UserError
from kerastricks.recipes import Recipe, load_recipe
from kerastricks.recipes.loading import read_recipe_file

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+\-]*")
#: Keys a bench file may have at its top level.
BENCH_FILE_KEYS = ("description", "preset", "recipe", "seeds", "target", "set", "variants", "repeat", "budget")
MAX_SEEDS = 100
#: ``--budget`` when ``--repeat auto`` is given without one (seconds of the whole bench).
DEFAULT_BUDGET_S = 1800.0


@dataclass
class Variant:
    """One arm of a bench: a name and the ``--set`` assignments that make it."""

    name: str
    overrides: list[str] = field(default_factory=list)
    recipe: Recipe | None = None

    def label(self) -> str:
        return f"{self.name}: " + ("; ".join(self.overrides) if self.overrides else "(the recipe as is)")


@dataclass
class BenchSpec:
    """A resolved bench: validated recipes for every variant, seeds, target."""

    variants: list[Variant]
    seeds: list[int]
    target: dict[str, Any] | None
    source: str
    description: str = ""
    common: list[str] = field(default_factory=list)
    repeat: int | str = 1
    budget: float | None = None
    noise: float = 0.05

    @property
    def baseline(self) -> Variant:
        return self.variants[0]


# --------------------------------------------------------------------------- parsing


def _split_assignments(text: str) -> list[str]:
    """Split on ``;`` outside quotes and brackets (a value may hold a list or a string)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == ";" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _check_name(name: str, key: str, file: str | None = None) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError("bad variant name", file=file, key=key,
                          expected="letters, digits, '_', '-', '.', '+' (e.g. 'ema' or 'lr-3e-3')",
                          received=name or "(empty)")
    return name


def parse_variant(text: str) -> Variant:
    """``NAME[:KEY=VALUE[;KEY=VALUE...]]`` → :class:`Variant`.

    >>> parse_variant("bf16:train.precision=mixed_bfloat16;train.batch_size=256").overrides
    ['train.precision=mixed_bfloat16', 'train.batch_size=256']
    """
    expected = "NAME[:KEY=VALUE[;KEY=VALUE...]] (e.g. ema:techniques.ema.momentum=0.99)"
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise ConfigError("malformed variant", key="--variant", expected=expected, received=text)
    overrides = _split_assignments(rest) if sep else []
    for assignment in overrides:
        key, eq, _ = assignment.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"malformed variant '{name}'", key="--variant", expected=expected, received=text)
    return Variant(name, overrides)


def parse_target(value: Any, *, key: str = "--target", file: str | None = None) -> dict[str, Any]:
    """``"val_accuracy=0.98"`` or ``{metric=..., value=..., mode=...}`` → a target table."""
    expected = "METRIC=VALUE (e.g. val_accuracy=0.98)"
    if isinstance(value, dict):
        table = dict(value)
    elif isinstance(value, str):
        metric, eq, number = value.partition("=")
        try:
            table = {"metric": metric.strip(), "value": float(number)}
        except ValueError:
            table = None
        if not eq or table is None or not table["metric"]:
            raise ConfigError("malformed target", file=file, key=key, expected=expected, received=value)
    else:
        raise ConfigError("malformed target", file=file, key=key, expected=expected, received=value)
    return table


def parse_repeat(value: Any) -> int | str:
    """``--repeat``: ``"auto"`` or a number of repetitions in [1, MAX_SEEDS] (an int or its text)."""
    if isinstance(value, str) and value.strip() == "auto":
        return "auto"
    number = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_SEEDS:
        raise ConfigError("bad repetition count", key="--repeat", expected=f"'auto' or an integer in [1, {MAX_SEEDS}]",
                          received=value)
    return number


def parse_budget(value: Any, repeat: int | str) -> float | None:
    """``--budget``: seconds (finite, > 0) that ``--repeat auto`` may spend; only with ``--repeat auto``."""
    if value is None:
        return DEFAULT_BUDGET_S if repeat == "auto" else None
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ConfigError("bad time budget", key="--budget", expected="a finite number of seconds > 0", received=value)
    if repeat != "auto":
        raise ConfigError("--budget bounds --repeat auto", key="--budget", expected="--repeat auto with --budget",
                          received=f"--repeat {repeat}")
    return seconds


def parse_noise(value: Any) -> float:
    """``--noise``: the A/A noise, a fraction in (0, 0.5) (``0.05``: ratios within 1 ± 0.05 are noise)."""
    from kerastricks.bench.stats import DEFAULT_NOISE

    if value is None:
        return DEFAULT_NOISE
    try:
        noise = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        noise = math.nan
    if not 0 < noise < 0.5:
        raise ConfigError("bad noise band", key="--noise", expected="a fraction in (0, 0.5), e.g. 0.05", received=value)
    return noise


def _toml_assignment(path: str, value: Any) -> list[str]:
    """``--set`` strings for a value from a bench file (tables flatten to dotted keys)."""
    if isinstance(value, dict):
        out: list[str] = []
        for k, v in value.items():
            out.extend(_toml_assignment(f"{path}.{k}", v))
        return out
    import tomli_w

    text = tomli_w.dumps({"v": value}).strip()
    return [f"{path}={text[len('v = '):]}"]


def _assignments(table: Any, key: str, file: str) -> list[str]:
    """A bench file's ``set`` (table of dotted keys, or a list of ``KEY=VALUE``)."""
    if table is None:
        return []
    if isinstance(table, list) and all(isinstance(x, str) for x in table):
        return list(table)
    if not isinstance(table, dict):
        raise ConfigError("bad overrides", file=file, key=key,
                          expected='a table like {"train.epochs" = 5}', received=table)
    out: list[str] = []
    for path, value in table.items():
        out.extend(_toml_assignment(path, value))
    return out


def read_bench_file(path: str | Path) -> dict[str, Any]:
    """Parse and check a bench file; returns its fields with ``variants`` as :class:`Variant`."""
    file = str(path)
    data = read_recipe_file(path)
    unknown = sorted(set(data) - set(BENCH_FILE_KEYS))
    if unknown:
        raise ConfigError("unknown key in bench file", file=file, key=unknown[0],
                          expected=f"one of {', '.join(BENCH_FILE_KEYS)}", received=unknown[0])
    if "preset" in data and "recipe" in data:
        raise ConfigError("give 'preset' or 'recipe', not both", file=file, key="recipe")
    variants_data = data.get("variants", [])
    if not isinstance(variants_data, list) or not all(isinstance(v, dict) for v in variants_data):
        raise ConfigError("bad variants", file=file, key="variants", expected="[[variants]] tables",
                          received=variants_data)
    variants = []
    for i, item in enumerate(variants_data):
        extra = sorted(set(item) - {"name", "set"})
        if extra:
            raise ConfigError("unknown key in variant", file=file, key=f"variants[{i}].{extra[0]}",
                              expected="name, set", received=extra[0])
        name = _check_name(str(item.get("name", "")), f"variants[{i}].name", file)
        variants.append(Variant(name, _assignments(item.get("set"), f"variants[{i}].set", file)))
    recipe = data.get("recipe")
    if recipe is not None:
        recipe = str(Path(path).parent / str(recipe))
    seeds = data.get("seeds")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int)):
        raise ConfigError("bad seeds", file=file, key="seeds", expected="a positive integer", received=seeds)
    repeat = data.get("repeat")
    if repeat is not None:
        repeat = _file_value(parse_repeat, file, "repeat", repeat)
    budget = data.get("budget")
    if budget is not None:
        budget = _file_value(parse_budget, file, "budget", budget, "auto" if repeat is None else repeat)
    return {
        "description": str(data.get("description", "")),
        "repeat": repeat,
        "budget": budget,
        "preset": data.get("preset"),
        "recipe": recipe,
        "seeds": seeds,
        "target": None if data.get("target") is None else parse_target(data["target"], key="target", file=file),
        "common": _assignments(data.get("set"), "set", file),
        "variants": variants,
    }


def _file_value(parse, file: str, key: str, *args: Any) -> Any:
    """A bench file's ``repeat``/``budget`` through the command line's parser, the error naming the file's key."""
    try:
        return parse(*args)
    except ConfigError as exc:
        raise ConfigError(exc.message, file=file, key=key, expected=exc.expected, received=exc.received) from None


def is_bench_file(path: str | Path) -> bool:
    """True when a TOML file holds ``[[variants]]`` (a bench file), not a plain recipe."""
    try:
        return "variants" in read_recipe_file(path)
    except UserError:
        return False


# --------------------------------------------------------------------------- resolving


def resolve_bench(
    recipe: str | None = None,
    *,
    preset: str | None = None,
    overrides: Sequence[str] = (),
    variants: Sequence[str] = (),
    seeds: int | None = None,
    target: str | None = None,
    repeat: int | str | None = None,
    budget: float | str | None = None,
    noise: float | str | None = None,
) -> BenchSpec:
    """Resolve a bench from command-line style arguments (``recipe`` may be a bench file).

    Args:
        recipe: A recipe TOML or a bench file (TOML with ``[[variants]]``).
        preset: A preset name instead of a recipe file.
        overrides: ``--set`` assignments applied to every variant.
        variants: ``--variant`` strings; the first is the baseline. With none,
            the recipe alone is measured (one variant named ``base``).
        seeds: Number of seeds; they count up from the recipe's ``train.seed``.
        target: ``METRIC=VALUE`` for time-to-target (default: the recipe's
            ``[train.target]``).
        repeat: Rounds per seed, or ``"auto"``: add rounds until every speed
            ratio's verdict is decided or ``budget`` runs out. Default: the
            bench file's ``repeat``, else ``"auto"`` when there are variants to
            compare (two or more) and 1 for a recipe alone.
        budget: Seconds the whole bench may take under ``repeat="auto"``
            (default :data:`DEFAULT_BUDGET_S`); only with ``"auto"``.
        noise: The A/A noise: ratios whose interval lies within ``1 ± noise``
            are "within noise" (default 0.05).

    Raises:
        ConfigError: on any bad input, before anything runs.
    """
    noise_value = parse_noise(noise)
    description, common, source = "", list(overrides), "preset:mnist1d"
    file_variants: list[Variant] = []
    file_seeds, file_target, file_repeat, file_budget = None, None, None, None
    if recipe is not None and is_bench_file(recipe):
        if preset is not None:
            raise ConfigError("a bench file names its own recipe", file=recipe, key="--preset",
                              expected="no --preset with a bench file", received=preset)
        bench = read_bench_file(recipe)
        if variants:
            raise ConfigError("variants come from the bench file", file=recipe, key="--variant",
                              expected="no --variant with a bench file (edit its [[variants]])",
                              received=variants[0])
        description, file_variants = bench["description"], bench["variants"]
        file_seeds, file_target = bench["seeds"], bench["target"]
        file_repeat, file_budget = bench["repeat"], bench["budget"]
        common = bench["common"] + common
        source = recipe
        recipe, preset = bench["recipe"], bench["preset"]
    elif recipe is not None:
        source = recipe
    elif preset is not None:
        source = f"preset:{preset}"

    parsed = file_variants or [parse_variant(v) for v in variants] or [Variant("base")]
    names = [v.name for v in parsed]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ConfigError("duplicate variant name", key="--variant", expected="distinct names", received=dup)
    # Three pairs cannot tell a 5 % speed difference from the per-process noise of a shared machine
    # (docs/bench.md, "Calibration"), so a comparison adds rounds until its speed verdicts are decided.
    if repeat is None:
        repeat = file_repeat if file_repeat is not None else ("auto" if len(parsed) > 1 else 1)
    repeat_value = parse_repeat(repeat)
    if budget is None and file_budget is not None and repeat_value == "auto":
        budget = file_budget
    budget_value = parse_budget(budget, repeat_value)

    n_seeds = seeds if seeds is not None else (file_seeds if file_seeds is not None else 3)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or not 1 <= n_seeds <= MAX_SEEDS:
        raise ConfigError("bad number of seeds", key="--seeds", expected=f"an integer in [1, {MAX_SEEDS}]",
                          received=n_seeds)
    tgt = parse_target(target) if target is not None else file_target
    extra = []
    if tgt is not None:
        extra = [f"train.target.metric={tgt['metric']}", f"train.target.value={tgt['value']}"]
        if "mode" in tgt:
            extra.append(f"train.target.mode={tgt['mode']}")
        if "stop" in tgt:
            extra.append(f"train.target.stop={str(tgt['stop']).lower()}")

    for variant in parsed:
        try:
            variant.recipe = load_recipe(recipe, preset=preset, overrides=[*common, *variant.overrides, *extra])
        except UserError as exc:
            message = f"variant '{variant.name}'" + (f": {exc.message}" if exc.message else "")
            key = "--variant" if exc.key == "--set" and variant.overrides else exc.key
            raise type(exc)(message, file=exc.file, key=key, expected=exc.expected, received=exc.received,
                            hint=exc.hint) from None
    base = parsed[0].recipe
    first_seed = base.train.seed
    target_table = None if base.train.target is None else base.train.target.to_dict()
    return BenchSpec(
        variants=parsed,
        seeds=list(range(first_seed, first_seed + n_seeds)),
        target=None if target_table is None else dict(target_table),
        source=source,
        description=description,
        common=common + extra,
        repeat=repeat_value,
        budget=budget_value,
        noise=noise_value,
    )


__all__ = ["BenchSpec", "Variant", "is_bench_file", "parse_budget", "parse_noise", "parse_repeat", "parse_target",
           "parse_variant", "read_bench_file", "resolve_bench"]
