"""Per-epoch log: timings, learning rate and metrics, written atomically to CSV."""

from __future__ import annotations

import csv
import io
import math
import statistics
import time
from pathlib import Path
from typing import Any

import keras

from kerastricks import io as kio
from kerastricks.timing import cpu_seconds


def current_learning_rate(optimizer: Any) -> float:
    """The optimizer's learning rate at its current step, as a float."""
    lr = getattr(optimizer, "learning_rate", None)
    if lr is None:
        return float("nan")
    return float(keras.ops.convert_to_numpy(lr))


def _compiled_learning_rate(optimizer: Any):
    """``current_learning_rate`` as one compiled call on TensorFlow (a schedule
    evaluated eagerly costs milliseconds)."""
    if keras.backend.backend() != "tensorflow" or getattr(optimizer, "learning_rate", None) is None:
        return lambda: current_learning_rate(optimizer)
    import tensorflow as tf

    fn = tf.function(lambda: tf.cast(optimizer.learning_rate, tf.float32))
    return lambda: float(fn().numpy())


class EpochLogger(keras.callbacks.Callback):
    """Collect one row per epoch and rewrite ``metrics.csv`` atomically.

    Each row holds ``epoch`` (1-based), every metric Keras logged,
    ``learning_rate`` (at the end of the epoch), ``train_time_s`` (training
    steps only), ``train_cpu_s`` (this process's CPU seconds, user + system,
    during those steps), ``epoch_time_s`` (with validation) and ``elapsed_s``
    (since the start of the run, across resumes). Keep it early in the callback list
    so later callbacks see ``learning_rate`` in the logs.

    Args:
        path: CSV file to write, or ``None`` to keep rows in memory only.
        columns: Functions ``epoch -> {column: value}`` (0-based epoch) whose values join each row
            (and the epoch's logs), e.g. the transfer phase.
    """

    def __init__(self, path: str | Path | None = None, columns: list | None = None) -> None:
        super().__init__()
        self.path = None if path is None else Path(path)
        self.columns = list(columns or [])
        self.rows: list[dict[str, Any]] = []
        self.elapsed_before = 0.0
        self._train_start = None
        self._epoch_start = None
        self._train_end = None
        self._cpu_start = None
        self._cpu_end = None
        self._lr_fn = None

    def on_train_begin(self, logs=None):
        self._train_start = time.perf_counter()
        self._lr_fn = None  # traced again: a rollback between two fits replaces the optimizer's rate

    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._train_start if self._train_start else 0.0)

    def on_epoch_begin(self, epoch, logs=None):
        self._cpu_start = cpu_seconds()
        self._epoch_start = time.perf_counter()
        self._train_end = self._cpu_end = None

    def on_test_begin(self, logs=None):
        if self._epoch_start is not None and self._train_end is None:
            self._train_end = time.perf_counter()
            self._cpu_end = cpu_seconds()

    def on_epoch_end(self, epoch, logs=None):
        now, cpu_now = time.perf_counter(), cpu_seconds()
        logs = logs if logs is not None else {}
        if self._lr_fn is None:
            self._lr_fn = _compiled_learning_rate(self.model.optimizer)
        lr = self._lr_fn()
        logs.setdefault("learning_rate", lr)
        for column in self.columns:
            logs.update(column(epoch))
        train_end = self._train_end or now
        row = {"epoch": epoch + 1}
        for key, value in logs.items():
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                continue
        row["train_time_s"] = train_end - self._epoch_start
        row["train_cpu_s"] = (self._cpu_end or cpu_now) - self._cpu_start
        row["epoch_time_s"] = now - self._epoch_start
        row["elapsed_s"] = self.elapsed()
        self.rows.append(row)
        if self.path is not None:
            self.write()

    def write(self) -> None:
        columns: list[str] = []
        for row in self.rows:
            for key in row:
                if key not in columns:
                    columns.append(key)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _fmt(row.get(k)) for k in columns})
        kio.write_text(self.path, buf.getvalue())

    def column(self, key: str) -> list[float]:
        return [row.get(key, math.nan) for row in self.rows]

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "elapsed": self.elapsed()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state.get("rows", [])]
        self.elapsed_before = float(state.get("elapsed", 0.0))


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.8g}"
    return value


def steady_examples_per_s(rows: list[dict[str, Any]], examples_per_epoch: int) -> float | None:
    """Steady-state throughput: examples per second of the median epoch's training time.

    The first epoch (graph tracing, compilation) is excluded; with a single
    epoch it is used as is. The median epoch, not the mean, so that an epoch
    slowed by another process on a shared machine does not move the figure:
    on our 2-core machines single epochs vary up to 3x under load while the
    median stays put.
    """
    times = [r["train_time_s"] for r in rows if r.get("train_time_s")]
    if not times:
        return None
    steady = times[1:] if len(times) > 1 else times
    return examples_per_epoch / statistics.median(steady)


def speed_window(rows: list[dict[str, Any]], examples_per_epoch: int, steps_per_epoch: int | None = None
                 ) -> dict[str, Any] | None:
    """The run's timed window: every training step after the first epoch, validation left out.

    The first epoch traces and compiles the step, so it is left out unless it is
    the only one. The window's figures are totals over all its epochs (not a
    median of two), so a longer run gives a longer, steadier window; the bench
    flags runs whose window is shorter than its minimum of seconds and steps.

    Returns ``epochs``, ``steps``, ``seconds`` (training wall time), ``cpu_seconds``
    (this process's user + system CPU time over the same steps, when the rows
    have it), ``examples_per_s`` and ``cpu_s_per_example``; ``None`` without timings.
    """
    timed = [r for r in rows if r.get("train_time_s")]
    if not timed:
        return None
    window = timed[1:] if len(timed) > 1 else timed
    seconds = float(sum(r["train_time_s"] for r in window))
    examples = examples_per_epoch * len(window)
    cpu = [r.get("train_cpu_s") for r in window]
    cpu_total = float(sum(cpu)) if all(isinstance(c, (int, float)) and math.isfinite(c) for c in cpu) else None
    return {
        "epochs": len(window),
        "steps": None if steps_per_epoch is None else int(steps_per_epoch) * len(window),
        "examples": examples,
        "seconds": seconds,
        "cpu_seconds": cpu_total,
        "examples_per_s": examples / seconds if seconds > 0 else None,
        "cpu_s_per_example": None if cpu_total is None or not examples else cpu_total / examples,
    }
