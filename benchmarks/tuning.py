"""TPE + median pruning vs random search without pruning, same space, same wall budget, on MNIST-1D.

Each study is one `kerastricks tune` command (its trials `kerastricks train` processes, one at a time) on the
`mnist1d` preset with `train.epochs` cut to 10 (the preset's one-cycle run reaches val_accuracy 0.98 in 8 on
seed 0, and a 10-epoch trial costs about 29 CPU-seconds, two thirds of it the process start and the first epoch's
tracing). Every study gets the same wall budget: `--timeout BUDGET` (no trial starts after it) and SIGTERM at
BUDGET (the running trial is stopped and recorded as failed).

The default space (`--space wide`) is what a user who does not know this problem's good ranges would search:
learning rate and AdamW weight decay over five decades (1e-5 to 1), every schedule (one-cycle, cosine, constant,
triangular2), batch sizes 32 to 512 and dropout 0 to 0.5; most of it cannot reach the target in 10 epochs.
`--space narrow` is the first measurement's space (ranges around the preset's good values: about 40 % of its
trials reached the target, most of them inside the random start-up both methods share, so it could not tell the
methods apart). TPE draws its first TPE_STARTUP trials at random (`--startup-trials`; Optuna's default, 10, is
more than a study here holds) and then models the space; the median pruner (nothing is pruned before 3 trials
finished, nor during a trial's warm-up: by default a quarter of its epochs, so one-cycle's rising phase is over)
stops a trial whose val_accuracy at an epoch is below the median of finished trials at that epoch.

The two studies of a repetition run side by side, at the same time (one trial process each): on this shared
machine the load drifts by a factor of 3 within an hour, and studies run together see the same load, where studies
run one after the other do not (`--sequential` runs them one after the other, alternating which goes first).
Side by side also fits twice the budget per study into the same session time. Repetition r seeds both samplers
with r, so TPE's random start-up draws equal random search's first draws and the methods differ by what they do
after them. Every trial trains with the preset's seed, so equal hyper-parameters give equal runs.

Measured per study, from its storage and its trials' metrics.csv: wall time from the command's start until a
trial first reports val_accuracy >= TARGET (from when the worker saw the epoch's row), the test accuracy of the
trial with the best val_accuracy among those that finished inside the budget, trials started / completed / pruned
/ failed inside the budget, the load average around the study.
Reported: a row per study, medians per method and the ratio TPE / random of the time to target (median of the
per-repetition ratios; a study that never reached the target counts the budget as its time, so such a ratio is a
bound, marked in the table).

    PYTHONPATH=src python benchmarks/tuning.py [--quick] [--budget S] [--reps N] [--epochs N] [--target X]
        [--space wide|narrow] [--sequential]
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

SPACES = {
    # What a user who does not know this problem's good ranges would search: five decades of learning rate and
    # weight decay, every schedule, batch sizes 32..512, dropout. Most of it cannot reach the target in 10 epochs.
    "wide": """
[[param]]
key = "optimizer.learning_rate"
type = "float"
low = 1e-5
high = 1.0
log = true
[[param]]
key = "optimizer.weight_decay"
type = "float"
low = 1e-5
high = 1.0
log = true
[[param]]
key = "schedule.name"
type = "categorical"
choices = ["one_cycle", "cosine", "constant", "triangular2"]
[[param]]
key = "train.batch_size"
type = "categorical"
choices = [32, 64, 128, 256, 512]
[[param]]
key = "model.dropout"
type = "float"
low = 0.0
high = 0.5
""",
    # The space of the first measurement (2026-12-03, session 7): ranges around the preset's good values; about
    # 40 % of its trials reached the target, mostly inside the random start-up both methods share.
    "narrow": """
