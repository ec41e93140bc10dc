"""`--objective METRIC[:max|min]`: parsing against the recipe, and what a finished run scores (metrics.csv and
report.json written by hand here)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.errors import ConfigError
from kerastricks.recipes import load_recipe, recipe_from_dict
from kerastricks.tune.objective import EPOCH_METRICS, RUN_METRICS, Objective, parse_objective, read_metrics, value_of

#: digits has validation data (validation_split 0.1) and a target (val_accuracy 0.97).
DIGITS = load_recipe(preset="digits")
NO_VALIDATION = load_recipe(preset="digits", overrides=["data.validation_split=0", "train.monitor=last",
                                                        "train.target.metric=accuracy"])


def _natural(metric):
    """The direction written out independently of the code: losses and errors go down, the rest up."""
    if metric in RUN_METRICS:
        return {"examples_per_s": "max"}.get(metric, "min")
    return "min" if metric.removeprefix("val_") in ("loss", "mae") else "max"


@pytest.mark.parametrize("metric", [*EPOCH_METRICS, *RUN_METRICS])
def test_every_metric_parses_with_its_natural_direction_and_round_trips(metric):
    objective = parse_objective(metric, DIGITS)
    assert objective == Objective(metric, _natural(metric))
    assert objective.per_epoch == (metric in EPOCH_METRICS)
    assert parse_objective(objective.text(), DIGITS) == objective
    for direction in ("max", "min"):  # an explicit direction wins, spaces around the metric are ignored
        assert parse_objective(f" {metric} :{direction}", DIGITS) == Objective(metric, direction)


def test_direction_names_and_worst_values():
    assert Objective("val_accuracy", "max").optuna_direction == "maximize"
    assert Objective("val_loss", "min").optuna_direction == "minimize"
    assert Objective("val_accuracy", "max").worst() == -math.inf
    assert Objective("wall_time_s", "min").worst() == math.inf


@pytest.mark.parametrize(
    "text, recipe, file, expected, received, fragment",
    [
        ("val_acc", DIGITS, None, "one of val_loss, val_accuracy", "val_acc", "unknown objective"),
        ("test_accuracy", DIGITS, None, "one of val_loss", "test_accuracy", "the test set is never an objective"),
        ("val_accuracy:up", DIGITS, None, "val_accuracy:max or val_accuracy:min", "val_accuracy:up", None),
        ("val_accuracy", NO_VALIDATION, "preset:digits", "data.validation_split > 0",
         "data.validation_split = 0", "needs validation data"),
    ],
)
def test_bad_objectives_name_key_expected_and_received(text, recipe, file, expected, received, fragment):
    with pytest.raises(ConfigError) as info:
        parse_objective(text, recipe)
    err = info.value
    assert err.key == "--objective" and err.file == file
    assert str(err.expected).startswith(expected) and str(err.received).startswith(received)
    if fragment:
        assert fragment in err.line()
    assert "\n" not in err.line()


def test_time_to_target_needs_a_target():
    plain = recipe_from_dict({"data": {"name": "digits", "validation_split": 0.1}, "model": {"name": "mlp"}},
                             source="plain.toml")
    assert plain.train.target is None
    with pytest.raises(ConfigError) as info:
        parse_objective("time_to_target_s", plain)
    assert (info.value.file, info.value.key, info.value.received) == ("plain.toml", "--objective", "no train.target")
    assert "train.target" in info.value.expected
    assert parse_objective("time_to_target_s", DIGITS) == Objective("time_to_target_s", "min")


def test_read_metrics_keeps_numbers_of_rows_with_an_epoch(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,accuracy,val_accuracy,phase\n1,0.5,0.25,head\n2,0.75,nan,all\n,0.9,0.9,all\n3,0.8")
    rows = read_metrics(path)
    # the row without an epoch is dropped; text columns are dropped; the last line, cut short, keeps what it has
    assert [r["epoch"] for r in rows] == [1.0, 2.0, 3.0]
    assert rows[0] == {"epoch": 1.0, "accuracy": 0.5, "val_accuracy": 0.25}
    assert math.isnan(rows[1]["val_accuracy"])
    assert rows[2] == {"epoch": 3.0, "accuracy": 0.8}
    assert read_metrics(tmp_path / "missing.csv") == []
    (tmp_path / "half.csv").write_text("epo")  # a header cut short: no rows
    assert read_metrics(tmp_path / "half.csv") == []


ROWS = [{"epoch": 1.0, "val_accuracy": 0.5, "val_loss": 1.0}, {"epoch": 2.0, "val_accuracy": 0.9, "val_loss": 0.3},
        {"epoch": 3.0, "val_accuracy": 0.7, "val_loss": 0.6}]


@pytest.mark.parametrize(
    "objective, report, rows, expected",
    [
        (Objective("val_accuracy", "max"), {"best": {"epoch": 2}}, ROWS, 0.9),  # the kept (best) epoch
        (Objective("val_loss", "min"), {"best": {"epoch": 2}}, ROWS, 0.3),
        (Objective("val_accuracy", "max"), {"best": {"epoch": None}}, ROWS, 0.7),  # no best epoch: the last
        (Objective("val_accuracy", "max"), {}, ROWS, 0.7),
        (Objective("val_accuracy", "max"), {"best": {"epoch": 9}}, ROWS, 0.7),  # not logged: the last
        (Objective("val_accuracy", "max"), {"best": {"epoch": 1}}, [], -math.inf),  # nothing logged: the worst
        (Objective("val_loss", "min"), {"best": {"epoch": 1}}, [{"epoch": 1.0, "val_loss": math.nan}], math.inf),
        (Objective("accuracy", "max"), {"best": {"epoch": 2}}, ROWS, -math.inf),  # column absent
        (Objective("wall_time_s", "min"), {"wall_time_s": 12.5}, ROWS, 12.5),
        (Objective("time_to_target_s", "min"), {"time_to_target_s": None}, ROWS, math.inf),  # never reached
        (Objective("examples_per_s", "max"), {"examples_per_s": math.inf}, [], -math.inf),
        (Objective("params", "min"), {"params": 1234}, [], 1234.0),
    ],
)
def test_value_of_handmade_reports(objective, report, rows, expected):
    assert value_of(objective, report, rows) == expected


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=6),
       best=st.one_of(st.none(), st.integers(0, 8)), direction=st.sampled_from(["max", "min"]))
def test_value_of_is_the_kept_epochs_value_or_the_worst(values, best, direction):
    rows = [{"epoch": float(e), "val_loss": v} for e, v in enumerate(values, 1)]
    objective = Objective("val_loss", direction)
    got = value_of(objective, {"best": {"epoch": best}}, rows)
    # reference: the row of the best epoch, else the last row, else nothing; non-finite -> the worst value
    picked = [v for e, v in enumerate(values, 1) if e == best] or values[-1:]
    worst = -math.inf if direction == "max" else math.inf
    want = picked[0] if picked and math.isfinite(picked[0]) else worst
    assert got == want
