"""Wall time of the commands that need no model, next to ``python -c "import keras"``.

``kerastricks list``, ``show``, ``--help`` and every recipe / CLI error answer without importing
TensorFlow; this measures each whole command (a fresh process, as a user runs it), interleaved with
the Keras import in the same run, several repetitions, and reports medians and the ratio to the
Keras import. It also checks, once per command, that TensorFlow was not imported and that the error
case exits 2 with one line.

    python benchmarks/cli_startup.py            # 7 repetitions
    python benchmarks/cli_startup.py --quick    # 3 repetitions
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, table

COMMANDS = {
    "import keras": [sys.executable, "-c", "import keras"],
    "kerastricks list": [sys.executable, "-m", "kerastricks", "list"],
    "kerastricks show --preset mnist1d": [sys.executable, "-m", "kerastricks", "show", "--preset", "mnist1d"],
    "kerastricks --help": [sys.executable, "-m", "kerastricks", "--help"],
    "bad key (train --set train.epochz=3)": [sys.executable, "-m", "kerastricks", "train", "--set",
                                              "train.epochz=3"],
}
BASELINE = "import keras"

PROBE = ("import sys, runpy; sys.argv = ['kerastricks', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('kerastricks', run_name='__main__')\n"
         "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
         "print('TF_IMPORTED=%s' % ('tensorflow' in sys.modules), file=sys.stderr); sys.exit(code)")


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return time.perf_counter() - t0, proc


def check(name: str, cmd: list[str]) -> dict:
    """Exit code, stderr lines and whether TensorFlow was imported (one extra run, not timed)."""
    if cmd[1:3] != ["-m", "kerastricks"]:
        return {}
    proc = subprocess.run([sys.executable, "-c", PROBE, *cmd[3:]], capture_output=True, text=True)
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("TF_IMPORTED=")]
    return {"exit": proc.returncode, "stderr_lines": len(lines), "tensorflow_imported": "TF_IMPORTED=True" in
            proc.stderr}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 7")
    args = parser.parse_args()
    reps = 3 if args.quick else 7
    load_before = os.getloadavg()
    for cmd in COMMANDS.values():  # warm the file cache: the first import of a package costs more
        timed(cmd)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    names = list(COMMANDS)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            times[name].append(timed(COMMANDS[name])[0])
    load_after = os.getloadavg()
    checks = {name: check(name, cmd) for name, cmd in COMMANDS.items()}
    base = median(times[BASELINE])
    rows, figures = [], {}
    for name in names:
        m = median(times[name])
        c = checks[name]
        rows.append([name, m, min(times[name]), max(times[name]), m / base, c.get("exit", "-"),
                     c.get("tensorflow_imported", "-")])
        figures[name] = {"median_s": round(m, 3), "ratio_to_import_keras": round(m / base, 3), **c}
    print(f"{reps} interleaved repetitions, fresh process each; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after")
    print(table(["command", "median s", "min s", "max s", "x import keras", "exit", "TF imported"], rows))
    print(json.dumps({"benchmark": "cli_startup", "quick": args.quick, "repetitions": reps,
                      "load_average": [round(load_before[0], 2), round(load_after[0], 2)], "commands": figures}))


if __name__ == "__main__":
    main()
