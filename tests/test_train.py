"""The trainer end to end on small recipes: run directory, report, determinism."""

import csv
import json

import keras
import numpy as np
import pytest
from _helpers import small

from kerastricks.errors import RunDirError
from kerastricks.recipes import load_recipe, recipe_from_dict
from kerastricks.train import Trainer, claim_out_dir


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    result = Trainer(small(), out=out, verbose=0).fit()
    return result


def test_run_directory_contents(finished_run):
    run = finished_run.run_dir
    for name in ("recipe.toml", "metrics.csv", "report.json", "model.keras", "checkpoints/last.npz",
                 "plots/curves.png", "plots/learning_rate.png", "plots/confusion_matrix.png"):
        assert (run / name).exists(), name
    assert any((run / "logs").rglob("*tfevents*"))
    assert not [p for p in run.rglob(".*") if p.is_file()], "temp files left behind"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "train_time_s"} <= set(rows[0])
    assert load_recipe(run / "recipe.toml") == small()


def test_report_fields(finished_run):
    report = json.loads((finished_run.run_dir / "report.json").read_text())
    test = report["test"]
    for key in ("accuracy", "loss", "macro_f1", "per_class"):
        assert key in test
    assert len(test["per_class"]) == 10
    assert set(test["per_class"][0]) >= {"precision", "recall", "f1", "support"}
    assert sum(c["support"] for c in test["per_class"]) == 360
    for key in ("wall_time_s", "time_to_target_s", "epochs_run", "examples_per_s", "params", "precision_policy",
                "versions", "seed"):
        assert key in report
    assert set(report["versions"]) >= {"python", "keras", "tensorflow"}
    assert report["epochs_run"] == 3 and report["precision_policy"] == "float32"
    assert report["time_to_target_s"] is not None and report["time_to_target_s"] <= report["wall_time_s"]
    assert test["accuracy"] > 0.8
    assert report["params"] == finished_run.model.count_params()


def test_saved_model_is_the_best_and_evaluates_the_same(finished_run):
    report = finished_run.report
    model = keras.saving.load_model(finished_run.run_dir / "model.keras")
    from kerastricks.data import load_dataset

    ds = load_dataset("digits", {}, validation_split=0.2, seed=0)
    pred = np.argmax(model.predict(ds.x_test, verbose=0), axis=-1)
    assert np.mean(pred == ds.y_test) == pytest.approx(report["test"]["accuracy"])
    rows = finished_run.history
    best_epoch = int(np.argmax([r["val_accuracy"] for r in rows])) + 1
    assert report["best"]["epoch"] == best_epoch


def test_same_seed_same_metrics(tmp_path):
    a = Trainer(small(), verbose=0, write=False).fit().report
    b = Trainer(small(), verbose=0, write=False).fit().report
    assert a["test"]["accuracy"] == b["test"]["accuracy"]
    assert a["test"]["loss"] == b["test"]["loss"]
    assert a["last_epoch"]["val_loss"] == b["last_epoch"]["val_loss"]


def test_existing_out_dir_is_never_overwritten(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(RunDirError) as err:
        claim_out_dir(tmp_path)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert claim_out_dir(tmp_path / "new").is_dir()


def test_techniques_are_applied_and_reported(tmp_path):
    recipe = small(techniques={"ema": {"momentum": 0.9}, "label_smoothing": {"smoothing": 0.1},
                               "l2": {"factor": 1e-5}})
    result = Trainer(recipe, verbose=0, write=False).fit()
    report = result.report
    assert set(report["techniques"]) == {"ema", "label_smoothing", "l2"}
    assert report["techniques"]["l2"]["layers_regularized"] == 2
    assert result.model.optimizer.use_ema
    assert type(result.model.loss).__name__ == "SparseCrossentropy"
    # Adam + EMA: two moments plus the average per variable
    n = sum(int(np.prod(v.shape)) for v in result.model.trainable_variables)
    assert report["optimizer_state"]["scalars"] >= 3 * n


def test_target_with_stop_ends_training_at_the_epoch_that_reaches_it():
    recipe = small(train={"epochs": 6, "target": {"metric": "val_accuracy", "value": 0.2, "stop": True}})
    report = Trainer(recipe, verbose=0, write=False).fit().report
    assert report["epochs_to_target"] is not None and report["epochs_to_target"] < 6
    assert report["epochs_run"] == report["epochs_to_target"]


def test_regression_on_csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1
    path = tmp_path / "reg.csv"
    lines = ["a,b,c,target"] + [f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    recipe = recipe_from_dict({
        "data": {"name": f"csv:{path}", "label_column": "target", "task": "regression"},
        "model": {"name": "mlp", "width": 16, "depth": 1},
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "train": {"epochs": 5, "batch_size": 32},
    })
    report = Trainer(recipe, verbose=0, write=False).fit().report
    assert report["best"]["monitor"] == "val_loss"
    assert set(report["test"]) >= {"mae", "mse", "r2", "loss"}
    assert report["test"]["r2"] > 0.5


def test_configure_threads_reports_what_happened():
    import tensorflow as tf

    from kerastricks.train import configure_threads

    assert configure_threads("auto").startswith("auto")
    tf.constant(1.0) + 1.0  # the runtime is running now: settings can no longer change
    current = tf.config.threading.get_intra_op_parallelism_threads()
    wanted = current + 3
    assert configure_threads(wanted).startswith("not applied")
    assert tf.config.threading.get_intra_op_parallelism_threads() == current
