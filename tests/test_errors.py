"""UserError and friends: one-line messages naming file, key, expected, received, hint."""

import pytest

from kerastricks.errors import ConfigError, DataError, RunDirError, UserError, check_arg


def test_line_is_one_line_with_every_part():
    err = UserError(
        "value out of range",
        file="recipes/my run.toml",
        key="train.epochs",
        expected="an integer >= 1",
        received=-3,
        hint="did you mean 3?",
    )
    line = err.line()
    assert "\n" not in line
    assert line == (
        "recipes/my run.toml: key 'train.epochs': value out of range, "
        "expected an integer >= 1, received -3 (did you mean 3?)"
    )
    # str(err) is what the CLI prints.
    assert str(err) == line


def test_multiline_values_are_flattened_and_long_values_shortened():
    err = UserError("bad\nmessage", expected="a\n  b", received="x" * 500)
    line = err.line()
    assert "\n" not in line
    assert "bad message" in line and "expected a b" in line
    assert line.endswith("...")
    assert len(line) < 450  # each value at most ~400 characters


def test_long_values_are_cut_at_a_word_boundary():
    words = " ".join(f"word{i}" for i in range(200))
    line = UserError(expected="a name", received=words).line()
    assert line.endswith(" ...") and len(line) < 450
    kept = line.removeprefix("expected a name, received ").removesuffix(" ...").split(" ")
    assert kept == [f"word{i}" for i in range(len(kept))]  # whole words only


def test_expected_without_received_never_says_none():
    # An expected value with a missing received value says so in words, never "received None".
    line = UserError(key="k", expected="a number").line()
    assert line == "key 'k': expected a number, received no value" and "None" not in line


def test_hint_alone():
    assert UserError(hint="try --force").line() == "try --force"


def test_path_objects_are_accepted_as_file(tmp_path):
    err = UserError("missing", file=tmp_path / "x.csv")
    assert err.file == str(tmp_path / "x.csv")
    assert err.line().startswith(str(tmp_path / "x.csv") + ": missing")


def test_with_context_adds_file_and_prefixes_key():
    err = ConfigError("unknown key", key="epochs", expected="one of a, b", received="epochs", hint="h")
    out = err.with_context(file="r.toml", key_prefix="train")
    assert type(out) is ConfigError
    assert out.file == "r.toml" and out.key == "train.epochs"
    assert (out.message, out.expected, out.received, out.hint) == (err.message, err.expected, err.received, err.hint)
    assert out.line().startswith("r.toml: key 'train.epochs': unknown key")
    # The original is untouched.
    assert err.file is None and err.key == "epochs"


def test_with_context_keeps_existing_file_and_uses_prefix_as_key():
    err = DataError("cannot read", file="a.csv")
    out = err.with_context(key_prefix="data")
    assert isinstance(out, DataError)
    assert out.file == "a.csv" and out.key == "data"


def test_hierarchy():
    assert issubclass(ConfigError, UserError) and issubclass(ConfigError, ValueError)
    assert issubclass(DataError, UserError) and issubclass(RunDirError, UserError)
    assert not issubclass(DataError, ValueError)


def test_check_arg_in_keras_words():
    check_arg(True, "step_size", "> 0", -3)  # no error
    with pytest.raises(ConfigError) as info:
        check_arg(False, "step_size", "> 0", -3)
    assert str(info.value) == "Argument `step_size` must be > 0. Received: step_size=-3"


def test_check_arg_reprs_strings():
    with pytest.raises(ConfigError, match=r"Received: mode='avg'$"):
        check_arg(False, "mode", "'max' or 'min'", "avg")