[[param]]
key = "optimizer.learning_rate"
type = "float"
low = 1e-4
high = 1e-1
log = true
[[param]]
key = "schedule.name"
type = "categorical"
choices = ["one_cycle", "cosine", "constant"]
[[param]]
key = "train.batch_size"
type = "categorical"
choices = [64, 128, 256]
[[param]]
key = "optimizer.weight_decay"
type = "float"
low = 1e-4
high = 1e-1
log = true
""",
}
SPACE_TEXT = {"wide": "learning rate and weight decay (log 1e-5..1), schedule (one_cycle, cosine, constant, "
                      "triangular2), batch size (32..512), dropout (0..0.5)",
              "narrow": "learning rate (log 1e-4..1e-1), schedule (one_cycle, cosine, constant), batch size "
                        "(64, 128, 256), weight decay (log 1e-4..1e-1)"}
TPE_STARTUP = 4
METHODS = {"random": ["--sampler", "random", "--pruner", "none"],
           "tpe+median": ["--sampler", "tpe", "--startup-trials", str(TPE_STARTUP), "--pruner", "median"]}
FIXED = ["train.plots=false", "train.tensorboard=false"]


def start_study(method: str, rep: int, budget: float, epochs: int, workdir: Path) -> dict:
    out = workdir / f"{method}-rep{rep}"
    sets = [a for s in [f"train.epochs={epochs}", *FIXED] for a in ("--set", s)]
    cmd = [sys.executable, "-m", "kerastricks", "tune", "--preset", "mnist1d", "--space", str(workdir / "space.toml"),
           *sets, "--trials", "1000", "--timeout", str(budget), "--seed", str(rep), "--out", str(out),
           *METHODS[method]]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    log = open(workdir / f"{method}-rep{rep}.log", "w")  # noqa: SIM115 - closed by finish_study
    load = os.getloadavg()[0]
    return {"out": out, "log": log, "load": load, "started": time.time(),
            "proc": subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)}


def finish_study(study: dict, budget: float, target: float) -> dict:
    """Wait until the study's budget is spent, stop it (the running trial is recorded as failed), measure it."""
    proc = study["proc"]
    try:
        proc.wait(timeout=max(0.0, study["started"] + budget - time.time()))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # stop the running trial (recorded as failed), write the outputs
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    study["log"].close()
    result = measure(study["out"], study["started"], budget, target)
    result["load"] = [round(study["load"], 1), round(os.getloadavg()[0], 1)]
    return result


