"""TensorBoard points written once per epoch and flushed at once; the points a killed run wrote past its checkpoint
dropped before the resumed run writes them again (the whole kill-and-resume run: tests/test_resume.py)."""



from _helpers import temp_files, tensorboard_points

from kerastricks.callbacks.tensorboard import EpochSummaries, drop_events_from


def test_drop_events_from_keeps_earlier_epochs_and_cuts_a_torn_record(tmp_path):
    callback = EpochSummaries(tmp_path)
    callback.on_train_begin()
    for epoch in range(4):
        callback.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0, "note": "not a number"})
    callback.on_train_end()
    (train_file,) = (tmp_path / "train").glob("*tfevents*")
    with train_file.open("ab") as fh:
        fh.write(b"\x10\x00\x00")  # the start of a record a kill cut short
    assert sorted(p.parent.name for p in drop_events_from(tmp_path, 2)) == ["train", "validation"]
    points = tensorboard_points(tmp_path)
    assert points == {("train", "epoch_loss"): [(0, 1.0), (1, 0.5)], ("validation", "epoch_loss"): [(0, 2.0), (1, 2.0)]}
    assert drop_events_from(tmp_path, 2) == []  # nothing left to drop: no file is rewritten
    assert temp_files(tmp_path) == []


def _write(log_dir, epochs, offset=0.0):
    callback = EpochSummaries(log_dir)
    callback.on_train_begin()
    for epoch in epochs:
        logs = {"loss": epoch + offset, "accuracy": 0.5, "learning_rate": 0.1, "val_loss": 10.0 + epoch + offset,
                "val_accuracy": 0.25}
        callback.on_epoch_end(epoch, logs)
        # flushed at the epoch end: a process killed now leaves this epoch's points on disk
        assert ("train", "epoch_loss") in tensorboard_points(log_dir)
    callback.on_train_end()


def test_a_resumed_run_logs_each_epoch_once_with_its_own_values(tmp_path):
    _write(tmp_path, range(4), offset=0.5)  # the killed run got to epoch 3; its checkpoint holds epochs 0 and 1
    drop_events_from(tmp_path, 2)
    _write(tmp_path, range(2, 4))  # the resumed run re-runs epochs 2 and 3
    points = tensorboard_points(tmp_path)
    assert set(points) == {("train", "epoch_loss"), ("train", "epoch_accuracy"), ("train", "epoch_learning_rate"),
                           ("validation", "epoch_loss"), ("validation", "epoch_accuracy")}
    assert points[("train", "epoch_loss")] == [(0, 0.5), (1, 1.5), (2, 2.0), (3, 3.0)]
    assert points[("validation", "epoch_loss")] == [(0, 10.5), (1, 11.5), (2, 12.0), (3, 13.0)]
    assert all([s for s, _ in steps] == [0, 1, 2, 3] for steps in points.values())


def test_drop_events_from_leaves_files_with_nothing_to_drop_untouched(tmp_path):
    _write(tmp_path, range(3))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*tfevents*")}
    assert drop_events_from(tmp_path, 3) == [] and drop_events_from(tmp_path / "absent", 0) == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*tfevents*")} == before
    assert sorted(p.parent.name for p in drop_events_from(tmp_path, 0)) == ["train", "validation"]
    assert tensorboard_points(tmp_path) == {}  # every summary went; the files stay (with their version record)
    assert sorted(p.parent.name for p in tmp_path.rglob("*tfevents*")) == ["train", "validation"]
