"""Clocks for timing a run: wall and CPU seconds per phase, and the process's age.

CPU time (user + system, every thread of this process) is the figure that
other processes on a shared machine disturb least: while they hold the cores,
wall time grows but the work this process does stays about the same. The
trainer records both for each phase of a run (``report.json``'s ``phases``)
and for its timed window (:func:`kerastricks.callbacks.epoch_log.speed_window`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def cpu_seconds() -> float:
    """User + system CPU seconds this process has used so far (all its threads, not its children)."""
    return time.process_time()


def process_age() -> float | None:
    """Seconds since this process started (from ``/proc`` on Linux; ``None`` elsewhere).

    In ``kerastricks train`` it tells how long the interpreter start, the imports
    and the recipe's validation took before training was set up.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: start time in ticks
    except (OSError, ValueError, IndexError):
        return None


class Phases:
    """Wall and CPU seconds of named phases, in the order they first ran.

    >>> phases = Phases()
    >>> with phases.time("build"):
    ...     pass
    >>> sorted(phases.as_dict())
    ['cpu_s', 'wall_s']
    """

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def add(self, name: str, wall: float, cpu: float | None = None) -> None:
        self.wall[name] = self.wall.get(name, 0.0) + float(wall)
        if cpu is not None:
            self.cpu[name] = self.cpu.get(name, 0.0) + float(cpu)

    @contextmanager
    def time(self, name: str) -> Iterator[None]:
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - wall0, cpu_seconds() - cpu0)

    def as_dict(self) -> dict[str, Any]:
        return {"wall_s": dict(self.wall), "cpu_s": dict(self.cpu)}


__all__ = ["Phases", "cpu_seconds", "process_age"]
