"""Search-space files: parsing, schema checks against the recipe, grid values, --set literals."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kerastricks.errors import ConfigError
from kerastricks.recipes import load_recipe, parse_value
from kerastricks.tune.space import Param, check_space, grid_space, parse_param, read_space, toml_value, trial_recipe

SPACE = """
[[param]]
key = "optimizer.learning_rate"
type = "float"
low = 1e-4
high = 3e-2
log = true
[[param]]
key = "schedule.name"
type = "categorical"
choices = ["one_cycle", "cosine", "triangular2"]
[[param]]
key = "techniques.ema.enabled"
type = "categorical"
choices = [true, false]
[[param]]
key = "model.width"
type = "int"
low = 8
high = 32
step = 8
"""


def test_read_space_and_check_against_the_recipe(space_file):
    path = space_file(SPACE)
    params = read_space(path)
    assert [p.key for p in params] == ["optimizer.learning_rate", "schedule.name", "techniques.ema.enabled",
                                       "model.width"]
    assert params[0] == Param("optimizer.learning_rate", "float", 1e-4, 3e-2, log=True)
    base = load_recipe(preset="digits", overrides=["model.name=mlp"]).to_toml()
    check_space(params, base, fixed=["model.name=mlp"], file=path)  # every probe is a valid recipe
    assert params[3].grid() == [8, 16, 24, 32]


def test_trial_recipe_switches_components_like_set():
    base = load_recipe(preset="mnist1d")  # one_cycle with pct_start = 0.25
    recipe = trial_recipe(base.to_toml(), {"schedule.name": "cosine", "optimizer.learning_rate": 0.002,
                                           "techniques.ema.enabled": True}, source="t")
    assert recipe.schedule["name"] == "cosine" and "pct_start" not in recipe.schedule
    assert recipe.optimizer["learning_rate"] == 0.002 and "ema" in recipe.techniques
    same = trial_recipe(base.to_toml(), {"schedule.name": "one_cycle"}, source="t")
    assert same.schedule["pct_start"] == 0.25  # not a switch: the base recipe's options stay


@pytest.mark.parametrize(
    "table, fragment",
    [
        ({"key": "a.b", "type": "float", "low": 2.0, "high": 1.0}, "low > high"),
        ({"key": "a.b", "type": "float", "low": 0.0, "high": 1.0, "log": True}, "log scale needs a positive"),
        ({"key": "a.b", "type": "categorical", "choices": []}, "empty or missing choices"),
        ({"key": "a.b", "type": "categorical", "choices": [1, 1]}, "repeated choice"),
        ({"key": "a.b", "type": "real", "low": 0, "high": 1}, "expected one of float, int, categorical"),
        ({"key": "a.b", "type": "int", "low": 0.5, "high": 2}, "expected an integer"),
        ({"key": "a.b", "type": "float", "low": 1e-3, "high": 1.0, "log": True, "step": 0.1}, "step and log"),
        ({"key": "a.b", "type": "float", "low": 0, "high": 1, "scale": "log"}, "unknown setting"),
        ({"key": "a.b", "type": "float", "low": float("nan"), "high": 1}, "finite number"),
    ],
)
def test_bad_params_name_the_key(table, fragment):
    with pytest.raises(ConfigError) as info:
        parse_param(table, 0, "space.toml")
    line = info.value.line()
    assert fragment in line and line.startswith("space.toml: key 'a.b")


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("optimizer.learning_rat", 0.1, "learning_rat"),  # unknown key
        ("train.epochs", -1, "train.epochs"),  # a value the schema rejects
        ("schedule.name", "cosin", "cosin"),
    ],
)
def test_check_space_rejects_what_the_recipe_rejects(key, value, fragment):
    base = load_recipe(preset="digits").to_toml()
    kind = "categorical" if isinstance(value, str) else ("int" if isinstance(value, int) else "float")
    param = Param(key, kind, choices=(value,)) if kind == "categorical" else Param(key, kind, value, value)
    with pytest.raises(ConfigError) as info:
        check_space([param], base, fixed=[], file="space.toml")
    line = info.value.line()
    assert line.startswith(f"space.toml: key '{key}'") and fragment in line and "the recipe rejects" in line


def test_check_space_rejects_a_key_also_fixed():
    base = load_recipe(preset="digits").to_toml()
    with pytest.raises(ConfigError, match="both fixed with --set and searched"):
        check_space([Param("train.epochs", "int", 1, 3)], base, fixed=["train.epochs=2"], file="s.toml")


def test_grid_needs_discrete_values():
    assert grid_space([Param("a.b", "float", 0.1, 0.3, step=0.1)], "s") == {"a.b": [0.1, 0.2, 0.3]}
    with pytest.raises(ConfigError, match="grid sampler needs discrete values"):
        grid_space([Param("a.b", "float", 0.1, 0.3)], "s")


def test_read_space_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_space(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[param]]\nkey = 'a.b'\ntype = 'int'\nlow = 1\nhigh = 2\n[[param]]\nkey = 'a.b'\ntype = 'int'\n"
                   "low = 1\nhigh = 2\n")
    with pytest.raises(ConfigError, match="key searched twice"):
        read_space(bad)
    bad.write_text("[param]\nkey = 'a.b'\n")
    with pytest.raises(ConfigError, match="one or more"):
        read_space(bad)


@given(st.one_of(st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False, allow_infinity=False),
                 st.text(max_size=20)))
def test_toml_value_round_trips_through_set(value):
    parsed = parse_value(toml_value(value))
    assert type(parsed) is type(value)
    assert parsed == value or (isinstance(value, float) and math.isclose(parsed, value))
