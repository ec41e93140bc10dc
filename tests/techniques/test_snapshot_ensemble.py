"""The snapshot_ensemble technique: end to end through the trainer, and its after-fit step on hand-made snapshots
(cycle ends and the collector: tests/ensemble/test_snapshots.py)."""

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from kerastricks.cli import main
from kerastricks.ensemble import ensemble_members
from kerastricks.errors import ConfigError
from kerastricks.recipes import load_recipe
from kerastricks.techniques import TrainContext, build_technique
from kerastricks.train import Trainer


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


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_after_fit_keeps_the_last_snapshots_and_averages_their_probabilities():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    rng = np.random.default_rng(0)
    snapshots = [[rng.normal(size=w.shape).astype("float32") for w in model.get_weights()] for _ in range(3)]
    technique = build_technique("snapshot_ensemble", {"max_members": 2})
    technique._collector = SimpleNamespace(epochs=[2, 4, 6], taken=[2, 4, 6], snapshots=snapshots)
    ctx = TrainContext()
    technique.after_fit(model, ctx)
    assert ctx.notes["snapshot_ensemble"] == {"cycle_end_epochs": [2, 4, 6], "snapshot_epochs": [4, 6], "members": 2}
    ensemble = ctx.artifacts["snapshot_ensemble.keras"]
    x = rng.normal(size=(5, 3)).astype("float32")
    # the paper's ensemble: the mean of the last members' softmax outputs (the model returns its log)
    probs = np.mean([_softmax(x @ kernel + bias) for kernel, bias in snapshots[1:]], axis=0)
    np.testing.assert_allclose(_softmax(ensemble.predict(x, verbose=0)), probs, atol=1e-6)
    # the run's own model keeps its weights (model.keras stays the run's model)
    assert not any(np.array_equal(model.get_weights()[0], s[0]) for s in snapshots)


def test_a_schedule_without_restarts_is_refused_with_the_key():
    with pytest.raises(ConfigError) as info:
        load_recipe(preset="digits", overrides=["techniques.snapshot_ensemble.max_members=2"])
    err = info.value
    assert (err.file, err.key, err.received) == ("preset:digits", "schedule.name", "cosine")
    assert err.expected.startswith("one of cosine_restarts, triangular, triangular2, exp_range")
