"""Divergence: a non-finite loss or weight stops the run (exit 3) or rolls it back; never a NaN model."""

import json
import math

import keras
import numpy as np
import pytest

from kerastricks.callbacks import BestModel, DivergenceGuard, all_finite
from kerastricks.cli import EXIT_DIVERGED, main
from kerastricks.recipes import recipe_from_dict
from kerastricks.train import Diverged, Trainer

RECIPE = """
[data]
name = "digits"
validation_split = 0.2
[model]
name = "mlp"
width = 16
depth = 1
norm = "batch"
[optimizer]
name = "sgd"
learning_rate = 0.05
[train]
epochs = 3
batch_size = 64
"""


def strict_json(path):
    """Parse like a strict JSON reader: NaN / Infinity are errors."""

    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def run(tmp_path, capsys, *sets):
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    args = ["train", str(recipe), "--out", str(out), "--quiet"]
    for s in sets:
        args += ["--set", s]
    code = main(args)
    _, err = capsys.readouterr()
    return code, err, out


def test_stop_exits_3_with_one_line_and_writes_no_model(tmp_path, capsys):
    code, err, out = run(tmp_path, capsys, "optimizer.learning_rate=1e6")
    assert code == EXIT_DIVERGED == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "non-finite at epoch 1" in lines[0] and "learning rate" in lines[0]
    assert not (out / "model.keras").exists()
    assert not (out / "checkpoints" / "last.npz").exists()  # a diverged epoch is never checkpointed
    report = strict_json(out / "report.json")
    assert report["diverged"] is True and report["test"] is None
    assert report["divergence"]["rollbacks"] == 0 and report["divergence"]["events"][0]["what"] == "loss"
    assert report["last_epoch"]["loss"] is None  # NaN written as null


def test_rollback_finishes_with_finite_weights_and_counts_rollbacks(tmp_path, capsys):
    # 1e6 -> 1e3 -> 1e0 -> 1e-3: the third rollback's rate trains
    code, err, out = run(tmp_path, capsys, "optimizer.learning_rate=1e6", "train.on_nan=rollback",
                         "train.nan_lr_factor=0.001")
    assert code == 0, err
    report = strict_json(out / "report.json")
    assert report["diverged"] is False
    div = report["divergence"]
    assert 1 <= div["rollbacks"] <= 3 and len(div["events"]) == div["rollbacks"]
    assert div["lr_scale"] == pytest.approx(0.001 ** div["rollbacks"])
    model = keras.saving.load_model(out / "model.keras")
    assert all_finite(model.get_weights())
    assert math.isfinite(report["test"]["loss"])
    rows = (out / "metrics.csv").read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3]  # the diverged attempts left no rows
    assert "nan" not in (out / "metrics.csv").read_text().lower()


def test_rollback_gives_up_after_nan_retries(tmp_path, capsys):
    code, err, out = run(tmp_path, capsys, "optimizer.learning_rate=1e6", "train.on_nan=rollback",
                         "train.nan_retries=1", "train.nan_lr_factor=0.5")
    assert code == 3
    line = err.strip().splitlines()[-1]
    assert "after 1 rollback(s)" in line
    assert not (out / "model.keras").exists()
    assert strict_json(out / "report.json")["divergence"]["rollbacks"] == 1


def test_trainer_raises_diverged_in_memory():
    recipe = recipe_from_dict({"data": {"name": "digits"},
                               "model": {"name": "mlp", "width": 16, "depth": 1, "norm": "batch"},
                               "optimizer": {"name": "sgd", "learning_rate": 1e6},
                               "train": {"epochs": 2, "batch_size": 64}}, source="mem.toml")
    with pytest.raises(Diverged) as info:
        Trainer(recipe, write=False, verbose=0).fit()
    assert info.value.report["diverged"] is True and "non-finite" in info.value.line()


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", loss="mse")
    return model


def test_guard_flags_non_finite_weights_at_epoch_end():
    model = _model()
    guard = DivergenceGuard()
    guard.set_model(model)
    guard.on_epoch_begin(0)
    guard.on_epoch_end(0, {"loss": 1.0})
    assert guard.diverged is None
    w = model.get_weights()
    w[0][0, 0] = np.inf
    model.set_weights(w)
    guard.on_epoch_begin(1)
    guard.on_epoch_end(1, {"loss": 1.0})
    assert guard.diverged == {"epoch": 2, "step": None, "what": "weights", "value": None}
    assert model.stop_training
    assert "a model weight became non-finite at epoch 2" in guard.describe()
    assert "loss scale" in guard.describe(precision="mixed_float16")


def test_guard_flags_the_first_non_finite_batch_loss():
    guard = DivergenceGuard()
    guard.set_model(_model())
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(0, {"loss": 0.5})
    guard.on_train_batch_end(4, {"loss": float("nan")})
    guard.on_train_batch_end(5, {"loss": float("inf")})
    assert guard.diverged["step"] == 5 and guard.diverged["what"] == "loss"


def test_best_model_never_keeps_non_finite_weights():
    # A NaN model whose metric "improves" (accuracy of a constant prediction can rise) is never chosen.
    model = _model()
    best = BestModel(monitor="val_accuracy", mode="max")
    best.set_model(model)
    best.on_epoch_end(0, {"val_accuracy": 0.5})
    kept = [w.copy() for w in best.best_weights]
    w = model.get_weights()
    w[1][:] = np.nan
    model.set_weights(w)
    best.on_epoch_end(1, {"val_accuracy": 0.9})
    assert best.best_epoch == 1 and best.best == 0.5
    assert all(np.array_equal(a, b) for a, b in zip(best.best_weights, kept))
    best.on_epoch_end(2, {"val_accuracy": float("nan")})
    assert best.best_epoch == 1


def test_rollback_lowers_the_rate_of_a_plateau_warmup_too(tmp_path, capsys):
    # the plateau schedule's warmup sets the rate itself every batch: it must ramp to the scaled rate
    code, err, out = run(tmp_path, capsys, "optimizer.learning_rate=1e6", "schedule.name=plateau",
                         "schedule.warmup_epochs=2", "train.on_nan=rollback", "train.nan_retries=1",
                         "train.nan_lr_factor=1e-6")
    assert code == 0, err
    report = strict_json(out / "report.json")
    assert report["divergence"]["rollbacks"] == 1 and report["divergence"]["lr_scale"] == 1e-6
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    header = rows[0].split(",")
    rates = [float(r.split(",")[header.index("learning_rate")]) for r in rows[1:]]
    assert max(rates) <= 1e6 * 1e-6 * (1 + 1e-6)  # the ramp ends at the scaled rate, not at 1e6
