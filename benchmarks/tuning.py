"""TPE + median pruning vs random search without pruning, same space, same wall budget, on MNIST-1D.

Each study is one `kerastricks tune` command (its trials `kerastricks train` processes, one at a time), given a
fixed wall budget: `--timeout BUDGET` (no trial starts after it) and SIGTERM at BUDGET (the running trial is
stopped and recorded as failed), so both methods get the same wall time. The methods alternate (TPE, random,
random, TPE, ...) over 3 repetitions; repetition r seeds both samplers with r, so the first trials of a
repetition are drawn alike and the methods differ by what they do with them.

Measured per study, from its storage and its trials' metrics.csv: wall time from the command's start until a
trial first reports val_accuracy >= TARGET (from when the worker saw the epoch's row), the test accuracy of the
trial with the best val_accuracy among those that finished inside the budget, trials started / completed / pruned
inside the budget.
Reported: medians over repetitions and the ratio TPE / random of the time to target (median of per-repetition
ratios; a repetition where random never reached the target counts random's time as the budget).

    PYTHONPATH=src python benchmarks/tuning.py [--quick] [--budget S] [--reps N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, table

SPACE = """
[[param]]
key = "optimizer.learning_rate"
type = "float"
low = 3e-4
high = 3e-2
log = true
[[param]]
key = "schedule.name"
type = "categorical"
choices = ["one_cycle", "cosine", "constant"]
[[param]]
key = "train.batch_size"
type = "categorical"
choices = [64, 128, 256]
"""
METHODS = {"tpe+median": ["--sampler", "tpe", "--pruner", "median"],
           "random": ["--sampler", "random", "--pruner", "none"]}


def run_study(method: str, rep: int, budget: float, epochs: int, workdir: Path) -> dict:
    out = workdir / f"{method}-rep{rep}"
    space = workdir / "space.toml"
    cmd = [sys.executable, "-m", "kerastricks", "tune", "--preset", "mnist1d", "--space", str(space),
           "--set", f"train.epochs={epochs}", "--set", "train.plots=false", "--set", "train.tensorboard=false",
           "--trials", "1000", "--timeout", str(budget), "--seed", str(rep), "--out", str(out), *METHODS[method]]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    started = time.time()
    with open(workdir / f"{method}-rep{rep}.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # stop the running trial (recorded as failed), write the outputs
            try:
                proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return measure(out, started, budget)


def measure(out: Path, started: float, budget: float) -> dict:
    import optuna

    from kerastricks.tune.objective import read_metrics
    from kerastricks.tune.study import make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="mnist1d", storage=make_storage(f"sqlite:///{out.resolve() / 'study.db'}"))
    reach, best = None, None
    states = {"started": 0, "COMPLETE": 0, "PRUNED": 0}  # inside the budget
    for t in study.get_trials(deepcopy=False):
        t0 = t.datetime_start.timestamp() - started
        if t0 > budget:
            continue
        states["started"] += 1
        seen = t.user_attrs.get("epoch_seen_s") or []
        rows = read_metrics(out / "trials" / f"{t.number:04d}" / "metrics.csv")
        for row, at in zip(rows, seen):
            if row.get("val_accuracy", 0.0) >= TARGET and t0 + at <= budget:
                reach = t0 + at if reach is None else min(reach, t0 + at)
                break
        end = t.datetime_complete.timestamp() - started if t.datetime_complete else None
        if end is None or end > budget or t.state.name not in states:
            continue
        states[t.state.name] += 1
        if t.state.name == "COMPLETE" and (best is None or t.values[0] > best[0]):
            best = (t.values[0], t.user_attrs.get("test_accuracy"))
    return {"time_to_target_s": reach, "best_val_accuracy": best[0] if best else None,
            "test_accuracy": best[1] if best else None, "trials": states}


TARGET = 0.98


def main() -> None:
    global TARGET
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, 4-epoch trials, target 0.90, 75 s")
    parser.add_argument("--budget", type=float, help="wall seconds per study (default 480, quick 75)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, quick 1)")
    parser.add_argument("--epochs", type=int, help="train.epochs of every trial (default 10, quick 4)")
    parser.add_argument("--target", type=float, help="val_accuracy target (default 0.98, quick 0.90)")
    args = parser.parse_args()
    budget = args.budget or (75.0 if args.quick else 480.0)
    reps = args.reps or (1 if args.quick else 3)
    epochs = args.epochs or (4 if args.quick else 10)
    TARGET = args.target or (0.90 if args.quick else 0.98)
    load_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="kt-tuning-"))
    (workdir / "space.toml").write_text(SPACE)
    print(f"MNIST-1D preset, {epochs}-epoch trials; space: learning rate (log 3e-4..3e-2), schedule, batch size; "
          f"budget {budget:g} s per study; target val_accuracy >= {TARGET}; {reps} repetition(s); {workdir}",
          flush=True)
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    for rep in range(reps):
        order = list(METHODS) if rep % 2 == 0 else list(METHODS)[::-1]
        for method in order:
            r = run_study(method, rep, budget, epochs, workdir)
            results[method].append(r)
            print(f"rep {rep} {method:<10} target at {r['time_to_target_s'] or '-'} s, best val "
                  f"{r['best_val_accuracy']}, its test {r['test_accuracy']}, trials {r['trials']}", flush=True)
    rows, summary = [], {}
    for method, runs in results.items():
        reached = [r["time_to_target_s"] for r in runs if r["time_to_target_s"] is not None]
        tests = [r["test_accuracy"] for r in runs if r["test_accuracy"] is not None]
        summary[method] = {
            "reached": f"{len(reached)}/{len(runs)}",
            "time_to_target_s_median": median([r["time_to_target_s"] or budget for r in runs]),
            "test_accuracy_median": median(tests) if tests else None,
            "started_median": median([r["trials"]["started"] for r in runs]),
            "completed_median": median([r["trials"]["COMPLETE"] for r in runs]),
            "pruned_median": median([r["trials"]["PRUNED"] for r in runs]),
        }
        s = summary[method]
        rows.append([method, s["reached"], s["time_to_target_s_median"], s["test_accuracy_median"] or "-",
                     s["started_median"], s["completed_median"], s["pruned_median"]])
    ratios = [(a["time_to_target_s"] or budget) / (b["time_to_target_s"] or budget)
              for a, b in zip(results["tpe+median"], results["random"])]
    print()
    print(table(["method", "reached", "median s to target (budget if not)", "median test acc (best val trial)",
                 "started", "completed", "pruned"], rows))
    ratio = median(ratios)
    load_end = os.getloadavg()[0]
    print(f"\nTPE+median / random time to val_accuracy >= {TARGET}: {ratio:.3f} (per repetition: "
          f"{', '.join(f'{x:.2f}' for x in ratios)}); goal <= 0.5: {'met' if ratio <= 0.5 else 'not met'}; "
          f"load average {load_start:.1f} -> {load_end:.1f}")
    print(json.dumps({"benchmark": "tuning", "quick": args.quick, "budget_s": budget, "epochs": epochs,
                      "target": TARGET, "reps": reps, "time_to_target_ratio": ratio, "ratios": ratios,
                      "methods": summary, "runs": results, "load_avg_start": load_start, "load_avg_end": load_end}))


if __name__ == "__main__":
    main()
