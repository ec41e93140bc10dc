"""Run a bench: every (seed, variant) pair in its own ``kerastricks train`` process.

Fairness rules, in the order they matter on a shared, noisy machine:

- **One fresh process per run.** Memory is the child's own peak RSS (from
  ``wait4``), and no variant inherits another's warm caches, compiled graphs
  or allocator state.
- **Interleaved, alternating order.** Seed 0 runs A B C, seed 1 runs C B A, and
  so on, so a slow minute or a drift in machine load falls on every variant
  alike instead of on whichever runs last.
- **Same seeds for every variant**, paired: ratios against the baseline are
  computed per seed pair, then their median is reported.
- **A warm-up before the first timed run**: one untimed process imports the
  backend and loads every variant's dataset, so the first run does not pay
  for cold file caches or data generation.
- **Repetitions**: ``repeat = k`` runs every seed's round (each variant once) k
  times, cycling over the seeds; ``repeat = "auto"`` keeps adding rounds until
  every speed verdict is decided or the budget would be exceeded
  (:func:`kerastricks.bench.stats.stop_reason`).
- **Load recorded**: the machine's load average before and after every run.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kerastricks import io as kio
from kerastricks.bench.spec import MAX_SEEDS, BenchSpec, Variant
from kerastricks.bench.stats import stop_reason
from kerastricks.bench.summary import summarize

RECIPES_DIR = "recipes"
RUNS_DIR = "runs"
LOGS_DIR = "logs"

_WARMUP = """
import sys
from kerastricks.recipes import load_recipe
from kerastricks.build import load_recipe_dataset
import tensorflow  # noqa: F401  (warm the file cache for the timed runs)
for path in sys.argv[1:]:
    load_recipe_dataset(load_recipe(path))
"""


def run_order(n_variants: int, seeds: list[int]) -> list[tuple[int, int]]:
    """(seed, variant index) pairs: variants interleaved, direction alternating per seed."""
    order = []
    for i, seed in enumerate(seeds):
        idx = list(range(n_variants))
        order.extend((seed, v) for v in (idx if i % 2 == 0 else idx[::-1]))
    return order


def child_env() -> dict[str, str]:
    """The environment of a child run (bench runs, tune trials and workers): ours, with TensorFlow's C++ notices
    quiet and Python's output unbuffered."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            "PYTHONUNBUFFERED": "1"}


#: A tiny launcher between the bench and each run. Linux charges a child with the
#: peak resident size of the process it was forked from (the fork's copy of the
#: parent's pages counts until ``exec``), so a run forked straight from the bench
#: process (which has imported Keras) would report at least the bench's own size.
#: Forked from this ~10 MB launcher instead, the run's ``ru_maxrss`` is its own.
_LAUNCHER = """
import json, os, signal, sys
out, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
def forward(signum, frame):
    os.kill(pid, signum)
signal.signal(signal.SIGTERM, forward)
_, status, usage = os.wait4(pid, 0)
with open(out, "w") as fh:
    json.dump({"maxrss": usage.ru_maxrss, "utime": usage.ru_utime, "stime": usage.ru_stime}, fh)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _spawn(cmd: list[str], log_path: Path, timeout: float | None) -> tuple[int, float, int | None]:
    """Run ``cmd``; return (exit code, wall seconds, peak RSS bytes of the run or None).

    The run is started through :data:`_LAUNCHER` (in its own session, so a
    timeout kills the whole process group) and its peak RSS is the operating
    system's ``ru_maxrss`` for it alone.
    """
    usage = spawn(cmd, log_path, timeout)
    return usage["exit_code"], usage["wall_s"], usage["peak_rss_bytes"]


def spawn(cmd: list[str], log_path: Path, timeout: float | None, env: dict[str, str] | None = None
          ) -> dict[str, Any]:
    """Run ``cmd`` as :func:`_spawn` does; return ``exit_code``, ``wall_s``, ``peak_rss_bytes`` and
    ``cpu_s`` (the run's user + system CPU seconds from ``wait4``; ``None`` where unknown)."""
    env = child_env() if env is None else env
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: no fork, no per-child rusage
        with open(log_path, "wb") as log:
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False)
            return {"exit_code": proc.returncode, "wall_s": time.perf_counter() - t0, "peak_rss_bytes": None,
                    "cpu_s": None}
    usage_path = log_path.with_name(log_path.name + ".rusage.json")
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(usage_path), *cmd], stdout=log,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        secs = time.perf_counter() - t0
    peak = cpu = None
    try:
        usage = json.loads(usage_path.read_text())
        usage_path.unlink()
        # ru_maxrss is KiB on Linux, bytes on macOS
        peak = int(usage["maxrss"]) * (1 if sys.platform == "darwin" else 1024)
        cpu = float(usage["utime"]) + float(usage["stime"])
    except (OSError, ValueError, KeyError):
        pass  # killed before it could report
    return {"exit_code": proc.returncode, "wall_s": secs, "peak_rss_bytes": peak, "cpu_s": cpu}


