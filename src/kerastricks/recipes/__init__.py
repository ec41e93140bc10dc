"""Recipes: TOML files that declare a whole training run, validated before it starts."""

from kerastricks.recipes.loading import (
    DEFAULT_PRESET,
    PRESETS,
    apply_override,
    apply_overrides,
    load_recipe,
    parse_value,
    read_preset,
    recipe_from_toml,
)
from kerastricks.recipes.schema import Recipe, metric_mode, recipe_from_dict

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "Recipe",
    "apply_override",
    "apply_overrides",
    "load_recipe",
    "metric_mode",
    "parse_value",
    "read_preset",
    "recipe_from_dict",
    "recipe_from_toml",
]
