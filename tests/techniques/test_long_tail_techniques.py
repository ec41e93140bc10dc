"""resampling, drw, crt and tau_norm: unit checks and one long-tailed run each through the Trainer."""

import json

import keras
import numpy as np
import pytest

from kerastricks.data.long_tail import class_counts
from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict
from kerastricks.techniques import TrainContext
from kerastricks.techniques.decoupling import (
    TAU_GRID,
    ClassifierRetraining,
    TauNormalization,
    tau_normalized_kernel,
)
from kerastricks.train import Trainer, load_recipe_dataset


def lt_recipe(techniques=None, loss=None, epochs=3, **data):
    return recipe_from_dict(
        {
            "data": {"name": "digits", "validation_split": 0.2, "long_tail": {"imbalance_ratio": 20}, **data},
            "model": {"name": "mlp", "width": 16, "depth": 1},
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "loss": loss or {"name": "crossentropy"},
            "train": {"epochs": epochs, "batch_size": 32, "tensorboard": False},
            "techniques": techniques or {},
        },
        source="lt.toml",
    )


def test_tau_normalized_kernel_matches_formula():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 3))
    for tau in (0.0, 0.5, 1.0):
        ref = np.stack([w[:, c] / np.linalg.norm(w[:, c]) ** tau for c in range(3)], axis=1)  # Kang eq. (5)
        np.testing.assert_allclose(tau_normalized_kernel(w, tau), ref, rtol=1e-12)
    assert np.allclose(np.linalg.norm(tau_normalized_kernel(w, 1.0), axis=0), 1.0)


def test_long_tail_run_reports_shots_and_plot(tmp_path):
    out = tmp_path / "run"
    Trainer(lt_recipe(loss={"name": "balanced_softmax"}), out=out, verbose=0).fit()
    report = json.loads((out / "report.json").read_text())
    test = report["test"]
    counts = [r["train_count"] for r in test["per_class"]]
    assert counts[0] / counts[-1] >= 19
    assert {"many_shot_accuracy", "medium_shot_accuracy", "few_shot_accuracy"} <= set(test["shots"])
    assert (out / "plots" / "per_class_accuracy.png").exists()
    loaded = keras.saving.load_model(out / "model.keras")
    assert loaded.loss.class_counts == [float(c) for c in counts]


def test_crt_then_tau_norm_after_training():
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
    ctx = TrainContext(recipe=recipe, file="lt.toml", dataset=load_recipe_dataset(recipe))
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}
    ClassifierRetraining(epochs=1).after_fit(model, ctx)
    for layer in model.layers:
        changed = any(not np.array_equal(a, b) for a, b in zip(before[layer.name], layer.get_weights()))
        assert changed == (layer.name == "logits"), layer.name


def test_resampling_and_drw_run_through_the_trainer():
    report = Trainer(lt_recipe({"resampling": {"mode": "progressive"}}), write=False, verbose=0).fit().report
    assert report["steps_per_epoch"] == int(np.ceil(report["dataset"]["n_train"] / 32))
    assert len(report["techniques"]["resampling"]["class_counts"]) == 10
    report = Trainer(lt_recipe({"drw": {}}, loss={"name": "ldam", "scale": 1.0}, epochs=4), write=False,
                     verbose=0).fit().report
    assert report["techniques"]["drw"]["start_epoch"] == 3


def test_configuration_errors():
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


def test_zero_count_class_is_a_clear_error(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = np.array([0, 2] * 20)  # class 1 never appears in training
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:6], y_test=np.array([0, 1, 2] * 2))
    assert class_counts(y, 3).tolist() == [20, 0, 20]
    recipe = recipe_from_dict({"data": {"name": f"npz:{tmp_path / 'd.npz'}", "validation_split": 0.0},
                               "loss": {"name": "logit_adjusted"}, "train": {"epochs": 1}}, source="z.toml")
    with pytest.raises(ConfigError, match="z.toml.*loss.name.*0 examples of class 1"):
        Trainer(recipe, write=False, verbose=0).fit()
