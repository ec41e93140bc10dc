"""build_loss: names, tasks, validated options."""

import keras
import pytest

from kerastricks.errors import ConfigError
from kerastricks.losses import LOSSES, SparseCrossentropy, build_loss


def test_auto_picks_by_task():
    cls_loss = build_loss("auto", None, task="classification")
    assert isinstance(cls_loss, keras.losses.SparseCategoricalCrossentropy)
    assert cls_loss.get_config()["from_logits"] is True
    assert isinstance(build_loss("auto", {}, task="regression"), keras.losses.MeanSquaredError)


def test_crossentropy_with_and_without_smoothing():
    plain = build_loss("crossentropy", {}, task="classification")
    assert isinstance(plain, keras.losses.SparseCategoricalCrossentropy)
    smooth = build_loss("CrossEntropy", {"label_smoothing": 0.1}, task="classification")
    assert isinstance(smooth, SparseCrossentropy) and smooth.label_smoothing == 0.1 and smooth.from_logits


@pytest.mark.parametrize(
    "name, cls", [("mse", keras.losses.MeanSquaredError), ("mae", keras.losses.MeanAbsoluteError),
                  ("huber", keras.losses.Huber)]
)
def test_regression_losses(name, cls):
    assert isinstance(build_loss(name, None, task="regression"), cls)


@pytest.mark.parametrize("name", ["mse", "mae", "huber"])
def test_regression_loss_on_classification_data(name):
    with pytest.raises(ConfigError) as info:
        build_loss(name, None, task="classification", file="r.toml")
    err = info.value
    assert err.key == "loss.name" and err.file == "r.toml"
    assert f"loss '{name}' is for regression and the data is classification" in str(err)
    assert "\n" not in str(err)


def test_classification_loss_on_regression_data():
    with pytest.raises(ConfigError, match="key 'loss.name'"):
        build_loss("crossentropy", None, task="regression")


def test_unknown_loss_name_suggests():
    with pytest.raises(ConfigError) as info:
        build_loss("crossentropi", None, task="classification")
    assert info.value.key == "loss.name" and info.value.hint == "did you mean 'crossentropy'?"


def test_bad_option_key_suggests():
    with pytest.raises(ConfigError) as info:
        build_loss("crossentropy", {"label_smothing": 0.1}, task="classification", file="r.toml")
    err = info.value
    assert err.key == "loss.label_smothing" and err.hint == "did you mean 'label_smoothing'?"
    assert err.file == "r.toml"


def test_task_is_not_a_recipe_option():
    with pytest.raises(ConfigError, match="key 'loss.task'"):
        build_loss("mse", {"task": "regression"}, task="regression")


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_label_smoothing_out_of_range(value):
    with pytest.raises(ConfigError) as info:
        build_loss("crossentropy", {"label_smoothing": value}, task="classification")
    assert info.value.key == "loss.label_smoothing" and info.value.received == value


def test_huber_delta_must_be_positive():
    with pytest.raises(ConfigError, match="key 'loss.delta'"):
        build_loss("huber", {"delta": 0}, task="regression")


def test_every_loss_has_a_task_and_description():
    assert LOSSES.names() == ["auto", "crossentropy", "sparse_categorical_crossentropy", "mse", "mae", "huber",
                              "focal", "class_balanced", "ldam", "logit_adjusted", "balanced_softmax"]
    for entry in LOSSES:
        assert entry.description and entry.meta["task"] in ("any", "classification", "regression")
