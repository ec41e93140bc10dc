"""Snapshot ensembles: cycle ends against numpy schedules, the collector's resume state (the technique:
tests/techniques/test_snapshot_ensemble.py)."""

import json

import keras
import numpy as np
import pytest

from kerastricks.ensemble.snapshots import SnapshotCollector, cycle_end_epochs


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
