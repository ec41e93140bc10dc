"""``kerastricks tune``: Optuna studies over recipe keys, each trial a ``kerastricks train`` process.

Python use::

    from kerastricks.tune import resolve_tune, run
    spec = resolve_tune(preset="digits", space="space.toml", trials=20, out="tune/digits")
    result = run(spec)
    result["best"]  # trial numbers, best first (the Pareto front with several objectives)

The study directory holds ``tune.json`` (the study's definition), ``study.db`` (the default SQLite storage),
``trials.csv``, ``study.md``, ``best.toml`` (the best trial's complete recipe), ``history.png``,
``importances.png`` (and ``pareto.png`` with several objectives), every trial's run directory under
``trials/NNNN/``, its recipe under ``recipes/`` and its log under ``logs/``. Running the same command again
continues the study; so does the same command with the same ``--storage``/``--study`` on another machine.
See :mod:`kerastricks.tune.space` (search space), :mod:`kerastricks.tune.objective` (what is optimized),
:mod:`kerastricks.tune.worker` (trials, pruning, heartbeats) and :mod:`kerastricks.tune.study` (definition,
storage, samplers and pruners).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from kerastricks import io as kio
from kerastricks.tune.study import TUNE_JSON, TuneSpec, check_study_dir, open_study, resolve_tune, runtime_settings

__all__ = ["TuneSpec", "resolve_tune", "prepare", "run"]


def prepare(spec: TuneSpec) -> tuple[Any, bool]:
    """Check the study directory and the storage (``UserError`` before anything is created), then create the
    directory and the study if needed. Returns (study, continued)."""
    continued = check_study_dir(spec)
    existing = open_study(spec, create=False) if not _default_db_missing(spec) else None
    spec.out.mkdir(parents=True, exist_ok=True)
    if not (spec.out / TUNE_JSON).exists():
        kio.write_json(spec.out / TUNE_JSON, spec.to_json())
    study = existing if existing is not None else open_study(spec, create=True)
    return study, continued or existing is not None


def _default_db_missing(spec: TuneSpec) -> bool:
    """True when the storage is the default SQLite file and it does not exist yet (opening would create it)."""
    from kerastricks.tune.study import default_storage

    return spec.storage_url == default_storage(spec.out) and not (spec.out / "study.db").exists()


def run(spec: TuneSpec, *, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or continue) a study and write its outputs; returns a summary with ``exit_code``."""
    from kerastricks.tune.outputs import write_outputs
    from kerastricks.tune.worker import counted, work

    study, continued = prepare(spec)
    before = sum(counted(t) for t in study.get_trials(deepcopy=False))
    budget = (f"{spec.trials} trials" if spec.trials is not None else "") + (
        (" or " if spec.trials is not None else "") + f"{spec.timeout:g} s" if spec.timeout is not None else "")
    progress(f"tune {spec.study_name}: {'continuing (' + str(before) + ' trials done), ' if continued else ''}"
             f"{budget}, sampler {spec.sampler_text}, pruner {spec.pruner_text}, {spec.workers} worker(s); "
             f"objective {', '.join(o.text() for o in spec.objectives)}; writing {spec.out}")
    deadline = time.time() + spec.timeout if spec.timeout is not None else None
    failed_workers: list[str] = []
    try:
        with _sigterm_interrupts():
            if spec.workers == 1:
                work(spec, index=0, deadline=deadline, progress=progress)
            else:
                failed_workers = _run_workers(spec, deadline)
    except KeyboardInterrupt:
        write_outputs(spec, study)
        progress(f"interrupted; partial results in {spec.out}; the same command continues the study")
        raise
    summary = write_outputs(spec, study)
    summary["directory"] = str(spec.out)
    summary["failed_workers"] = failed_workers
    summary["exit_code"] = 1 if failed_workers or not summary["best"] else 0
    return summary


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM stops a study as Ctrl-C does (running trials recorded as interrupted, outputs written)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _run_workers(spec: TuneSpec, deadline: float | None) -> list[str]:
    """Start ``spec.workers`` worker processes on the study and wait for them; returns what went wrong."""
    from kerastricks.bench.runner import child_env
    from kerastricks.tune.worker import _bind_to_parent

    settings = json.dumps(runtime_settings(spec))
    procs = []
    for index in range(spec.workers):
        cmd = [sys.executable, "-m", "kerastricks.tune.worker", str(spec.out), settings, str(index),
               str(deadline or 0)]
        procs.append(subprocess.Popen(cmd, env=child_env(),
                                      preexec_fn=_bind_to_parent if sys.platform.startswith("linux") else None))
    problems = []
    try:
        for index, proc in enumerate(procs):
            code = proc.wait()
            if code != 0:
                problems.append(f"worker {index} exited with code {code}")
    except BaseException:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            proc.wait()
        raise
    return problems
