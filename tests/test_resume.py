"""Bit-identical resume: a run SIGKILLed anywhere and resumed ends as the uninterrupted run (CPU).

Real ``python -m kerastricks train`` processes are killed from outside (mid-epoch) and through the
fault-injection hook ``KERASTRICKS_KILL_AT=<file name>:<n>`` (:mod:`kerastricks.io`), which cuts the
temp file of the n-th atomic write of that file to half and SIGKILLs the process before the rename.
"""

import csv
import os
import signal
import tempfile
import time

import keras
import numpy as np
import pytest
from _helpers import temp_files, tensorboard_points

import kerastricks  # noqa: F401  (registers the custom objects model.keras refers to)
from kerastricks import io as kio

# Every source of randomness and every piece of callback state a resume must carry over: dropout masks (layer
# seed states), image augmentation and fractional echo draws, EMA averages, the plateau schedule's counters and
# the rate it cut, early stopping's counters (it stops after epoch 4), time to target, steps_per_execution = 2
# with an odd number of batches per epoch. monitor = "last" keeps the final (EMA) weights, so they are compared.
RECIPE = """
[data]
name = "digits"
augment = "images"
[model]
name = "mlp"
width = 16
depth = 1
dropout = 0.2
[schedule]
name = "plateau"
patience = 1
min_delta = 0.5
factor = 0.5
[techniques.data_echoing]
factor = 1.5
placement = "before_augmentation"
[techniques.ema]
momentum = 0.9
[techniques.early_stopping]
monitor = "val_accuracy"
patience = 3
min_delta = 0.5
restore_best_weights = false
[train]
epochs = 6
batch_size = 16
monitor = "last"
steps_per_execution = 2
target = { metric = "val_accuracy", value = 0.3 }
"""
EPOCHS_RUN = 4  # early stopping: no improvement by 0.5 after the first epoch, patience 3
TIMING = {"train_time_s", "train_cpu_s", "epoch_time_s", "elapsed_s"}
# Each resume is killed at one of these points: mid-checkpoint, at an epoch end before its checkpoint,
# mid-final-save, mid-plots; the last resume finishes.
KILL_POINTS = ("last.npz:1", "metrics.csv:1", "model.keras:1", "curves.png:1")


def finish(proc, timeout=300):
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@pytest.fixture(scope="module")
def runs(tmp_path_factory, train):
    """``(uninterrupted, killed five times and resumed)`` run directories of :data:`RECIPE`."""
    root = tmp_path_factory.mktemp("resume")
    recipe = root / "recipe.toml"
    recipe.write_text(RECIPE)
    reference, resumed = root / "reference", root / "resumed"
    uninterrupted = train(str(recipe), "--out", str(reference))  # runs alongside the killed one

    # 1. killed from outside, mid-epoch: as soon as the first checkpoint is there
    proc = train(str(recipe), "--out", str(resumed))
    checkpoint = resumed / "checkpoints" / "last.npz"
    deadline = time.time() + 240
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert finish(proc)[0] == -signal.SIGKILL
    # 2-5. each resume killed at a named point, leaving its half-written temp file behind
    for point in KILL_POINTS:
        code, err = finish(train("--resume", str(resumed), kill_at=point))
        assert code == -signal.SIGKILL, f"{point}: the run was not killed there (exit {code}): {err[-2000:]}"
        name = point.rpartition(":")[0]
        assert [p for p in temp_files(resumed) if p.name.startswith(f".{name}.")], point
        assert not (resumed / "report.json").exists()
    code, err = finish(train("--resume", str(resumed)))
    assert code == 0, err[-2000:]
    code, err = finish(uninterrupted)
    assert code == 0, err[-2000:]
    return reference, resumed


def metric_rows(run):
    with (run / "metrics.csv").open() as fh:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(fh)]


@pytest.mark.slow
def test_killed_anywhere_and_resumed_ends_bit_identical(runs):
    reference, resumed = runs
    want = keras.saving.load_model(reference / "model.keras").get_weights()
    got = keras.saving.load_model(resumed / "model.keras").get_weights()
    assert len(got) == len(want)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    rows = metric_rows(resumed)
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS_RUN + 1))
    assert rows == metric_rows(reference)
    report = kio.read_json(resumed / "report.json")
    assert report["resumed"] == 5  # every resume counts, also those killed before their first checkpoint
    assert report["test"] == kio.read_json(reference / "report.json")["test"]
    assert temp_files(resumed) == []


@pytest.mark.slow
def test_tensorboard_holds_each_epoch_once_after_resume(runs):
    reference, resumed = runs
    points = tensorboard_points(resumed / "logs")
    assert {("train", "epoch_loss"), ("train", "epoch_learning_rate"), ("validation", "epoch_accuracy")} <= set(points)
    for key, steps in points.items():
        assert [step for step, _ in steps] == list(range(EPOCHS_RUN)), key
    assert points == tensorboard_points(reference / "logs")


def test_remove_temp_files_covers_every_folder_of_a_run(tmp_path):
    names = ["model.keras", "metrics.csv", "checkpoints/last.npz", "plots/curves.png",
             "logs/train/events.out.tfevents.1.host.2.0.v2"]
    for name in names:
        path = tmp_path / name
        kio.write_text(path, "finished")
        # what a kill inside kio.atomic_path leaves: its temp file, named as it names them
        fd, _ = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
    (tmp_path / ".gitignore").write_text("*")  # hidden, but not a temp file
    removed = kio.remove_temp_files(tmp_path)
    assert sorted(p.name.split(".")[1] for p in removed) == ["curves", "events", "last", "metrics", "model"]
    assert [p.name for p in temp_files(tmp_path)] == [".gitignore"]
    assert all((tmp_path / name).read_text() == "finished" for name in names)
