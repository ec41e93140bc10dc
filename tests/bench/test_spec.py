"""Bench specification: variant and target parsing, bench files, up-front validation."""

import pytest

from kerastricks.bench.spec import (
    Variant,
    is_bench_file,
    parse_target,
    parse_variant,
    read_bench_file,
    resolve_bench,
)
from kerastricks.errors import ConfigError, UserError


@pytest.mark.parametrize(
    "text, name, overrides",
    [
        ("base", "base", []),
        ("base:", "base", []),
        ("bf16:train.precision=mixed_bfloat16", "bf16", ["train.precision=mixed_bfloat16"]),
        ("two:train.epochs=3; train.batch_size=64", "two", ["train.epochs=3", "train.batch_size=64"]),
        # a ';' inside a list or a quoted string is not a separator
        ("pw:schedule.factors=[1.0, 0.1];schedule.name=piecewise", "pw",
         ["schedule.factors=[1.0, 0.1]", "schedule.name=piecewise"]),
        ("q:model.name='a;b'", "q", ["model.name='a;b'"]),
        ("lr-3e-3:optimizer.learning_rate=3e-3", "lr-3e-3", ["optimizer.learning_rate=3e-3"]),
    ],
)
def test_parse_variant(text, name, overrides):
    variant = parse_variant(text)
    assert (variant.name, variant.overrides) == (name, overrides)


@pytest.mark.parametrize("text", ["", ":train.epochs=3", "a b:train.epochs=3", "x:train.epochs", "x:=3",
                                  "x:train.epochs=3;oops"])
def test_parse_variant_rejects_malformed(text):
    with pytest.raises(ConfigError) as info:
        parse_variant(text)
    assert info.value.key == "--variant"
    assert "NAME[:KEY=VALUE" in info.value.line()


def test_parse_target():
    assert parse_target("val_accuracy=0.98") == {"metric": "val_accuracy", "value": 0.98}
    assert parse_target({"metric": "loss", "value": 0.1, "mode": "min"})["mode"] == "min"
    for bad in ("val_accuracy", "val_accuracy=high", "=0.9", 0.98):
        with pytest.raises(ConfigError, match="malformed target"):
            parse_target(bad)


def test_resolve_validates_every_variant_up_front():
    with pytest.raises(ConfigError) as info:
        resolve_bench(preset="mnist1d", variants=["a", "b:techniques.emaa.momentum=0.9"])
    line = info.value.line()
    assert "variant 'b'" in line and "emaa" in line and "ema" in line  # names the key, suggests the real one


def test_resolve_rejects_unknown_target_metric():
    with pytest.raises(ConfigError) as info:
        resolve_bench(preset="mnist1d", target="val_acc=0.9")
    assert info.value.key == "train.target.metric"
    assert "val_accuracy" in info.value.line()


