"""A tune worker: ask the study for a trial, run it as a ``kerastricks train`` process, tell the result.

Every trial is a normal run (its own directory under ``trials/``, its resolved ``recipe.toml``, ``report.json``),
started as its own process like ``kerastricks bench`` starts its runs. While it trains, the worker

- reads the run's ``metrics.csv`` (rewritten atomically after every epoch) and reports each epoch's objective value
  to the trial; when the pruner says so it stops the process and records the trial as pruned, with the reason;
- writes a heartbeat (a trial attribute) every few seconds. A trial whose worker was killed stops beating and is
  marked failed by the next worker that looks (on any machine), never lost and never counted: ``--trials N``
  counts completed, pruned and failed-by-their-run trials, so the study runs a replacement.

The training process is bound to its worker (Linux: it is killed when the worker dies), so a killed worker leaves
no orphan training behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kerastricks import io as kio
from kerastricks.errors import UserError
from kerastricks.tune.objective import read_metrics, value_of
from kerastricks.tune.space import overrides_for, toml_value, trial_recipe
from kerastricks.tune.study import TuneSpec, grace_seconds, make_pruner, make_sampler

TRIALS_DIR = "trials"
RECIPES_DIR = "recipes"
LOGS_DIR = "logs"
#: Trial user attributes written by the workers.
HEARTBEAT = "kt_heartbeat"
REASON = "kt_reason"
COUNTED = "kt_counted"  # a failure caused by the trial itself (counts toward --trials)
POLL_S = 0.5


def trial_dir(out: Path, number: int) -> Path:
    return out / TRIALS_DIR / f"{number:04d}"


def counted(trial: Any) -> bool:
    """Whether a finished trial counts toward ``--trials`` (a trial killed with its worker does not)."""
    from optuna.trial import TrialState

    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and bool(trial.user_attrs.get(COUNTED)))


def fail_stale(study: Any, storage: Any, grace: float, now: float | None = None) -> list[int]:
    """Mark running trials whose heartbeat is older than ``grace`` seconds as failed; return their numbers."""
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    study_id = storage.get_study_id_from_name(study.study_name)
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        beat = t.user_attrs.get(HEARTBEAT) or (t.datetime_start.timestamp() if t.datetime_start else now)
        if now - float(beat) <= grace:
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            storage.set_trial_user_attr(trial_id, REASON, f"worker stopped mid-trial (no heartbeat for "
                                                          f"{now - float(beat):.0f} s)")
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            failed.append(t.number)
        except Exception:  # another worker failed it first, or its worker finished it just now
            continue
    return failed


def open_worker_study(spec: TuneSpec, index: int) -> tuple[Any, Any]:
    """(study, storage) with this worker's sampler and the spec's pruner."""
    import optuna

    from kerastricks.tune.study import make_storage

    storage = make_storage(spec.storage_url)
    study = optuna.load_study(study_name=spec.study_name, storage=storage, sampler=make_sampler(spec, index),
                              pruner=make_pruner(spec))
    return study, storage


@contextlib.contextmanager
def _local_lock(out: Path):
    """Serialize 'count, then ask' among the workers of this machine (other machines may overshoot by one)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".tune.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _bind_to_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the training process gets SIGKILL when its worker dies (no orphans after a kill)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def work(spec: TuneSpec, *, index: int = 0, deadline: float | None = None,
         progress: Callable[[str], None] = print, train_cmd: list[str] | None = None) -> int:
    """Run trials until the study has ``spec.trials`` counted trials or ``deadline`` (unix time) passes.

    Returns the number of trials this worker ran. ``train_cmd`` replaces ``python -m kerastricks train`` (tests).
    """
    from optuna.trial import TrialState

    study, storage = open_worker_study(spec, index)
    grace = grace_seconds()
    ran = 0
    prefix = f"[w{index}] " if spec.workers > 1 else ""
    while True:
        if deadline is not None and time.time() >= deadline:
            break
        with _local_lock(spec.out):
            for number in fail_stale(study, storage, grace):
                progress(f"{prefix}trial {number} FAIL: its worker stopped mid-trial (no heartbeat for > {grace:g} s)")
            trials = study.get_trials(deepcopy=False)
            done = sum(counted(t) for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials)
            if spec.trials is not None and done >= spec.trials:
                break
            trial = None
            if spec.trials is None or done + running < spec.trials:
                trial = study.ask()
                _beat(storage, study, trial)
        if trial is None:  # the last trials run elsewhere: wait, they may fail and need a replacement
            time.sleep(min(grace / 4, 5.0))
            continue
        run_trial(spec, study, storage, trial, progress=progress, prefix=prefix, train_cmd=train_cmd)
        ran += 1
    return ran


def _beat(storage: Any, study: Any, trial: Any) -> None:
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name),
                                                               trial.number)
    storage.set_trial_user_attr(trial_id, HEARTBEAT, time.time())


