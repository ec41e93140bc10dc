"""validate_options: signatures as schemas, one-line ConfigErrors, defaults."""

from typing import Annotated, Literal, Optional

import keras
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from kerastricks.errors import ConfigError
from kerastricks.validation import (
    NonNegativeFloat,
    PositiveInt,
    UnitInterval,
    defaults_of,
    option_names,
    validate_options,
)


def builder(
    *,
    task: str,
    width: PositiveInt = 16,
    rate: UnitInterval = 0.5,
    decay: NonNegativeFloat = 0.0,
    act: Literal["relu", "gelu"] = "relu",
    pool: Optional[Annotated[int, Field(ge=2)]] = None,
    steps: int = 3,
    scale: float = 1.0,
    flag: bool = False,
    tag: str = "x",
    sizes: list[int] = [1, 2],  # noqa: B006
    name: str = "hidden-from-recipes",
):
    return None


def untyped(learning_rate=0.01, momentum=0.0, epsilon=1e-7, clipnorm=None, count=2, label="a", anything=None):
    return None


def check(fn, options, **kw):
    return validate_options(fn, options, section="model", **kw)


def test_option_names_hide_internal_and_excluded_args():
    names = option_names(builder, exclude=("task",))
    assert names == ["width", "rate", "decay", "act", "pool", "steps", "scale", "flag", "tag", "sizes"]
    assert "name" not in option_names(builder)


def test_valid_options_are_returned_coerced_and_only_those_given():
    out = check(builder, {"width": 8, "scale": 2, "act": "gelu", "pool": 3}, exclude=("task",))
    assert out == {"width": 8, "scale": 2.0, "act": "gelu", "pool": 3}
    assert isinstance(out["scale"], float)
    assert check(builder, {}, exclude=("task",)) == {}


def test_fill_defaults_adds_every_default():
    out = check(builder, {"width": 4}, exclude=("task",), fill_defaults=True)
    assert out == {
        "width": 4, "rate": 0.5, "decay": 0.0, "act": "relu", "pool": None, "steps": 3,
        "scale": 1.0, "flag": False, "tag": "x", "sizes": [1, 2],
    }
    assert defaults_of(builder, exclude=("task",))["sizes"] == [1, 2]
    # A required argument has no default and is left out.
    assert "task" not in defaults_of(builder)


def test_required_argument_missing_is_an_error():
    with pytest.raises(ConfigError) as info:
        check(builder, {})
    assert info.value.key == "model.task"


def test_unknown_key_suggests_closest_valid_key():
    with pytest.raises(ConfigError) as info:
        check(builder, {"widht": 3}, file="r.toml", exclude=("task",))
    err = info.value
    assert err.file == "r.toml" and err.key == "model.widht"
    assert err.hint == "did you mean 'width'?"
    line = str(err)
    assert "\n" not in line
    assert line.startswith("r.toml: key 'model.widht': unknown key, expected one of width, rate,")
    assert line.endswith("received widht (did you mean 'width'?)")


def test_unknown_key_without_options_says_so():
    def nothing(*, task):
        return None

    with pytest.raises(ConfigError, match="expected no options"):
        check(nothing, {"x": 1}, exclude=("task",))


@pytest.mark.parametrize(
    "options, key, expected",
    [
        ({"width": 0}, "model.width", "a value >= 1"),
        ({"rate": 1.5}, "model.rate", "a value <= 1.0"),
        ({"decay": -1e-3}, "model.decay", "a value >= 0.0"),
        ({"act": "tanh"}, "model.act", "one of 'relu' or 'gelu'"),
        ({"pool": 1}, "model.pool", "a value >= 2"),  # Optional[...] keeps the useful branch
        ({"steps": 2.5}, "model.steps", "an integer"),
        ({"steps": "many"}, "model.steps", "an integer"),
        ({"scale": "big"}, "model.scale", "a number"),
        ({"flag": "perhaps"}, "model.flag", "true or false"),
        ({"sizes": 3}, "model.sizes", "a list"),
    ],
)
def test_bad_values_name_key_expected_and_received(options, key, expected):
    with pytest.raises(ConfigError) as info:
        check(builder, options, file="f.toml", exclude=("task",))
    err = info.value
    assert err.key == key
    assert err.expected == expected
    assert err.received == next(iter(options.values()))
    assert "\n" not in str(err) and str(err).startswith(f"f.toml: key '{key}'")


def test_optional_accepts_none():
    assert check(builder, {"pool": None}, exclude=("task",)) == {"pool": None}


@pytest.mark.parametrize(
    "options, ok",
    [
        ({"learning_rate": 0.1}, True),
        ({"learning_rate": 0.0}, False),
        ({"learning_rate": None}, True),  # Optional by rule
        ({"momentum": 0.99}, True),
        ({"momentum": 1.0}, False),
        ({"epsilon": 0.0}, False),
        ({"clipnorm": 1.0}, True),
        ({"clipnorm": None}, True),
        ({"clipnorm": 0.0}, False),
        ({"count": 5}, True),  # typed from its int default
        ({"count": 1.5}, False),
        ({"label": "b"}, True),
        ({"label": 3}, False),  # typed from its str default; strict enough to reject ints
        ({"anything": [1, "a"]}, True),  # None default, no rule: anything goes
    ],
)
def test_untyped_signatures_use_name_rules_and_default_types(options, ok):
    if ok:
        assert check(untyped, options) == options
    else:
        with pytest.raises(ConfigError) as info:
            check(untyped, options)
        assert info.value.key == "model." + next(iter(options))


def test_keras_class_signature():
    # Keras optimizers carry no annotations: the name rules make them checkable.
    assert check(keras.optimizers.SGD, {"momentum": 0.9, "nesterov": True}) == {"momentum": 0.9, "nesterov": True}
    with pytest.raises(ConfigError, match=r"key 'model.momentum'.*expected a value < 1"):
        check(keras.optimizers.SGD, {"momentum": 1.0})


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=10**12))
def test_positive_int_accepts_every_int_from_one(value):
    assert check(builder, {"width": value}, exclude=("task",)) == {"width": value}


@settings(max_examples=50, deadline=None)
@given(st.integers(max_value=0, min_value=-(10**12)))
def test_positive_int_rejects_every_int_up_to_zero(value):
    with pytest.raises(ConfigError) as info:
        check(builder, {"width": value}, exclude=("task",))
    assert info.value.received == value and info.value.expected == "a value >= 1"


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=0.0, max_value=1.0))
def test_unit_interval_accepts_closed_interval(value):
    assert check(builder, {"rate": value}, exclude=("task",)) == {"rate": value}


@settings(max_examples=50, deadline=None)
@given(st.one_of(st.floats(max_value=-1e-12, allow_nan=False), st.floats(min_value=1.0 + 1e-9, allow_nan=False)))
def test_unit_interval_rejects_outside(value):
    with pytest.raises(ConfigError):
        check(builder, {"rate": value}, exclude=("task",))
