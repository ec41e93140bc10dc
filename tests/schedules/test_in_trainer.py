"""Schedules that bring callbacks, inside the trainer: wired in, checkpointed, resumed, saved."""

import csv

import keras
import numpy as np
import pytest

from kerastricks.callbacks import EpochLogger
from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict
from kerastricks.train import Trainer

BASE = {
    "data": {"name": "digits", "validation_split": 0.2},
    "model": {"name": "mlp", "width": 16, "depth": 1},
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "train": {"epochs": 4, "batch_size": 128, "tensorboard": False, "plots": False},
}
# min_delta larger than any change: every epoch after the first is a plateau.
PLATEAU = {"name": "plateau", "monitor": "loss", "patience": 2, "factor": 0.5, "min_delta": 100.0}


def recipe(schedule, **train):
    return recipe_from_dict({**BASE, "schedule": schedule, "train": {**BASE["train"], **train}}, source="r.toml")


def logged_rates(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [float(row["learning_rate"]) for row in csv.DictReader(f)]


def test_plateau_cuts_the_rate_and_resumes_with_its_counters(tmp_path, monkeypatch):
    full = Trainer(recipe(PLATEAU), out=tmp_path / "full", verbose=0).fit()
    # The rate logged at an epoch's end is the one used during it; cut after epochs 3 (wait 2) ...
    np.testing.assert_allclose(logged_rates(full.run_dir), [0.01, 0.01, 0.01, 0.005], rtol=1e-6)

    original = EpochLogger.on_epoch_begin

    def killed_at_epoch_3(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch, logs)

    monkeypatch.setattr(EpochLogger, "on_epoch_begin", killed_at_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        Trainer(recipe(PLATEAU), out=tmp_path / "cut", verbose=0).fit()
    monkeypatch.setattr(EpochLogger, "on_epoch_begin", original)
    resumed = Trainer.resume(tmp_path / "cut", verbose=0).fit()
    # A reset counter (wait = 0, best = inf) would not cut after epoch 3.
    assert logged_rates(resumed.run_dir) == logged_rates(full.run_dir)
    assert resumed.report["resumed"] == 1


def test_one_cycle_run_cycles_momentum_and_saves(tmp_path):
    result = Trainer(recipe({"name": "one_cycle", "pct_start": 0.5}, epochs=2), out=tmp_path / "run",
                     verbose=0).fit()
    optimizer = result.model.optimizer
    assert optimizer.beta_1 == 0.9  # the number is back after training
    steps = result.report["steps_per_epoch"] * 2
    rates = logged_rates(result.run_dir)
    # Logged at the end of each epoch: the schedule at the optimizer's step count then.
    from kerastricks.schedules import OneCycle, learning_rate_at

    want = learning_rate_at(OneCycle(0.01, steps, pct_start=0.5), [steps // 2, steps])
    np.testing.assert_allclose(rates, want, rtol=1e-5)
    loaded = keras.saving.load_model(result.run_dir / "model.keras")
    assert loaded.optimizer.get_config()["beta_1"] == 0.9


def test_plateau_monitor_needs_validation_data():
    with pytest.raises(ConfigError) as info:
        recipe_from_dict({**BASE, "data": {"name": "digits", "validation_split": 0.0},
                          "schedule": {"name": "plateau"}}, source="r.toml")
    assert info.value.key == "schedule.monitor"


def test_removed_reduce_lr_technique_points_to_the_plateau_schedule():
    # one way to get plateau behaviour: the wave-1 technique name now says where it went
    with pytest.raises(ConfigError) as info:
        recipe_from_dict({**BASE, "techniques": {"reduce_lr_on_plateau": {}}}, source="r.toml")
    assert info.value.key == "techniques.reduce_lr_on_plateau"
    assert "name = 'plateau'" in str(info.value) and str(info.value).startswith("r.toml")


def test_warmup_in_steps_and_epochs_is_rejected_at_validation():
    with pytest.raises(ConfigError) as info:
        recipe({"name": "triangular", "warmup_steps": 3, "warmup_epochs": 1.0})
    assert info.value.key == "schedule.warmup_steps" and str(info.value).startswith("r.toml")
