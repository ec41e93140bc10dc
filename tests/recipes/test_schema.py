"""Recipe validation: every section, defaults filled, one-line errors naming file and key."""

import pytest

from kerastricks.errors import ConfigError
from kerastricks.recipes import Recipe, metric_mode, recipe_from_dict, recipe_from_toml

MINIMAL = {"data": {"name": "digits"}, "model": {"name": "mlp"}}


def test_minimal_recipe_gets_every_default():
    recipe = recipe_from_dict(MINIMAL, source="r.toml")
    assert recipe.name == "digits-mlp"
    assert recipe.optimizer["name"] == "adam" and recipe.optimizer["learning_rate"] == pytest.approx(1e-3)
    assert recipe.schedule == {"name": "constant", "warmup_steps": 0, "warmup_epochs": 0.0, "warmup_start_factor": 0.0}
    assert recipe.loss == {"name": "auto"}
    assert recipe.train["epochs"] == 10 and recipe.train["precision"] == "float32"
    assert recipe.train["target"] is None
    assert recipe.data["validation_split"] == pytest.approx(0.1)
    assert recipe.model["width"] == 256  # the mlp builder's default
    assert recipe.techniques == {}


def test_round_trip_through_toml():
    recipe = recipe_from_dict(
        {
            **MINIMAL,
            "optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True},
            "schedule": {"name": "piecewise", "boundaries": [3, 6], "factors": [0.1, 0.01]},
            "train": {"epochs": 7, "target": {"metric": "val_accuracy", "value": 0.9}},
            "techniques": {"ema": {"momentum": 0.9}, "l2": {"enabled": False}},
        }
    )
    assert "l2" not in recipe.techniques
    text = recipe.to_toml()
    again = recipe_from_toml(text)
    assert again == recipe
    assert recipe_from_toml(again.to_toml()).to_dict() == recipe.to_dict()


@pytest.mark.parametrize(
    "data, key, fragment",
    [
        ({"trian": {}}, "trian", "did you mean 'train'"),
        ({"train": {"epochs": 0}}, "train.epochs", ">= 1"),
        ({"train": {"epochs": "ten"}}, "train.epochs", "integer"),
        ({"train": {"epocs": 3}}, "train.epocs", "did you mean 'epochs'"),
        ({"train": {"precision": "float8"}}, "train.precision", "float32"),
        ({"train": {"target": {"metric": "val_accuracy"}}}, "train.target.value", "received"),
        ({"optimizer": {"name": "adamm"}}, "optimizer.name", "did you mean 'adam"),
        ({"optimizer": {"name": "adam", "learning_rate": -1.0}}, "optimizer.learning_rate", "> 0"),
        ({"optimizer": {"name": "sgd", "momentum": 1.0}}, "optimizer.momentum", "< 1"),
        ({"model": {"name": "resent"}}, "model.name", "did you mean 'resnet'"),
        ({"model": {"name": "mlp", "widht": 3}}, "model.widht", "did you mean 'width'"),
        ({"data": {"name": "mnist1"}}, "data.name", "did you mean 'mnist1d'"),
        ({"data": {"name": "digits", "validation_split": 1.5}}, "data.validation_split", "< 1"),
        ({"data": {"name": "digits", "threads": 0}}, "data.threads", ">= 1"),
        ({"schedule": {"name": "cosin"}}, "schedule.name", "did you mean 'cosine'"),
        ({"loss": {"name": "crossentropy", "label_smoothing": 2}}, "loss.label_smoothing", "< 1"),
        ({"techniques": {"emma": {}}}, "techniques.emma", "did you mean 'ema'"),
        ({"techniques": {"ema": {"enabled": "yes"}}}, "techniques.ema.enabled", "true or false"),
        ({"techniques": {"ema": 3}}, "techniques.ema", "a table"),
        ({"train": {"monitor": "val_loss"}, "data": {"name": "digits", "validation_split": 0.0}},
         "train.monitor", "validation"),
    ],
)
def test_bad_recipes_give_one_line_naming_file_and_key(data, key, fragment):
    merged = {**MINIMAL}
    for section, value in data.items():
        nested = isinstance(value, dict) and section in merged
        merged[section] = {**merged.get(section, {}), **value} if nested else value
    with pytest.raises(ConfigError) as err:
        recipe_from_dict(merged, source="bad.toml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("bad.toml")
    assert f"'{key}'" in message
    assert fragment in message


def test_metric_mode():
    assert metric_mode("val_accuracy") == "max"
    assert metric_mode("val_loss") == "min"
    assert metric_mode("mae") == "min"
    assert metric_mode("val_accuracy", "min") == "min"


def test_recipe_views():
    recipe = recipe_from_dict({"data": {"name": "mnist1d", "num_samples": 600}, "model": {"name": "cnn1d"}})
    assert recipe.data_options["num_samples"] == 600
    assert "validation_split" not in recipe.data_options
    assert "name" not in recipe.options("model")
    assert recipe.has_validation
    assert isinstance(recipe, Recipe)


def test_monitor_last_needs_no_metric():
    recipe = recipe_from_dict({**MINIMAL, "data": {"name": "digits", "validation_split": 0.0},
                               "train": {"monitor": "last"}})
    assert recipe.train["monitor"] == "last"


def test_threads_setting():
    assert recipe_from_dict({**MINIMAL, "train": {"threads": 1}}).train["threads"] == 1
    assert recipe_from_dict(MINIMAL).train["threads"] == "auto"
    with pytest.raises(ConfigError) as err:
        recipe_from_dict({**MINIMAL, "train": {"threads": 0}}, source="t.toml")
    assert "train.threads" in str(err.value)
