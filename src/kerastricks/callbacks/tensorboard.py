"""TensorBoard logs of a run that survive a kill: one scalar per metric and epoch, written once.

Keras's ``TensorBoard`` callback leaves epoch summaries in the writer's queue
(flushed every two minutes), so a killed run loses its last epochs' points,
and a resumed run logs the epochs it re-runs a second time.
:class:`EpochSummaries` writes the same tags (``epoch_<metric>`` under
``train/`` and ``validation/``) and flushes them at every epoch end;
:func:`drop_events_from` removes, before a resumed run starts at epoch ``k``,
the points of epochs ``k`` and later that the killed run had written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from kerastricks import io as kio


class EpochSummaries(keras.callbacks.Callback):
    """Write every numeric epoch log as a TensorBoard scalar and flush it at once.

    ``val_<metric>`` goes to ``log_dir/validation`` as ``epoch_<metric>``,
    everything else to ``log_dir/train`` as ``epoch_<name>`` (the tags of
    Keras's ``TensorBoard(update_freq="epoch")``); the step is the 0-based epoch.
    Place it after the callbacks that add to the logs (the learning rate) and
    before the run's checkpoint, so an epoch the checkpoint holds is on disk.

    Args:
        log_dir: The run's ``logs`` folder.
    """

    def __init__(self, log_dir: str | Path) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}

    def on_train_begin(self, logs=None):
        self._writers = {name: tf.summary.create_file_writer(str(self.log_dir / name))
                         for name in ("train", "validation")}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writers[split].as_default():
                tf.summary.scalar(f"epoch_{name}", value, step=epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def drop_events_from(log_dir: str | Path, epoch: int) -> list[Path]:
    """Remove the summaries of epochs ``>= epoch`` from the event files under ``log_dir``.

    A record cut short by a kill (the end of a file) is dropped too. Files are
    rewritten atomically, and only when something goes; returns them.
    """
    rewritten = []
    for path in sorted(Path(log_dir).rglob("*tfevents*")):
        kept, dropped = [], False
        records = iter(tf.data.TFRecordDataset(str(path)))
        while True:
            try:
                record = next(records).numpy()
            except StopIteration:
                break
            except tf.errors.DataLossError:  # a record the kill cut short
                dropped = True
                break
            event = tf.compat.v1.Event.FromString(record)
            if event.HasField("summary") and event.step >= epoch:
                dropped = True
            else:
                kept.append(record)
        if not dropped:
            continue
        with kio.atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
            for record in kept:
                writer.write(record)
        rewritten.append(path)
    return rewritten


__all__ = ["EpochSummaries", "drop_events_from"]
