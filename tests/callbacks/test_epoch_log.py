"""EpochLogger: one CSV row per epoch with timings and learning rate; throughput math."""

import csv
import math
import types

import keras
import numpy as np
import pytest

from kerastricks.callbacks import EpochLogger, current_learning_rate, speed_window, steady_examples_per_s
from kerastricks.callbacks import epoch_log as epoch_log_module


@pytest.fixture
def clock(fake_clock):
    return fake_clock(epoch_log_module)


def fake_model(lr=0.1):
    return types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=lr))


def run_epoch(cb, clock, epoch, train_s, val_s, logs):
    cb.on_epoch_begin(epoch)
    clock.now += train_s
    if val_s is not None:
        cb.on_test_begin()
        clock.now += val_s
        cb.on_test_end()
    cb.on_epoch_end(epoch, logs)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_rows_with_fake_clock(tmp_path, clock, monkeypatch):
    # this process's CPU clock runs at 0.75 x the wall clock (another process holds the core a quarter of the time)
    monkeypatch.setattr(epoch_log_module, "cpu_seconds", lambda: 0.75 * clock.now)
    cb = EpochLogger(tmp_path / "metrics.csv")
    cb.set_model(fake_model(0.25))
    cb.on_train_begin()
    clock.now += 1.0  # setup before the first epoch
    logs = {"loss": 0.5, "val_loss": 0.75, "note": "not a number"}
    run_epoch(cb, clock, 0, 2.0, 0.5, logs)
    assert logs["learning_rate"] == 0.25  # later callbacks see it
    run_epoch(cb, clock, 1, 1.5, None, {"loss": 0.25})
    assert cb.rows == [
        {"epoch": 1, "loss": 0.5, "val_loss": 0.75, "learning_rate": 0.25, "train_time_s": 2.0, "train_cpu_s": 1.5,
         "epoch_time_s": 2.5, "elapsed_s": 3.5},
        {"epoch": 2, "loss": 0.25, "learning_rate": 0.25, "train_time_s": 1.5, "train_cpu_s": 1.125,
         "epoch_time_s": 1.5, "elapsed_s": 5.0},
    ]  # train_cpu_s: the training steps only, validation left out
    rows = read_csv(tmp_path / "metrics.csv")
    assert list(rows[0]) == ["epoch", "loss", "val_loss", "learning_rate", "train_time_s", "train_cpu_s",
                             "epoch_time_s", "elapsed_s"]
    assert rows[1]["val_loss"] == ""  # missing value in a later row
    assert float(rows[0]["epoch_time_s"]) == 2.5 and rows[1]["epoch"] == "2"
    assert cb.column("val_loss")[0] == 0.75 and math.isnan(cb.column("val_loss")[1])


def test_state_round_trip_continues_rows_and_elapsed(tmp_path, clock):
    first = EpochLogger(None)
    first.set_model(fake_model())
    first.on_train_begin()
    run_epoch(first, clock, 0, 2.0, None, {"loss": 1.0})
    state = first.state_dict()
    assert state["elapsed"] == pytest.approx(2.0)

    resumed = EpochLogger(tmp_path / "m.csv")
    resumed.load_state_dict(state)
    resumed.set_model(fake_model())
    resumed.on_train_begin()
    run_epoch(resumed, clock, 1, 3.0, None, {"loss": 0.5})
    assert [r["epoch"] for r in resumed.rows] == [1, 2]
    assert resumed.rows[1]["elapsed_s"] == pytest.approx(5.0)
    assert [r["epoch"] for r in read_csv(tmp_path / "m.csv")] == ["1", "2"]
    # The state holds copies: editing the resumed rows does not change the saved state.
    resumed.rows[0]["loss"] = 9.0
    assert state["rows"][0]["loss"] == 1.0


def test_with_model_fit(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3)).astype("float32")
    y = rng.normal(size=(24, 1)).astype("float32")
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    seen = []
    spy = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs.get("learning_rate")))
    logger = EpochLogger(tmp_path / "metrics.csv")
    model.fit(x, y, batch_size=8, epochs=3, validation_data=(x[:8], y[:8]), verbose=0, callbacks=[logger, spy])
    rows = read_csv(tmp_path / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    for key in ("loss", "val_loss", "learning_rate", "train_time_s", "train_cpu_s", "epoch_time_s", "elapsed_s"):
        assert key in rows[0]
    for row in logger.rows:
        assert 0 < row["train_time_s"] <= row["epoch_time_s"] <= row["elapsed_s"]
        assert row["train_cpu_s"] >= 0
    # End of epoch e: 3 * e steps done -> lr = 0.1 * 0.5^(3e / 3); written with 8 significant digits.
    expected_lr = [0.1 * 0.5**e for e in (1, 2, 3)]
    np.testing.assert_allclose([float(r["learning_rate"]) for r in rows], expected_lr, rtol=1e-6)
    np.testing.assert_allclose(seen, expected_lr, rtol=1e-6)
    assert np.all(np.diff(logger.column("elapsed_s")) > 0)


def test_current_learning_rate():
    assert current_learning_rate(keras.optimizers.Adam(0.003)) == pytest.approx(0.003)
    assert math.isnan(current_learning_rate(object()))


def test_steady_examples_per_s():
    rows = [{"train_time_s": 10.0}, {"train_time_s": 2.0}, {"train_time_s": 3.0}]
    # The first epoch (compilation) is left out: 100 examples / median(2, 3) s.
    assert steady_examples_per_s(rows, 100) == pytest.approx(40.0)
    # one epoch slowed by another process does not move the median epoch
    spiky = rows + [{"train_time_s": 2.0}, {"train_time_s": 30.0}, {"train_time_s": 2.0}]
    assert steady_examples_per_s(spiky, 100) == pytest.approx(50.0)
    assert steady_examples_per_s(rows[:1], 100) == pytest.approx(10.0)  # a single epoch is used as is
    assert steady_examples_per_s([], 100) is None
    assert steady_examples_per_s([{"loss": 1.0}], 100) is None


def test_speed_window_totals_every_epoch_after_the_first():
    rows = [{"train_time_s": 10.0, "train_cpu_s": 12.0}, {"train_time_s": 2.0, "train_cpu_s": 3.0},
            {"train_time_s": 3.0, "train_cpu_s": 3.5}, {"train_time_s": 30.0, "train_cpu_s": 4.0}]
    w = speed_window(rows, examples_per_epoch=100, steps_per_epoch=8)
    # epochs 2-4: 300 examples in 35 s of training, 10.5 CPU seconds; the first (tracing) epoch left out
    assert (w["epochs"], w["steps"], w["examples"]) == (3, 24, 300)
    assert w["seconds"] == pytest.approx(35.0) and w["cpu_seconds"] == pytest.approx(10.5)
    assert w["examples_per_s"] == pytest.approx(300 / 35) and w["cpu_s_per_example"] == pytest.approx(10.5 / 300)
    one = speed_window(rows[:1], 100, None)  # a single epoch is the window
    assert (one["epochs"], one["steps"], one["examples_per_s"]) == (1, None, pytest.approx(10.0))
    no_cpu = speed_window([{"train_time_s": 1.0}, {"train_time_s": 2.0}], 10)  # rows from an older run
    assert no_cpu["cpu_seconds"] is None and no_cpu["cpu_s_per_example"] is None
    assert speed_window([], 100) is None and speed_window([{"loss": 1.0}], 100) is None
