"""Load recipes from TOML files or presets, apply ``--set`` overrides, dump them back."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from kerastricks.errors import ConfigError
from kerastricks.recipes.schema import Recipe, recipe_from_dict
from kerastricks.registry import Registry

DEFAULT_PRESET = "mnist1d"

PRESETS: Registry[str] = Registry("preset")


def _preset_files() -> dict[str, Any]:
    folder = resources.files("kerastricks.recipes") / "presets"
    return {p.name[: -len(".toml")]: p for p in folder.iterdir() if p.name.endswith(".toml")}


def _register_presets() -> None:
    for name, path in sorted(_preset_files().items()):
        try:
            description = tomllib.loads(path.read_text(encoding="utf-8")).get("description", "")
        except tomllib.TOMLDecodeError:  # pragma: no cover - presets are tested
            description = "(invalid preset)"
        PRESETS.register(name, name, description=description)


_register_presets()


def _parse_toml(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"line (\d+)", message)
        where = f"line {match.group(1)}" if match else "somewhere"
        raise ConfigError(f"malformed TOML at {where}: {message}", file=file) from None


def read_recipe_file(path: str | Path) -> dict[str, Any]:
    """Parse a recipe file into nested dicts (no validation)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("recipe file not found", file=str(path))
    if path.is_dir():
        raise ConfigError("is a directory, not a recipe file", file=str(path), expected="a .toml file",
                          received="a directory")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read recipe: {exc}", file=str(path)) from None
    return _parse_toml(text, str(path))


def read_preset(name: str) -> dict[str, Any]:
    entry = PRESETS.get(name, key="--preset")
    text = _preset_files()[entry.name].read_text(encoding="utf-8")
    return _parse_toml(text, f"preset:{entry.name}")


def parse_value(text: str) -> Any:
    """A ``--set`` value: parsed as a TOML value, else taken as a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(data: dict[str, Any], assignment: str, *, file: str | None = None) -> dict[str, Any]:
    """Apply one ``key.path=value`` assignment in place; tables are created as needed."""
    if "=" not in assignment:
        raise ConfigError(
            "bad --set", key="--set", expected="KEY.PATH=VALUE (e.g. train.epochs=5)", received=assignment
        )
    path, _, value_text = assignment.partition("=")
    path = path.strip()
    keys = path.split(".")
    if not path or any(not re.fullmatch(r"[A-Za-z0-9_\-]+", k) for k in keys):
        raise ConfigError("bad --set key path", key="--set", expected="dotted keys like train.epochs", received=path)
    node = data
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            prefix = ".".join(keys[: depth + 1])
            raise ConfigError(
                f"cannot set '{path}': '{prefix}' is a value, not a table",
                file=file,
                key=path,
                expected="a path through tables",
                received=f"{prefix} = {child!r}",
            )
        node = child
    node[keys[-1]] = parse_value(value_text.strip())
    return data


def load_recipe(
    path: str | Path | None = None,
    *,
    preset: str | None = None,
    overrides: Iterable[str] = (),
) -> Recipe:
    """Load and validate a recipe.

    Args:
        path: A recipe TOML file. With neither ``path`` nor ``preset``, the
            default preset (``mnist1d``) is used.
        preset: A preset shipped with kerastricks (``kerastricks list presets``).
        overrides: ``key.path=value`` strings applied before validation.
    """
    if path is not None and preset is not None:
        raise ConfigError("give a recipe file or --preset, not both", key="--preset", received=preset)
    if path is not None:
        data, source = read_recipe_file(path), str(path)
    else:
        name = preset or DEFAULT_PRESET
        data = read_preset(name)
        source = f"preset:{PRESETS.get(name).name}"
    apply_overrides(data, overrides, file=source)
    return recipe_from_dict(data, source=source)


#: Sections whose options belong to the component named by their ``name``.
COMPONENT_SECTIONS = ("data", "model", "optimizer", "schedule", "loss")
#: ``[data]`` keys that belong to the trainer, not to the dataset loader.
_KEEP_ON_SWITCH = {"data": ("validation_split", "normalize", "shuffle_buffer", "threads")}


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], *, file: str | None = None) -> dict[str, Any]:
    """Apply ``--set`` assignments in place.

    Switching a component (``--set schedule.name=constant``) drops the options
    the recipe gave the previous component, since they belong to it (a cosine
    schedule's ``warmup_epochs`` means nothing to a constant one); options
    given with ``--set`` for the new component are kept, in any order. The
    trainer's own ``[data]`` keys (``validation_split``, ...) are kept too.
    """
    overrides = list(overrides)
    for assignment in overrides:
        path, sep, value = assignment.partition("=")
        section, _, key = path.strip().partition(".")
        if not sep or key != "name" or section not in COMPONENT_SECTIONS:
            continue
        table = data.get(section)
        if isinstance(table, dict) and table.get("name") != parse_value(value.strip()):
            keep = _KEEP_ON_SWITCH.get(section, ())
            data[section] = {k: v for k, v in table.items() if k in keep}
    for assignment in overrides:
        apply_override(data, assignment, file=file)
    return data


def recipe_from_toml(text: str, *, source: str = "<string>") -> Recipe:
    return recipe_from_dict(_parse_toml(text, source), source=source)