def run_trial(spec: TuneSpec, study: Any, storage: Any, trial: Any, *, progress: Callable[[str], None] = print,
              prefix: str = "", train_cmd: list[str] | None = None) -> str:
    """Run one asked trial to its end; returns its final state's name."""
    from optuna.trial import TrialState

    values = {p.key: p.suggest(trial) for p in spec.params}
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    trial.set_user_attr("overrides", overrides_for(values))
    run_dir = trial_dir(spec.out, trial.number)
    trial.set_user_attr("run_dir", str(run_dir))
    started = time.time()
    label = " ".join(f"{k}={_short(v)}" for k, v in values.items())

    def finish(state: TrialState, reason: str | None = None, result: list[float] | None = None,
               count: bool = True) -> str:
        if reason:
            trial.set_user_attr(REASON, reason)
        if state == TrialState.FAIL and count:
            trial.set_user_attr(COUNTED, True)
        try:
            study.tell(trial, result if state == TrialState.COMPLETE else None, state=state)
        except Exception as exc:  # failed by another worker meanwhile (no heartbeat): its result is dropped
            progress(f"{prefix}trial {trial.number}: result dropped ({exc})")
            return "FAIL"
        shown = " · ".join(f"{o.metric} {v:.4g}" for o, v in zip(spec.objectives, result or []))
        tail = f" · {reason}" if reason and state != TrialState.COMPLETE else ""
        done = sum(counted(t) for t in study.get_trials(deepcopy=False))
        total = f"/{spec.trials}" if spec.trials is not None else ""
        progress(f"{prefix}[{done}{total}] trial {trial.number} {state.name}"
                 + (f" · {shown}" if shown else "") + f" · {time.time() - started:.1f} s{tail} · {label}")
        return state.name

    try:
        recipe = trial_recipe(spec.base_toml, values, source=f"trial {trial.number}")
    except UserError as exc:
        return finish(TrialState.FAIL, f"recipe rejected: {exc.line()}")
    recipe_path = spec.out / RECIPES_DIR / f"trial-{trial.number:04d}.toml"
    kio.write_text(recipe_path, f"# trial {trial.number} of study {spec.study_name}\n" + recipe.to_toml())
    log_path = spec.out / LOGS_DIR / f"trial-{trial.number:04d}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    cmd = [*(train_cmd or [sys.executable, "-m", "kerastricks", "train"]), str(recipe_path), "--out", str(run_dir),
           "--quiet"]
    from kerastricks.bench.runner import child_env, last_line

    objective = spec.objectives[0]
    prune = spec.prunes and len(spec.objectives) == 1 and objective.per_epoch
    interval = max(0.2, grace_seconds() / 6)
    metrics_path = run_dir / "metrics.csv"
    seen: list[float] = []
    last_beat, stamp = time.time(), None
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(),
                                preexec_fn=_bind_to_parent if sys.platform.startswith("linux") else None)
        try:
            while True:
                code = proc.poll()
                now = time.time()
                if now - last_beat >= interval:
                    _beat(storage, study, trial)
                    last_beat = now
                try:
                    mtime = metrics_path.stat().st_mtime_ns
                except OSError:
                    mtime = None
                if mtime is not None and mtime != stamp:
                    stamp = mtime
                    rows = read_metrics(metrics_path)[len(seen):]
                    seen.extend(now - started for _ in rows)
                    if rows:
                        trial.set_user_attr("epoch_seen_s", seen)  # when each epoch was seen (kept if stopped)
                    for row in rows:
                        value = row.get(objective.metric)
                        if prune and value is not None and value == value:
                            trial.report(value, step=int(row["epoch"]))
                            if code is None and trial.should_prune():
                                _stop(proc)
                                if proc.returncode == 0:  # it ended on its own meanwhile: a complete run
                                    code = 0
                                    break
                                return finish(TrialState.PRUNED, f"pruned after epoch {int(row['epoch'])} "
                                                                 f"({objective.metric} {value:.4g})")
                if code is not None:
                    break
                time.sleep(POLL_S)
        except BaseException:
            _stop(proc)
            with contextlib.suppress(Exception):
                finish(TrialState.FAIL, "interrupted", count=False)
            raise
    report_path = run_dir / "report.json"
    if code != 0 or not report_path.is_file():
        what = "diverged" if code == 3 else f"exit code {code}"
        return finish(TrialState.FAIL, f"run failed ({what}): {last_line(log_path)}"[:300])
    report = kio.read_json(report_path)
    rows = read_metrics(metrics_path)
    result = [value_of(o, report, rows) for o in spec.objectives]
    for key, value in (report.get("test") or {}).items():
        if isinstance(value, (int, float)):
            trial.set_user_attr(f"test_{key}", value)
    for key in ("time_to_target_s", "wall_time_s", "epochs_run"):
        trial.set_user_attr(key, report.get(key))
    return finish(TrialState.COMPLETE, result=result)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else toml_value(value).strip('"')


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """``python -m kerastricks.tune.worker STUDY_DIR SETTINGS_JSON INDEX DEADLINE``: one worker process of a
    ``kerastricks tune --workers K`` study (started by the driver)."""
    import json

    from kerastricks.tune.study import spec_from_dir

    argv = sys.argv[1:] if argv is None else argv
    out, settings, index, deadline = argv[0], json.loads(argv[1]), int(argv[2]), float(argv[3])
    signal.signal(signal.SIGTERM, _interrupt)
    spec = spec_from_dir(out, settings)
    try:
        work(spec, index=index, deadline=deadline if deadline > 0 else None,
             progress=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