def _curve(run_dir: Path, metric: str | None) -> list[list[float]]:
    """[[elapsed seconds, metric value], ...] per epoch from the run's metrics.csv."""
    path = run_dir / "metrics.csv"
    if metric is None or not path.exists():
        return []
    points = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                points.append([float(row["elapsed_s"]), float(row[metric])])
            except (KeyError, TypeError, ValueError):
                continue
    return points


def last_line(path: Path) -> str:
    """The last non-blank line of a log file (``""`` if it is missing or empty): a failed run's reason."""
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def load_average() -> list[float] | None:
    """The machine's 1-, 5- and 15-minute load averages (``None`` where the OS has none)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def run_record(variant: Variant, seed: int, run_dir: Path, log: Path, exit_code: int, process_s: float,
               peak_rss: int | None, curve_metric: str | None, cpu_s: float | None = None) -> dict[str, Any]:
    """One run's figures, read from the child's ``report.json``."""
    record: dict[str, Any] = {"variant": variant.name, "seed": seed, "exit_code": exit_code,
                              "run_dir": str(run_dir), "log": str(log), "process_time_s": process_s,
                              "cpu_time_s": cpu_s, "peak_rss_bytes": peak_rss}
    report_path = run_dir / "report.json"
    if exit_code != 0 or not report_path.exists():
        record["status"] = "failed"
        record["error"] = last_line(log) or f"exit code {exit_code}"
        return record
    report = kio.read_json(report_path)
    state = report.get("optimizer_state") or {}
    record.update({
        "status": "ok",
        "wall_time_s": report.get("wall_time_s"),
        "fit_time_s": report.get("fit_time_s"),
        "time_to_target_s": report.get("time_to_target_s"),
        "epochs_to_target": report.get("epochs_to_target"),
        "steps_to_target": report.get("steps_to_target"),
        "examples_to_target": report.get("examples_to_target"),
        "fresh_examples_to_target": report.get("examples_fresh_to_target"),
        "examples_trained": report.get("examples_trained"),
        "fresh_examples": report.get("examples_fresh"),
        "examples_per_s": report.get("examples_per_s"),
        "cpu_s_per_example": report.get("cpu_s_per_example"),
        "speed_window": report.get("speed_window"),
        "device_memory_peak_bytes": report.get("device_memory_peak_bytes"),
        "optimizer_state_scalars": state.get("scalars"),
        "optimizer_state_bytes": state.get("bytes"),
        "params": report.get("params"),
        "epochs_run": report.get("epochs_run"),
        "precision_policy": report.get("precision_policy"),
        "test": {k: v for k, v in (report.get("test") or {}).items() if isinstance(v, (int, float))},
        "curve_metric": curve_metric,
        "curve": _curve(run_dir, curve_metric),
    })
    return record


def rounds(seeds: list[int], repeat: int) -> list[tuple[int, int]]:
    """(seed, repetition) of each round, cycling over the seeds: s0 s1 s2 s0 s1 s2 ... for ``repeat = 2``."""
    return [(seed, r) for r in range(repeat) for seed in seeds]


def run_name(seed: int, repeat: int) -> str:
    """A run's directory and log name under its variant: ``seed3``, or ``seed3-rep1`` for a repetition."""
    return f"seed{seed}" if repeat == 0 else f"seed{seed}-rep{repeat}"


#: ``run_one(variant, seed, repeat, recipe_path, run_dir, log, timeout) -> record`` (see :func:`train_run`).
RunOne = Callable[[Variant, int, int, Path, Path, Path, "float | None"], dict[str, Any]]


def train_run(variant: Variant, seed: int, repeat: int, recipe_path: Path, run_dir: Path, log: Path,
              timeout: float | None, curve_metric: str | None = None) -> dict[str, Any]:
    """One run: ``kerastricks train`` on the variant's resolved recipe in its own process."""
    cmd = [sys.executable, "-m", "kerastricks", "train", str(recipe_path), "--set", f"train.seed={seed}",
           "--out", str(run_dir), "--quiet"]
    usage = spawn(cmd, log, timeout)
    return run_record(variant, seed, run_dir, log, usage["exit_code"], usage["wall_s"], usage["peak_rss_bytes"],
                      curve_metric, cpu_s=usage["cpu_s"])


