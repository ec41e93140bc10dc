"""The default job (`kerastricks train`, no argument): whole-command time, CPU time, accuracy, and where the time goes.

Each run is the whole command in a fresh process, started through the bench's
launcher (``kerastricks.bench.runner.spawn``), so the figures are what a user
waits for: interpreter start, imports, recipe validation, data, model build,
graph tracing, training, saving, test evaluation, plots, exit. CPU time is the
process's user + system seconds from ``wait4``: other processes on a shared
machine disturb it far less than wall time. The breakdown comes from the run's
``report.json`` (``phases``: wall and CPU seconds per phase; the first epoch,
which traces and compiles the step, apart); what no phase covers (interpreter
exit, and for a tree without ``phases`` everything but the fit) is "other".

Arms compare code trees or recipe changes, interleaved seed by seed in
alternating order, medians over seeds::

    python benchmarks/default_job.py --arm before@/path/to/old/src --arm after --seeds 3
    python benchmarks/default_job.py --arm e25:train.epochs=25 --arm e15:train.epochs=15

``NAME[@SRC][:KEY=VALUE;KEY=VALUE]``: ``SRC`` is put first on ``PYTHONPATH`` (default: the
tree this script runs from); the assignments are ``--set`` options of ``kerastricks train``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

PHASES = ("startup", "runtime", "build", "first_epoch", "fit", "save", "evaluate", "plots")


def parse_arm(text: str) -> dict:
    head, _, sets = text.partition(":")
    name, _, src = head.partition("@")
    return {"name": name, "src": src or None, "sets": [s for s in sets.split(";") if s]}


def one_run(arm: dict, seed: int, out: Path) -> dict:
    from kerastricks.bench.runner import child_env, spawn

    env = child_env()
    if arm["src"]:
        env["PYTHONPATH"] = os.pathsep.join([arm["src"], env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    run_dir = out / f"{arm['name']}-seed{seed}"
    cmd = [sys.executable, "-m", "kerastricks", "train", "--set", f"train.seed={seed}", "--out", str(run_dir)]
    for assignment in arm["sets"]:
        cmd += ["--set", assignment]
    load_before = os.getloadavg()[0]
    usage = spawn(cmd, out / f"{arm['name']}-seed{seed}.log", timeout=1800, env=env)
    load_after = os.getloadavg()[0]
    if usage["exit_code"] != 0:
        log = (out / f"{arm['name']}-seed{seed}.log").read_text(errors="replace")
        raise RuntimeError(f"{arm['name']} seed {seed} failed (exit {usage['exit_code']}):\n{log[-3000:]}")
    report = json.loads((run_dir / "report.json").read_text())
    whole = usage["wall_s"]
    phases = report.get("phases")
    row = {"arm": arm["name"], "seed": seed, "whole_s": whole, "cpu_s": usage["cpu_s"],
           "test_accuracy": report["test"]["accuracy"], "time_to_target_s": report.get("time_to_target_s"),
           "epochs_to_target": report.get("epochs_to_target"), "epochs": report["epochs_run"],
           "load_before": load_before, "load_after": load_after}
    if phases:
        wall = phases["wall_s"]
        for name in PHASES:
            row[name] = phases.get("first_epoch_s") if name == "first_epoch" else wall.get(name)
        row["other"] = whole - sum(wall.values())
        for name, secs in phases.get("cpu_s", {}).items():
            row[f"cpu_{name}"] = secs
        if usage["cpu_s"] is not None:
            row["cpu_other"] = usage["cpu_s"] - sum(phases.get("cpu_s", {}).values())
    else:  # an older tree: only the fit and the total of the run are known
        row["startup"] = whole - report["wall_time_s"]
        row["fit"] = report["fit_time_s"]
        row["other"] = report["wall_time_s"] - report["fit_time_s"]
    return row


def med(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", action="append", default=[], metavar="NAME[@SRC][:KEY=VALUE;...]")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one seed (< 3 min on a quiet 2-core machine)")
    args = parser.parse_args()
    arms = [parse_arm(a) for a in (args.arm or ["default"])]
    seeds = [0] if args.quick else list(range(args.seeds))
    rows = []
    with tempfile.TemporaryDirectory(prefix="kt-default-job-") as tmp:
        for i, seed in enumerate(seeds):
            for arm in (arms if i % 2 == 0 else arms[::-1]):
                row = one_run(arm, seed, Path(tmp))
                rows.append(row)
                print(f"{arm['name']} seed {seed}: {row['whole_s']:.1f} s whole command, {row['cpu_s']:.1f} s CPU, "
                      f"test accuracy {row['test_accuracy']:.4f}, load average {row['load_before']:.1f} -> "
                      f"{row['load_after']:.1f}", flush=True)
    keys = ("whole_s", "cpu_s", *PHASES, "other", "time_to_target_s", "test_accuracy")
    summary = {}
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm["name"]]
        summary[arm["name"]] = {k: med(mine, k) for k in keys}
        summary[arm["name"]]["test_accuracy_min"] = min(r["test_accuracy"] for r in mine)
        summary[arm["name"]]["test_accuracy_all"] = [r["test_accuracy"] for r in mine]
        summary[arm["name"]]["whole_s_all"] = [round(r["whole_s"], 2) for r in mine]
    loads = [r["load_before"] for r in rows] + [r["load_after"] for r in rows]
    print(f"\nkerastricks train, {len(seeds)} seed(s) per arm, interleaved; medians (seconds); "
          f"load average {min(loads):.1f}-{max(loads):.1f}")
    headers = ["arm", "whole", "CPU", *PHASES, "other", "to 0.98", "test acc (min)"]
    print("wall seconds")
    print(table(headers, [[a, *(("-" if s[k] is None else s[k]) for k in keys[:-1]),
                           f"{s['test_accuracy']:.4f} ({s['test_accuracy_min']:.4f})"]
                          for a, s in summary.items()]))
    cpu_keys = [f"cpu_{p}" for p in PHASES if p not in ("startup", "first_epoch")] + ["cpu_other"]
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm["name"]]
        summary[arm["name"]].update({k: med(mine, k) for k in cpu_keys})
    print("CPU seconds (user + system); 'other' = interpreter start, imports, validation, exit")
    print(table(["arm", "CPU", *(k[4:] for k in cpu_keys)],
                [[a, s["cpu_s"], *(("-" if s[k] is None else s[k]) for k in cpu_keys)] for a, s in summary.items()]))
    print(json.dumps({"benchmark": "default_job", "seeds": seeds, "load_avg_min": min(loads),
                      "load_avg_max": max(loads), "arms": summary, "runs": rows}))


if __name__ == "__main__":
    main()
