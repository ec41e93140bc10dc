"""One contract for every registered technique: validates, trains, reports, resumes; mixed precision.

For each technique (default options) on a tiny digits recipe: the recipe
validates, a run applies it and names it in the report, and a run killed right
after its first checkpoint resumes to the full epoch count with the
technique's state restored.
"""

import json
import math

import keras
import pytest

from kerastricks.callbacks import RunCheckpoint
from kerastricks.recipes import recipe_from_dict
from kerastricks.techniques import TECHNIQUES
from kerastricks.train import Trainer

#: Recipe sections a technique needs besides the defaults (e.g. drw re-weights a long-tail loss).
NEEDS = {"drw": {"loss": {"name": "ldam", "scale": 1.0}},
         "snapshot_ensemble": {"schedule": {"name": "triangular", "step_size_epochs": 0.5}}}


def recipe_with(name):
    return recipe_from_dict(
        {
            "data": {"name": "digits", "validation_split": 0.2},
            "model": {"name": "mlp", "width": 16, "depth": 1},
            "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
            "train": {"epochs": 3, "batch_size": 16, "tensorboard": False, "plots": False},
            "techniques": {name: {}},
            **NEEDS.get(name, {}),
        },
        source=f"{name}.toml",
    )


class Killed(Exception):
    pass


@pytest.mark.parametrize("name", TECHNIQUES.names())
def test_technique_trains_reports_and_resumes(name, tmp_path, monkeypatch):
    recipe = recipe_with(name)
    assert list(recipe.techniques) == [name]

    original = RunCheckpoint.write

    def write_then_die(self, model, epoch):
        original(self, model, epoch)
        if epoch == 1:  # killed right after the first checkpoint
            raise Killed

    monkeypatch.setattr(RunCheckpoint, "write", write_then_die)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        Trainer(recipe, out=out, verbose=0).fit()
    assert (out / "checkpoints" / "last.npz").exists() and not (out / "report.json").exists()

    result = Trainer.resume(out, verbose=0).fit()
    report = json.loads((out / "report.json").read_text())
    assert name in report["techniques"]
    assert report["techniques"][name]["options"] == TECHNIQUES.get(name).defaults
    assert report["resumed"] == 1
    # early stopping may legitimately end before the planned epochs
    assert report["epochs_run"] == 3 or (name == "early_stopping" and report["stopped_early"])
    assert report["test"]["accuracy"] > 0.5
    assert result.model is not None


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", TECHNIQUES.names())
def test_technique_trains_under_each_precision_policy(name, policy):
    before = keras.mixed_precision.global_policy().name
    recipe = recipe_from_dict({
        "data": {"name": "digits", "validation_split": 0.2},
        "model": {"name": "mlp", "width": 8, "depth": 1},
        "train": {"epochs": 1, "batch_size": 64, "precision": policy, "tensorboard": False, "plots": False},
        "techniques": {name: {}},
        **NEEDS.get(name, {}),
    })
    result = Trainer(recipe, write=False, verbose=0).fit()
    report = result.report
    assert report["precision"] == {"value": policy, "reason": "set in recipe"}
    assert math.isfinite(report["last_epoch"]["loss"])
    assert result.model.get_layer("logits").compute_dtype == "float32"  # logits stay float32
    assert result.model.layers[2].compute_dtype == policy.split("_")[1]  # hidden layer in 16 bits
    assert keras.mixed_precision.global_policy().name == before  # the trainer restores the policy