def measure(out: Path, started: float, budget: float, target: float) -> dict:
    import optuna

    from kerastricks.tune.objective import read_metrics
    from kerastricks.tune.study import make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="mnist1d", storage=make_storage(f"sqlite:///{out.resolve() / 'study.db'}"))
    reach, reach_trial, best = None, None, None
    states = {"started": 0, "COMPLETE": 0, "PRUNED": 0, "FAIL": 0}  # inside the budget
    for t in study.get_trials(deepcopy=False):
        t0 = t.datetime_start.timestamp() - started
        if t0 > budget:
            continue
        states["started"] += 1
        seen = t.user_attrs.get("epoch_seen_s") or []
        rows = read_metrics(out / "trials" / f"{t.number:04d}" / "metrics.csv")
        for row, at in zip(rows, seen):
            if row.get("val_accuracy", 0.0) >= target and t0 + at <= budget:
                if reach is None or t0 + at < reach:
                    reach, reach_trial = t0 + at, t.number
                break
        end = t.datetime_complete.timestamp() - started if t.datetime_complete else None
        if end is None or end > budget or t.state.name not in states:
            continue
        states[t.state.name] += 1
        if t.state.name == "COMPLETE" and (best is None or t.values[0] > best[0]):
            best = (t.values[0], t.user_attrs.get("test_accuracy"), t.number, dict(t.params))
    return {"time_to_target_s": reach, "target_trial": reach_trial, "best_val_accuracy": best[0] if best else None,
            "test_accuracy": best[1] if best else None, "best_trial": best[2] if best else None,
            "best_params": best[3] if best else None, "trials": states}


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, 4-epoch trials, target 0.90, 120 s")
    parser.add_argument("--budget", type=float, help="wall seconds per study (default 900, quick 120)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, quick 1)")
    parser.add_argument("--epochs", type=int, help="train.epochs of every trial (default 10, quick 4)")
    parser.add_argument("--target", type=float, help="val_accuracy target (default 0.98, quick 0.90)")
    parser.add_argument("--space", choices=sorted(SPACES), default="wide",
                        help="the search space (default wide; narrow: the first measurement's)")
    parser.add_argument("--sequential", action="store_true",
                        help="run the two studies of a repetition one after the other (default: side by side)")
    args = parser.parse_args()
    budget = args.budget or (120.0 if args.quick else 900.0)
    reps = args.reps or (1 if args.quick else 3)
    epochs = args.epochs or (4 if args.quick else 10)
    target = args.target or (0.90 if args.quick else 0.98)
    load_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="kt-tuning-"))
    (workdir / "space.toml").write_text(SPACES[args.space])
    print(f"MNIST-1D preset, {epochs}-epoch trials; {args.space} space: {SPACE_TEXT[args.space]}; TPE {TPE_STARTUP} "
          f"startup trials, median pruner (default warm-up); budget {budget:g} s per study; target val_accuracy >= {target}; {reps} repetition(s); {workdir}",
          flush=True)
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    per_study = []
    for rep in range(reps):
        order = list(METHODS) if rep % 2 == 0 else list(METHODS)[::-1]
        if args.sequential:
            done = [(m, finish_study(start_study(m, rep, budget, epochs, workdir), budget, target)) for m in order]
        else:  # side by side: both methods see the same machine load
            studies = [(m, start_study(m, rep, budget, epochs, workdir)) for m in order]
            done = [(m, finish_study(st, budget, target)) for m, st in studies]
        for method, r in done:
            results[method].append(r)
            t = r["trials"]
            per_study.append([rep, method, _s(r["time_to_target_s"]),
                              "-" if r["target_trial"] is None else r["target_trial"], r["best_val_accuracy"] or "-",
                              r["test_accuracy"] or "-", t["started"], t["COMPLETE"], t["PRUNED"], t["FAIL"],
                              f"{r['load'][0]}-{r['load'][1]}"])
            print(f"rep {rep} {method:<10} target at {_s(r['time_to_target_s'])} s (trial {r['target_trial']}), "
                  f"best val {r['best_val_accuracy']} (trial {r['best_trial']}, {r['best_params']}), its test "
                  f"{r['test_accuracy']}, trials {t}, load {r['load']}", flush=True)
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
    bounds = ["" if a["time_to_target_s"] is not None and b["time_to_target_s"] is not None else
              ("<=" if b["time_to_target_s"] is None and a["time_to_target_s"] is not None else
               (">=" if a["time_to_target_s"] is None and b["time_to_target_s"] is not None else "n/a "))
              for a, b in zip(results["tpe+median"], results["random"])]
    print()
    print(table(["rep", "method", f"s to val_acc >= {target}", "by trial", "best val acc", "its test acc", "started",
                 "completed", "pruned", "failed", "load"], per_study))
    print()
    print(table(["method", "reached", "median s to target (budget if not)", "median test acc (best val trial)",
                 "started", "completed", "pruned"], rows))
    ratio = median(ratios)
    load_end = os.getloadavg()[0]
    print(f"\nTPE+median / random time to val_accuracy >= {target}: {ratio:.3f} (per repetition: "
          f"{', '.join(f'{b}{x:.2f}' for b, x in zip(bounds, ratios))}); goal <= 0.5: "
          f"{'met' if ratio <= 0.5 else 'not met'}; load average {load_start:.1f} -> {load_end:.1f}")
    print(json.dumps({"benchmark": "tuning", "quick": args.quick, "budget_s": budget, "epochs": epochs,
                      "target": target, "reps": reps, "space": args.space, "tpe_startup_trials": TPE_STARTUP,
                      "time_to_target_ratio": ratio, "ratios": ratios, "ratio_bounds": bounds, "methods": summary,
                      "runs": results, "load_avg_start": load_start, "load_avg_end": load_end}))


if __name__ == "__main__":
    main()
