"""Long-tail runs that are not one technique's: per-class report and shots with a long-tail loss, zero-count class."""

import json

import keras
import numpy as np
import pytest

from kerastricks.data.long_tail import class_counts
from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict
from kerastricks.train import Trainer


def test_long_tail_run_reports_shots_and_plot(tmp_path, lt_recipe):
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


def test_zero_count_class_is_a_clear_error(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = np.array([0, 2] * 20)  # class 1 never appears in training
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:6], y_test=np.array([0, 1, 2] * 2))
    assert class_counts(y, 3).tolist() == [20, 0, 20]
    recipe = recipe_from_dict({"data": {"name": f"npz:{tmp_path / 'd.npz'}", "validation_split": 0.0},
                               "loss": {"name": "logit_adjusted"}, "train": {"epochs": 1}}, source="z.toml")
    with pytest.raises(ConfigError, match="z.toml.*loss.name.*0 examples of class 1"):
        Trainer(recipe, write=False, verbose=0).fit()
