"""Loading recipe files and presets, --set overrides."""

import pytest

from kerastricks.errors import ConfigError
from kerastricks.recipes import PRESETS, apply_override, load_recipe, parse_value


def test_presets_load_and_validate():
    assert {"mnist1d", "mnist1d-baseline", "digits"} <= set(PRESETS.names())
    for entry in PRESETS:
        recipe = load_recipe(preset=entry.name)
        assert recipe.source == f"preset:{entry.name}"
        assert entry.description
    default = load_recipe()
    assert default.source == "preset:mnist1d"
    assert default.train["target"] == {"metric": "val_accuracy", "value": 0.98, "mode": "auto", "stop": False}


def test_baseline_preset_is_the_paper_setup():
    recipe = load_recipe(preset="mnist1d-baseline")
    assert recipe.model["name"] == "mnist1d_cnn"
    assert recipe.optimizer["name"] == "adam" and recipe.schedule["name"] == "constant"
    assert recipe.techniques == {}


@pytest.mark.parametrize(
    "text, value",
    [("5", 5), ("0.5", 0.5), ("true", True), ('"adam"', "adam"), ("adam", "adam"), ("[1, 2]", [1, 2]),
     ("{metric = 'loss', value = 1.0}", {"metric": "loss", "value": 1.0}), ("1e-3", 1e-3)],
)
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_overrides_create_tables_and_validate():
    recipe = load_recipe(preset="mnist1d", overrides=["train.epochs=3", "techniques.ema.momentum=0.9",
                                                      "optimizer.name=adam", "optimizer.weight_decay=0.0"])
    assert recipe.train["epochs"] == 3
    assert recipe.techniques["ema"]["momentum"] == 0.9
    assert recipe.optimizer["name"] == "adam"


@pytest.mark.parametrize(
    "assignment, fragment",
    [("train.epochs", "KEY.PATH=VALUE"), ("=3", "key path"), ("train..epochs=3", "key path"),
     ("train.epochs.x=3", "'train.epochs' is a value"), ("train.epochs=0", ">= 1"), ("trian.epochs=3", "trian")],
)
def test_bad_overrides(assignment, fragment):
    with pytest.raises(ConfigError) as err:
        load_recipe(preset="mnist1d", overrides=[assignment])
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_apply_override_in_place():
    data = {}
    apply_override(data, "a.b.c=1")
    assert data == {"a": {"b": {"c": 1}}}


def test_files_errors(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_recipe(tmp_path / "missing.toml")
    assert "missing.toml" in str(err.value) and "not found" in str(err.value)
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\nepochs = 3\nbatch_size = = 4\n')
    with pytest.raises(ConfigError) as err:
        load_recipe(bad)
    message = str(err.value)
    assert "bad.toml" in message and "line 3" in message and "\n" not in message
    with pytest.raises(ConfigError):
        load_recipe(tmp_path)
    with pytest.raises(ConfigError):
        load_recipe(bad, preset="mnist1d")
    with pytest.raises(ConfigError) as err:
        load_recipe(preset="mnist1")
    assert "mnist1d" in str(err.value)


def test_recipe_file_round_trip(tmp_path):
    recipe = load_recipe(preset="digits")
    path = tmp_path / "r.toml"
    path.write_text(recipe.to_toml())
    again = load_recipe(path)
    assert again == recipe and again.source == str(path)


def test_switching_a_component_drops_the_old_components_options():
    # the preset's one-cycle options do not follow a switch; the constant schedule gets its own defaults
    recipe = load_recipe(preset="mnist1d", overrides=["schedule.name=constant"])
    assert recipe.schedule == {"name": "constant", "warmup_steps": 0, "warmup_epochs": 0.0, "warmup_start_factor": 0.0}
    # options for the new component survive, in either order
    recipe = load_recipe(preset="mnist1d", overrides=["schedule.decay_rate=0.3", "schedule.name=exponential"])
    assert recipe.schedule["name"] == "exponential" and recipe.schedule["decay_rate"] == 0.3
    # the same name keeps everything; trainer data keys survive a dataset switch
    assert load_recipe(preset="digits", overrides=["schedule.name=cosine"]).schedule["warmup_epochs"] == 1.0
    recipe = load_recipe(preset="mnist1d", overrides=["data.name=digits", "data.validation_split=0.2",
                                                      "model.name=cnn2d"])
    assert recipe.data["name"] == "digits" and recipe.data["validation_split"] == 0.2
    assert "num_samples" not in recipe.data and recipe.model["width"] == 32