def run_bench(
    spec: BenchSpec,
    out: Path,
    *,
    progress: Callable[[str], None] = print,
    timeout: float | None = None,
    on_record: Callable[[list[dict[str, Any]]], Any] | None = None,
    records: list[dict[str, Any]] | None = None,
    run_one: RunOne | None = None,
    warm_up: bool = True,
    clock: Callable[[], float] = time.perf_counter,
    state: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run every (round, variant) in its own process; return the run records in run order.

    Args:
        spec: The resolved bench.
        out: The bench directory (created by the caller).
        progress: Called with one line per event.
        timeout: Seconds after which a run is killed and recorded as failed.
        on_record: Called with all records so far after each run (to write
            partial results as the bench goes).
        records: A list to append the records to (so a caller keeps what
            finished if the bench is interrupted); default a new one.
        run_one: Runs one (variant, seed, repetition) and returns its record;
            default :func:`train_run` (tests pass a stand-in).
        warm_up: Run the untimed warm-up process first.
        clock: Seconds, for ``spec.budget`` (tests pass a fake clock).
        state: A dict that receives ``rounds`` (complete rounds run) and
            ``stopped`` (why ``repeat = "auto"`` stopped).
    """
    recipes = out / RECIPES_DIR
    recipes.mkdir(parents=True, exist_ok=True)
    (out / LOGS_DIR).mkdir(exist_ok=True)
    paths = {}
    for variant in spec.variants:
        paths[variant.name] = recipes / f"{variant.name}.toml"
        kio.write_text(paths[variant.name], variant.recipe.to_toml())

    target = spec.target
    curve_metric = target["metric"] if target else None
    if curve_metric is None:
        curve_metric = "val_accuracy" if spec.baseline.recipe.has_validation else "accuracy"
    if run_one is None:
        def run_one(variant, seed, repeat, recipe_path, run_dir, log, timeout):
            return train_run(variant, seed, repeat, recipe_path, run_dir, log, timeout, curve_metric)

    started = clock()
    if warm_up:
        progress("warming up (backend import, datasets) ...")
        code, secs, _ = _spawn([sys.executable, "-c", _WARMUP, *map(str, paths.values())],
                               out / LOGS_DIR / "warmup.log", timeout)
        if code != 0:
            progress(f"warm-up failed (exit {code}): {last_line(out / LOGS_DIR / 'warmup.log')}")

    auto = spec.repeat == "auto"
    planned = rounds(spec.seeds, 1 if auto else int(spec.repeat))
    state = {} if state is None else state
    state.update(rounds=0, stopped=None)
    records = [] if records is None else records
    width = max(len(v.name) for v in spec.variants)
    k, rounds_started = 0, clock()
    while state["rounds"] < len(planned):
        i = state["rounds"]
        seed, repeat = planned[i]
        indices = list(range(len(spec.variants)))
        for index in indices if i % 2 == 0 else indices[::-1]:
            variant = spec.variants[index]
            k += 1
            run_dir = out / RUNS_DIR / variant.name / run_name(seed, repeat)
            log = out / LOGS_DIR / f"{variant.name}-{run_name(seed, repeat)}.log"
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            total = f"{len(planned) * len(spec.variants)}" + ("+" if auto else "")
            head = f"[{k}/{total}] {variant.name:<{width}} seed {seed}" + (f" rep {repeat}" if repeat else "")
            load_before = load_average()
            record = run_one(variant, seed, repeat, paths[variant.name], run_dir, log, timeout)
            record.update(repeat=repeat, load_avg_before=load_before, load_avg_after=load_average(),
                          has_target=target is not None)
            records.append(record)
            progress(f"{head}  {describe(record)}")
            if on_record is not None:
                on_record(records)
        state["rounds"] += 1
        if auto and state["rounds"] == len(planned):
            done = state["rounds"]
            reason = stop_reason(summarize(spec.variants, records, has_target=target is not None, noise=spec.noise),
                                 elapsed=clock() - started, round_seconds=(clock() - rounds_started) / done,
                                 budget=float(spec.budget), rounds=done, max_rounds=MAX_SEEDS)
            if reason is None:
                planned.append((spec.seeds[done % len(spec.seeds)], done // len(spec.seeds)))
            else:
                state["stopped"] = reason
                progress(f"--repeat auto: stopped after {done} rounds ({reason})")
    return records


def describe(record: dict[str, Any]) -> str:
    """One progress line for a finished run."""
    if record["status"] != "ok":
        return f"FAILED ({record['error']}); log: {record['log']}"
    parts = [f"{record['process_time_s']:.1f} s"]
    test = record["test"]
    for key in ("accuracy", "mae", "loss"):
        if key in test:
            parts.append(f"test {key} {test[key]:.4f}")
            break
    if record.get("time_to_target_s") is not None:
        parts.append(f"target at {record['time_to_target_s']:.1f} s")
    elif record.get("has_target"):
        parts.append("target not reached")
    if record.get("examples_per_s"):
        parts.append(f"{record['examples_per_s']:.0f} ex/s")
    if record.get("cpu_s_per_example"):
        parts.append(f"{record['cpu_s_per_example'] * 1e6:.1f} CPU µs/example")
    if record.get("peak_rss_bytes"):
        parts.append(f"peak RSS {record['peak_rss_bytes'] / 2**20:.0f} MiB")
    return " · ".join(parts)


__all__ = ["describe", "load_average", "rounds", "run_bench", "run_name", "run_order", "run_record", "spawn",
           "train_run"]
