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
from kerastricks.bench.spec import BenchSpec, Variant

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


def _child_env() -> dict[str, str]:
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
    json.dump({"maxrss": usage.ru_maxrss}, fh)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _spawn(cmd: list[str], log_path: Path, timeout: float | None) -> tuple[int, float, int | None]:
    """Run ``cmd``; return (exit code, wall seconds, peak RSS bytes of the run or None).

    The run is started through :data:`_LAUNCHER` (in its own session, so a
    timeout kills the whole process group) and its peak RSS is the operating
    system's ``ru_maxrss`` for it alone.
    """
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: no fork, no per-child rusage
        with open(log_path, "wb") as log:
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=_child_env(), timeout=timeout,
                                  check=False)
            return proc.returncode, time.perf_counter() - t0, None
    usage_path = log_path.with_name(log_path.name + ".rusage.json")
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(usage_path), *cmd], stdout=log,
                                stderr=subprocess.STDOUT, env=_child_env(), start_new_session=True)
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
    peak = None
    try:
        maxrss = json.loads(usage_path.read_text())["maxrss"]
        usage_path.unlink()
        # ru_maxrss is KiB on Linux, bytes on macOS
        peak = int(maxrss) * (1 if sys.platform == "darwin" else 1024)
    except (OSError, ValueError, KeyError):
        pass  # killed before it could report
    return proc.returncode, secs, peak


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


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def run_record(variant: Variant, seed: int, run_dir: Path, log: Path, exit_code: int, process_s: float,
               peak_rss: int | None, curve_metric: str | None) -> dict[str, Any]:
    """One run's figures, read from the child's ``report.json``."""
    record: dict[str, Any] = {"variant": variant.name, "seed": seed, "exit_code": exit_code,
                              "run_dir": str(run_dir), "log": str(log), "process_time_s": process_s,
                              "peak_rss_bytes": peak_rss}
    report_path = run_dir / "report.json"
    if exit_code != 0 or not report_path.exists():
        record["status"] = "failed"
        record["error"] = _last_line(log) or f"exit code {exit_code}"
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


def run_bench(
    spec: BenchSpec,
    out: Path,
    *,
    progress: Callable[[str], None] = print,
    timeout: float | None = None,
    on_record: Callable[[list[dict[str, Any]]], Any] | None = None,
    records: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run every (seed, variant) in its own process; return the run records in run order.

    Args:
        spec: The resolved bench.
        out: The bench directory (created by the caller).
        progress: Called with one line per event.
        timeout: Seconds after which a run is killed and recorded as failed.
        on_record: Called with all records so far after each run (to write
            partial results as the bench goes).
        records: A list to append the records to (so a caller keeps what
            finished if the bench is interrupted); default a new one.
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

    progress("warming up (backend import, datasets) ...")
    code, secs, _ = _spawn([sys.executable, "-c", _WARMUP, *map(str, paths.values())], out / LOGS_DIR / "warmup.log",
                           timeout)
    if code != 0:
        progress(f"warm-up failed (exit {code}): {_last_line(out / LOGS_DIR / 'warmup.log')}")

    order = run_order(len(spec.variants), spec.seeds)
    records = [] if records is None else records
    for k, (seed, index) in enumerate(order, 1):
        variant = spec.variants[index]
        run_dir = out / RUNS_DIR / variant.name / f"seed{seed}"
        log = out / LOGS_DIR / f"{variant.name}-seed{seed}.log"
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "kerastricks", "train", str(paths[variant.name]), "--set",
               f"train.seed={seed}", "--out", str(run_dir), "--quiet"]
        head = f"[{k}/{len(order)}] {variant.name:<{max(len(v.name) for v in spec.variants)}} seed {seed}"
        code, secs, peak = _spawn(cmd, log, timeout)
        record = run_record(variant, seed, run_dir, log, code, secs, peak, curve_metric)
        record["has_target"] = target is not None
        records.append(record)
        progress(f"{head}  {describe(record)}")
        if on_record is not None:
            on_record(records)
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
    if record.get("peak_rss_bytes"):
        parts.append(f"peak RSS {record['peak_rss_bytes'] / 2**20:.0f} MiB")
    return " · ".join(parts)


__all__ = ["run_bench", "run_order", "run_record", "describe"]
