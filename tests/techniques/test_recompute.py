"""Recompute technique: sets the zoo option, refuses models without segments and RematScope on TensorFlow."""

import pytest

from kerastricks.errors import ConfigError
from kerastricks.models.recompute import Recompute
from kerastricks.recipes import recipe_from_dict
from kerastricks.techniques import TrainContext, build_technique


def recipe(model, **technique):
    return recipe_from_dict({"model": model, "techniques": {"recompute": technique}}, source="r.toml")


def test_sets_recompute_every_and_reports_segments():
    technique = build_technique("recompute", {"every": 2})
    assert technique.model_options({"depth": 4}, TrainContext()) == {"depth": 4, "recompute_every": 2}
    from kerastricks.models import build_model

    model = build_model("mlp", input_shape=(8,), num_outputs=2, options={"depth": 4, "recompute_every": 2})
    ctx = TrainContext()
    technique.apply_to_model(model, ctx)
    assert ctx.notes["recompute"]["segments"] == sum(isinstance(x, Recompute) for x in model.layers) == 2


def test_refuses_models_without_segments_and_keras_mode_on_tensorflow():
    with pytest.raises(ConfigError, match="model.name"):
        recipe({"name": "gru"})
    with pytest.raises(ConfigError, match="RematScope"):
        recipe({"name": "mlp"}, mode="keras")
    with pytest.raises(ConfigError, match="one place"):
        recipe({"name": "mlp", "recompute_every": 3}, every=2)
