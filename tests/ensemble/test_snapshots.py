"""Snapshot ensembles: cycle ends against numpy schedules, the collector's resume state, the technique end to end."""

import json

import keras
import numpy as np
import pytest

from kerastricks.cli import main
from kerastricks.ensemble import ensemble_members
from kerastricks.ensemble.snapshots import SnapshotCollector, cycle_end_epochs
from kerastricks.recipes import load_recipe
from kerastricks.train import Trainer


def np_triangular(steps, base, peak, half):
    """Smith (2017)'s triangular policy, written out: up for ``half`` steps, down for ``half``."""
    cycle = np.floor(1 + steps / (2 * half))
    x = np.abs(steps / half - 2 * cycle + 1)
    return base + (peak - base) * np.maximum(0.0, 1 - x)


def np_sgdr(steps, peak, period):
    """SGDR with ``t_mul = 1``: a cosine from ``peak`` to 0 over every ``period`` steps."""
    return 0.5 * peak * (1 + np.cos(np.pi * (steps % period) / period))


@pytest.mark.parametrize("spe, half_epochs, epochs, expected", [
    (10, 2, 12, [4, 8, 12]),      # cycles of 4 epochs
    (7, 1, 6, [2, 4, 6]),
    (10, 2, 10, [4, 8, 10]),      # ends mid-cycle: the last epoch is kept too
])
def test_cycle_ends_of_triangular(spe, half_epochs, epochs, expected):
    rates = np_triangular(np.arange(spe * epochs), 0.1, 1.0, half_epochs * spe)
    assert cycle_end_epochs(rates, spe, epochs) == expected


def test_cycle_ends_of_cosine_restarts_and_of_schedules_without_cycles():
    spe, epochs = 9, 15
    assert cycle_end_epochs(np_sgdr(np.arange(spe * epochs), 1.0, 5 * spe), spe, epochs) == [5, 10, 15]
    warmup_then_decay = np.concatenate([np.linspace(0, 1, 20), np.linspace(1, 0, 70)])
    assert cycle_end_epochs(warmup_then_decay, 9, 10) == [10]  # the warmup's rise is no cycle end
    assert cycle_end_epochs(np.full(50, 0.1), 5, 10) == [10]


def test_collector_state_round_trip():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    collector = SnapshotCollector([1, 3])
    collector.set_model(model)
    for epoch in range(3):
        model.layers[0].kernel.assign(np.full((3, 2), float(epoch)))
        collector.on_epoch_end(epoch)
    assert collector.taken == [1, 3]
    assert [float(s[0][0, 0]) for s in collector.snapshots] == [0.0, 2.0]
    again = SnapshotCollector([1, 3])
    again.load_state_dict(json.loads(json.dumps(collector.state_dict())))  # the checkpoint stores JSON
    again.load_state_arrays(collector.state_arrays())
    assert again.taken == collector.taken
    for a, b in zip(again.snapshots, collector.snapshots):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_snapshot_ensemble_technique(tmp_path, capsys):
    recipe = load_recipe(preset="digits", overrides=[
        "model.name=mlp", "model.width=8", "model.depth=1", "train.epochs=4", "train.batch_size=64",
        "train.monitor=last", "train.tensorboard=false", "train.plots=false", "schedule.name=cosine_restarts",
        "schedule.first_decay_epochs=2", "schedule.t_mul=1", "techniques.snapshot_ensemble.method=logit_mean"])
    result = Trainer(recipe, out=tmp_path / "run", verbose=0).fit()
    notes = result.report["techniques"]["snapshot_ensemble"]
    assert notes["snapshot_epochs"] == [2, 4] and notes["members"] == 2
    ensemble = keras.saving.load_model(tmp_path / "run" / "snapshot_ensemble.keras")
    members = ensemble_members(ensemble)
    # the last snapshot is the final model (train.monitor = last), the first one differs from it
    final = result.model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(members[-1].get_weights(), final))
    assert not all(np.array_equal(a, b) for a, b in zip(members[0].get_weights(), final))
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    want = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), want, atol=1e-5)  # logit_mean
    assert notes["test"]["examples"] == result.report["test"]["examples"]

    code = main(["train", "--preset", "digits", "--set", "techniques.snapshot_ensemble.max_members=2"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "schedule.name" in err and "cosine_restarts" in err
