"""crt and tau_norm (decoupled classifier learning): tau-normalization against Kang et al.'s formula, a run of both."""

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.techniques import TrainContext
from kerastricks.techniques.decoupling import (
    TAU_GRID,
    ClassifierRetraining,
    TauNormalization,
    tau_normalized_kernel,
)
from kerastricks.train import Trainer, load_recipe_dataset


def test_tau_normalized_kernel_matches_formula():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 3))
    for tau in (0.0, 0.5, 1.0):
        ref = np.stack([w[:, c] / np.linalg.norm(w[:, c]) ** tau for c in range(3)], axis=1)  # Kang eq. (5)
        np.testing.assert_allclose(tau_normalized_kernel(w, tau), ref, rtol=1e-12)
    assert np.allclose(np.linalg.norm(tau_normalized_kernel(w, 1.0), axis=0), 1.0)


def test_crt_then_tau_norm_after_training(lt_recipe):
    recipe = lt_recipe({"crt": {"epochs": 2}, "tau_norm": {}}, epochs=2)
    result = Trainer(recipe, write=False, verbose=0).fit()
    notes = result.report["techniques"]
    assert np.isfinite(notes["crt"]["final_loss"])
    # tau_norm ran after crt and chose the best tau of its grid on validation balanced accuracy
    scores = {float(k): v for k, v in notes["tau_norm"]["val_balanced_accuracy"].items()}
    assert set(scores) == set(TAU_GRID)
    assert scores[notes["tau_norm"]["tau"]] == max(scores.values()) >= scores[0.0]
    # cRT on the kept model changes the logits layer only (features frozen)
    model = result.model
    ctx = TrainContext.for_recipe(recipe)  # seed, batch size, epochs: as the trainer fills them
    ctx.dataset = load_recipe_dataset(recipe)
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}
    ClassifierRetraining(epochs=1).after_fit(model, ctx)
    for layer in model.layers:
        changed = any(not np.array_equal(a, b) for a, b in zip(before[layer.name], layer.get_weights()))
        assert changed == (layer.name == "logits"), layer.name


def test_configuration_errors(lt_recipe):
    with pytest.raises(ConfigError, match="drw re-weights a long-tail loss"):
        lt_recipe({"drw": {}})
    with pytest.raises(ConfigError, match="validation set"):
        lt_recipe({"tau_norm": {}}, validation_split=0.0)
    lt_recipe({"tau_norm": {"tau": 1.0}}, validation_split=0.0)  # a fixed tau needs none
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="out")])
    ctx = TrainContext(recipe=lt_recipe(), file="lt.toml")
    ctx.dataset = load_recipe_dataset(ctx.recipe)
    with pytest.raises(ConfigError, match="techniques.tau_norm.layer.*logits"):
        TauNormalization(tau=1.0).after_fit(model, ctx)