def test_target_table_can_stop_runs_at_the_target(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('preset = "mnist1d"\ntarget = {metric = "val_accuracy", value = 0.9, stop = true}\n'
                    '[[variants]]\nname = "a"\n')
    spec = resolve_bench(str(path))
    assert spec.target == {"metric": "val_accuracy", "value": 0.9, "mode": "auto", "stop": True}
    assert spec.variants[0].recipe.train["target"]["stop"] is True


def test_resolve_defaults_and_seeds():
    spec = resolve_bench(preset="mnist1d", overrides=["train.seed=5"], seeds=2)
    assert [v.name for v in spec.variants] == ["base"]
    assert spec.seeds == [5, 6]
    assert spec.target == {"metric": "val_accuracy", "value": 0.98, "mode": "auto", "stop": False}
    spec = resolve_bench(preset="mnist1d", variants=["a", "b:train.epochs=2"], target="accuracy=0.5")
    assert spec.variants[1].recipe.train["epochs"] == 2
    assert spec.variants[0].recipe.train["target"]["metric"] == "accuracy"
    assert spec.seeds == [0, 1, 2]


@pytest.mark.parametrize("seeds", [0, -1, 101, True])
def test_resolve_rejects_bad_seeds(seeds):
    with pytest.raises(ConfigError, match="seeds"):
        resolve_bench(preset="mnist1d", seeds=seeds)


def test_resolve_rejects_duplicate_names():
    with pytest.raises(ConfigError, match="duplicate variant name"):
        resolve_bench(preset="mnist1d", variants=["a", "a:train.epochs=2"])


BENCH_FILE = """
description = "batch size study"
recipe = "base.toml"
seeds = 2
target = "accuracy=0.6"
[set]
"train.epochs" = 2
[[variants]]
name = "bs128"
[[variants]]
name = "bs64"
set = { "train.batch_size" = 64, optimizer = { learning_rate = 3e-3 } }
[[variants]]
name = "listed"
set = ["train.batch_size=32"]
"""


def _write_base(tmp_path):
    (tmp_path / "base.toml").write_text('[data]\nname = "digits"\n[model]\nname = "mlp"\n[train]\nepochs = 5\n')


def test_bench_file(tmp_path):
    _write_base(tmp_path)
    path = tmp_path / "study.toml"
    path.write_text(BENCH_FILE)
    assert is_bench_file(path) and not is_bench_file(tmp_path / "base.toml")
    spec = resolve_bench(str(path), seeds=1)  # the command line wins over the file
    assert spec.description == "batch size study"
    assert spec.seeds == [0]
    assert spec.target["metric"] == "accuracy"
    bs64 = spec.variants[1]
    assert bs64.overrides == ["train.batch_size=64", "optimizer.learning_rate=0.003"]
    assert bs64.recipe.train["batch_size"] == 64 and bs64.recipe.train["epochs"] == 2
    assert bs64.recipe.optimizer["learning_rate"] == pytest.approx(3e-3)
    assert spec.variants[2].recipe.train["batch_size"] == 32


def test_bench_file_errors(tmp_path):
    _write_base(tmp_path)
    path = tmp_path / "study.toml"
    path.write_text(BENCH_FILE)
    with pytest.raises(ConfigError, match="variants come from the bench file"):
        resolve_bench(str(path), variants=["x"])
    path.write_text(BENCH_FILE + '\n[[variants]]\nname = "z"\nsett = {}\n')
    with pytest.raises(ConfigError) as info:
        read_bench_file(path)
    assert info.value.key == "variants[3].sett"
    path.write_text('preset = "mnist1d"\nvariant = []\n[[variants]]\nname = "a"\n')
    with pytest.raises(ConfigError, match="unknown key in bench file"):
        read_bench_file(path)
    path.write_text('preset = "mnist1d"\n[[variants]]\nname = "a b"\n')
    with pytest.raises(ConfigError, match="bad variant name"):
        read_bench_file(path)


def test_a_comparison_repeats_until_decided_by_default_a_recipe_alone_runs_once(tmp_path):
    assert resolve_bench(preset="mnist1d").repeat == 1  # nothing to compare
    spec = resolve_bench(preset="mnist1d", variants=["a", "b"])
    assert (spec.repeat, spec.budget) == ("auto", 1800.0)
    spec = resolve_bench(preset="mnist1d", variants=["a", "b"], budget=60)  # a budget alone needs no --repeat
    assert (spec.repeat, spec.budget) == ("auto", 60.0)
    assert resolve_bench(preset="mnist1d", variants=["a", "b"], repeat=2).repeat == 2
    _write_base(tmp_path)
    path = tmp_path / "study.toml"
    path.write_text(BENCH_FILE.replace("seeds = 2", 'seeds = 2\nrepeat = 1'))
    assert resolve_bench(str(path)).repeat == 1  # the file's choice
    assert resolve_bench(str(path), repeat="auto").repeat == "auto"  # the command line wins
    path.write_text(BENCH_FILE.replace("seeds = 2", "seeds = 2\nbudget = 600"))
    spec = resolve_bench(str(path))
    assert (spec.repeat, spec.budget) == ("auto", 600.0)
    assert resolve_bench(str(path), budget=90).budget == 90.0
    for line, key in (('repeat = "often"', "repeat"), ("repeat = 0", "repeat"), ("budget = -1", "budget"),
                      ("repeat = 2\nbudget = 60", "budget")):
        path.write_text(BENCH_FILE.replace("seeds = 2", f"seeds = 2\n{line}"))
        with pytest.raises(ConfigError) as info:
            resolve_bench(str(path))
        assert (info.value.file, info.value.key) == (str(path), key)


def test_variant_label():
    assert Variant("a").label() == "a: (the recipe as is)"
    assert Variant("b", ["x=1", "y=2"]).label() == "b: x=1; y=2"


def test_missing_recipe_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        resolve_bench(str(tmp_path / "nope.toml"))
