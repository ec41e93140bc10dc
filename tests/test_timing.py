"""Run clocks (``kerastricks.timing``): phases add up wall and CPU seconds in first-run order; CPU seconds count
this process's work and not its sleeping; the process age agrees with ``ps``."""

import os
import subprocess
import time

import pytest

from kerastricks.timing import Phases, cpu_seconds, process_age


def test_phases_accumulate_in_first_run_order():
    phases = Phases()
    phases.add("build", 1.5, 0.5)
    phases.add("fit", 2.0)  # no CPU figure: only wall recorded
    phases.add("build", 0.25, 0.25)
    assert phases.as_dict() == {"wall_s": {"build": 1.75, "fit": 2.0}, "cpu_s": {"build": 0.75}}
    assert list(phases.as_dict()["wall_s"]) == ["build", "fit"]


def test_timed_phase_counts_sleep_as_wall_not_cpu():
    phases = Phases()
    with phases.time("sleep"):
        time.sleep(0.2)
    with pytest.raises(RuntimeError), phases.time("fails"):  # a phase that raises is still timed
        raise RuntimeError
    wall, cpu = phases.as_dict()["wall_s"], phases.as_dict()["cpu_s"]
    assert wall["sleep"] >= 0.2 and cpu["sleep"] < 0.1
    assert set(wall) == set(cpu) == {"sleep", "fails"}


def test_cpu_seconds_grow_with_work():
    start = cpu_seconds()
    total = 0
    while cpu_seconds() - start < 0.05:  # busy: CPU time must advance
        total += sum(range(1000))
    assert cpu_seconds() > start and total > 0


def test_process_age_matches_ps():
    age = process_age()
    if not os.path.exists("/proc/self/stat"):
        assert age is None
        return
    ps = subprocess.run(["ps", "-o", "etimes=", "-p", str(os.getpid())], capture_output=True, text=True)
    assert age is not None and abs(age - float(ps.stdout)) <= 2.0  # ps rounds to whole seconds
