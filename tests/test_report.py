"""The end of a run: test metrics against numpy, report.json's figures from hand-made inputs, which plots are drawn."""

import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from kerastricks.data import Dataset
from kerastricks.recipes import recipe_from_dict
from kerastricks.report import build_report, evaluate_model, write_plots
from kerastricks.runtime import RuntimeInfo
from kerastricks.techniques import TrainContext, build_technique

RNG = np.random.default_rng(0)


def _data(task="classification", n=40, classes=3, counts=(20, 15, 5)):
    x = RNG.normal(size=(n, 4)).astype("float32")
    if task == "classification":
        y = RNG.integers(0, classes, size=n)
        y_train = np.repeat(np.arange(classes), counts)
        return Dataset(name="hand", x_train=np.zeros((len(y_train), 4), "float32"), y_train=y_train, x_val=None,
                       y_val=None, x_test=x, y_test=y, task=task, num_classes=classes, class_names=["a", "b", "c"])
    y = RNG.normal(size=(n, 1)).astype("float32")
    return Dataset(name="hand", x_train=x, y_train=y, x_val=None, y_val=None, x_test=x, y_test=y, task=task,
                   num_classes=None, class_names=None)


def _dense(outputs, loss):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(outputs)])
    model.set_weights([RNG.normal(size=(4, outputs)).astype("float32"), RNG.normal(size=outputs).astype("float32")])
    model.compile("sgd", loss=loss)
    return model


def test_classification_metrics_match_numpy():
    data = _data()
    model = _dense(3, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    got = evaluate_model(model, data, batch_size=16)
    kernel, bias = model.get_weights()
    z = data.x_test.astype(np.float64) @ kernel + bias
    log_p = z - z.max(-1, keepdims=True) - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))
    pred = z.argmax(-1)
    assert got["loss"] == pytest.approx(-log_p[np.arange(40), data.y_test].mean(), rel=1e-5)
    assert got["accuracy"] == pytest.approx(np.mean(pred == data.y_test))
    cm = np.zeros((3, 3), int)
    np.add.at(cm, (data.y_test, pred), 1)
    assert got["confusion_matrix"] == cm.tolist() and got["examples"] == 40
    assert [r["train_count"] for r in got["per_class"]] == [20, 15, 5]


def test_regression_metrics_and_a_loss_given_by_name_match_numpy():
    data = _data("regression")
    model = _dense(1, "mse")
    got = evaluate_model(model, data)
    kernel, bias = model.get_weights()
    err = data.x_test.astype(np.float64) @ kernel + bias - data.y_test
    assert got["loss"] == pytest.approx(np.mean(err**2), rel=1e-5)
    assert got["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
    assert got["examples"] == 40 and "accuracy" not in got


RECIPE = recipe_from_dict({"data": {"name": "digits", "validation_split": 0.1}, "model": {"name": "mlp"},
                           "train": {"epochs": 5, "seed": 3, "target": {"metric": "val_accuracy", "value": 0.9}}},
                          source="hand.toml")


def _report(rows, target_cb, fresh=1.0, divergence=None, n_train=100):
    model = _dense(3, "mse")
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    ctx = TrainContext(steps_per_epoch=4)
    ctx.fresh_fraction = fresh
    technique = build_technique("label_smoothing", {"smoothing": 0.1})
    ctx.notes["label_smoothing"] = {"applied": True}
    runtime = RuntimeInfo("tensorflow", 3, "float32", "set in recipe", False, "set in recipe", "auto", None)
    return build_report(recipe=RECIPE, run_dir=None, dataset=_data(), model=model, optimizer=optimizer, rows=rows,
                        test={"accuracy": 0.5}, target_cb=target_cb, best=SimpleNamespace(best=0.8, best_epoch=2),
                        monitor="val_accuracy", runtime=runtime, ctx=ctx, techniques=[technique], wall=12.0,
                        fit_wall=9.0, resumed=1, n_train=n_train, divergence=divergence)


def test_report_counts_from_hand_made_rows():
    rows = [{"epoch": e, "elapsed_s": 2.0 * e, "train_time_s": 1.5 + (e == 1), "train_cpu_s": 3.0}
            for e in (1, 2, 3)]
    target = SimpleNamespace(time_to_target_s=4.5, epoch_reached=2, steps_reached=8, examples_reached=200)
    report = _report(rows, target, fresh=0.5)
    assert (report["epochs_run"], report["epochs_planned"], report["stopped_early"]) == (3, 5, True)
    assert report["fit_time_s"] == 6.0 and report["last_epoch"] == rows[-1] and report["wall_time_s"] == 12.0
    assert report["examples_trained"] == 300 and report["examples_fresh"] == 150
    assert report["examples_fresh_to_target"] == 100
    assert (report["time_to_target_s"], report["epochs_to_target"], report["steps_to_target"]) == (4.5, 2, 8)
    assert report["target"] == {"metric": "val_accuracy", "value": 0.9, "mode": "auto", "stop": False}
    # the timed window leaves the first (compiling) epoch out: 2 epochs of 100 examples in 3.0 s, 6.0 CPU s
    assert report["examples_per_s"] == pytest.approx(200 / 3.0)
    assert report["cpu_s_per_example"] == pytest.approx(6.0 / 200)
    assert report["best"] == {"monitor": "val_accuracy", "value": 0.8, "epoch": 2}
    assert report["params"] == 4 * 3 + 3 == report["trainable_params"]
    # Adam: two moments per weight, plus its iteration count and learning rate
    assert report["optimizer_state"]["scalars"] == 2 * 15 + 2
    assert report["techniques"] == {"label_smoothing": {"options": {"smoothing": 0.1}, "applied": True}}
    assert (report["diverged"], report["divergence"], report["resumed"], report["seed"]) == (
        False, {"rollbacks": 0}, 1, 3)
    assert report["backend"] == "tensorflow" and report["dataset"]["n_test"] == 40
    json.dumps(report, allow_nan=False)  # strict JSON as it stands


def test_report_without_target_timings_or_rows():
    report = _report([], None, divergence={"stopped": True, "rollbacks": 2})
    assert report["fit_time_s"] == 9.0 and report["last_epoch"] == {} and report["epochs_run"] == 0
    for key in ("time_to_target_s", "epochs_to_target", "steps_to_target", "examples_to_target",
                "examples_fresh_to_target", "examples_per_s", "cpu_s_per_example", "speed_window"):
        assert report[key] is None, key
    assert report["diverged"] is True and report["divergence"]["rollbacks"] == 2


def test_write_plots_draws_what_the_run_has(tmp_path):
    rows = [{"epoch": 1, "loss": 1.0, "learning_rate": 0.1}, {"epoch": 2, "loss": 0.5, "learning_rate": 0.05}]
    data = _data(counts=(200, 15, 5))  # long-tailed training data: the per-class plot too
    test = evaluate_model(_dense(3, keras.losses.SparseCategoricalCrossentropy(from_logits=True)), data)
    assert "shots" in test
    write_plots(tmp_path, rows, test, data, schedule=0.1, steps_per_epoch=4, epochs=2)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "confusion_matrix.png", "curves.png", "learning_rate.png", "per_class_accuracy.png"]
    write_plots(tmp_path / "regression", [], {"mae": 0.1}, _data("regression"), schedule=0.1, steps_per_epoch=4,
                epochs=2)
    assert not (tmp_path / "regression" / "plots").exists()  # nothing to draw
