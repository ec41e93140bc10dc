"""The ``swa`` technique: recipe checks, a trainer run that saves the averaged model, and a killed run that
resumes bit-identically (the average and its count are in the checkpoint)."""

import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerastricks import io as kio
from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict
from kerastricks.train import Trainer

RECIPE = {
    "data": {"name": "digits", "validation_split": 0.2},
    "model": {"name": "mlp", "width": 16, "depth": 1, "norm": "batch", "dropout": 0.1},
    "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    "train": {"epochs": 4, "batch_size": 64, "tensorboard": False, "plots": False, "monitor": "val_accuracy"},
    "techniques": {"swa": {"start_epoch": 2, "every": 1, "swa_lr": 0.02, "swa_lr_min": 0.01}},
}


def recipe(**swa):
    data = {**RECIPE, "techniques": {"swa": {**RECIPE["techniques"]["swa"], **swa}}}
    return recipe_from_dict(data, source="swa.toml")


@pytest.mark.parametrize("options, key", [
    ({"start_epoch": 5}, "techniques.swa.start_epoch"),      # after the last epoch (4)
    ({"start_epoch": 3, "every": 3}, "techniques.swa.every"),  # the first cycle would end after epoch 4
    ({"swa_lr": None, "swa_lr_min": 0.01}, "techniques.swa.swa_lr_min"),
    ({"swa_lr": 0.01, "swa_lr_min": 0.02}, "techniques.swa.swa_lr_min"),
])
def test_bad_recipes(options, key):
    data = {**RECIPE, "techniques": {"swa": {k: v for k, v in {**RECIPE["techniques"]["swa"], **options}.items()
                                             if v is not None}}}
    with pytest.raises(ConfigError) as info:
        recipe_from_dict(data, source="swa.toml")
    assert info.value.key == key and info.value.file == "swa.toml" and "\n" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        recipe_from_dict({**RECIPE, "train": {**RECIPE["train"], "on_nan": "rollback"}}, source="swa.toml")
    assert info.value.key == "train.on_nan"


def test_default_start_is_the_last_quarter():
    r = recipe_from_dict({**RECIPE, "train": {**RECIPE["train"], "epochs": 20}, "techniques": {"swa": {}}})
    technique = r.build_techniques()[0]
    assert technique._start(20) == 16 and technique._start(1) == 1


def test_trainer_saves_the_averaged_model_with_updated_bn(tmp_path):
    result = Trainer(recipe(), out=tmp_path / "run", verbose=0).fit()
    notes = result.report["techniques"]["swa"]
    assert notes["applied"] and notes["n_averaged"] == 3 and notes["bn_layers_updated"] == 1  # epochs 2, 3, 4
    # the cyclical SWA rate from the first step of epoch 2 on: logged at each epoch's end, which is the first
    # step of the next cycle, (1 - 1/c) 0.02 + 0.01 / c (the run's own rate, 0.05, is never logged)
    rates = [row["learning_rate"] for row in result.history]
    c = result.report["steps_per_epoch"]
    assert rates == pytest.approx([0.02 - 0.01 / c] * 4, rel=1e-6)
    loaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    for a, b in zip(loaded.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert float(np.min(keras.ops.convert_to_numpy(result.model.get_layer("dense1_norm").moving_variance))) > 0


def train_process(*args, kill_at=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop(kio.KILL_AT_ENV, None)
    if kill_at:
        env[kio.KILL_AT_ENV] = kill_at
    return subprocess.run([sys.executable, "-m", "kerastricks", "train", *args, "--quiet"], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
def test_killed_and_resumed_run_ends_bit_identical(tmp_path):
    path = tmp_path / "swa.toml"
    path.write_text(recipe().to_toml())
    done = train_process(str(path), "--out", str(tmp_path / "reference"))
    assert done.returncode == 0, done.stderr[-2000:]
    # killed while writing the third checkpoint: epochs 1-2 are saved, with one average (epoch 2)
    killed = train_process(str(path), "--out", str(tmp_path / "resumed"), kill_at="last.npz:3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    resumed = train_process("--resume", str(tmp_path / "resumed"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    want = keras.saving.load_model(tmp_path / "reference" / "model.keras").get_weights()
    got = keras.saving.load_model(tmp_path / "resumed" / "model.keras").get_weights()
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    report = kio.read_json(tmp_path / "resumed" / "report.json")
    assert report["techniques"]["swa"]["n_averaged"] == 3 and report["resumed"] == 1
