"""Steps/s of data-parallel training: 1 vs 2 replicas on each engine, through ``kerastricks train``.

Configurations (each a fresh ``kerastricks train`` process, interleaved, repeated; medians):

- ``tf_1``: TensorFlow, one device; ``tf_mirrored_2``: ``distribute = "mirrored"``, 2 devices;
- ``jax_1``: JAX, one device; ``jax_dp_2``: ``distribute = "data_parallel"``, 2 devices in one process;
  ``jax_workers_2``: ``data_parallel`` with ``--workers 2`` (one device per process, gloo all-reduce).

Steady steps/s = steps per epoch / median epoch time over the epochs after the first (which compiles).
On a CPU-only host the 2 replicas are logical devices sharing the same cores, so no speed-up is expected
there; on a host with 2+ GPUs ``--devices N`` measures the real scaling (``devices = "all"`` uses every GPU).
The ratios are against the one-device run of the same engine, at the same global batch.

    python benchmarks/distributed.py [--quick] [--reps 3] [--epochs 4] [--batch 256] [--devices 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, table

RECIPE = """
[data]
name = "mnist1d"
validation_split = 0.1
[model]
name = "mlp"
width = 256
depth = 2
[optimizer]
name = "adam"
learning_rate = 0.001
[train]
epochs = {epochs}
batch_size = {batch}
monitor = "last"
tensorboard = false
plots = false
jit_compile = true
"""


def configs(devices: int) -> dict[str, list[str]]:
    jax = ["--set", "train.backend=jax"]
    return {
        "tf_1": ["--set", "train.backend=tensorflow"],
        f"tf_mirrored_{devices}": ["--set", "train.backend=tensorflow", "--set", "train.distribute=mirrored",
                                   "--set", f"train.devices={devices}"],
        "jax_1": jax,
        f"jax_dp_{devices}": jax + ["--set", "train.distribute=data_parallel", "--set", f"train.devices={devices}"],
        f"jax_workers_{devices}": jax + ["--set", "train.distribute=data_parallel", "--set", "train.devices=1",
                                         "--workers", str(devices)],
    }


def run(recipe: Path, out: Path, extra: list[str], timeout: float) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "kerastricks", "train", str(recipe), "--out", str(out), "--quiet",
                           *extra], capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"{extra} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    with (out / "metrics.csv").open() as fh:
        times = [float(r["train_time_s"]) for r in csv.DictReader(fh)][1:]
    report = json.loads((out / "report.json").read_text())
    steps = int(report["steps_per_epoch"])
    dist = report.get("distribution") or {"replicas": 1, "processes": 1, "per_replica_batch": None}
    return {"steps_per_s": steps / statistics.median(times), "replicas": dist.get("live_replicas", 1),
            "processes": dist["processes"], "per_replica_batch": dist["per_replica_batch"],
            "loss": report["last_epoch"]["loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, 3 epochs (< 3 minutes on a quiet box)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=256, help="global batch")
    parser.add_argument("--devices", type=int, default=2, help="replicas of the distributed configurations")
    parser.add_argument("--only", nargs="*", help="configuration names to run (default: all)")
    args = parser.parse_args()
    reps, epochs = (1, 3) if args.quick else (args.reps, args.epochs)
    cfgs = configs(args.devices)
    if args.only:
        cfgs = {k: v for k, v in cfgs.items() if k in args.only}
    root = Path(tempfile.mkdtemp(prefix="kt-distributed-"))
    recipe = root / "recipe.toml"
    recipe.write_text(RECIPE.format(epochs=epochs, batch=args.batch))
    results: dict[str, list[dict]] = {k: [] for k in cfgs}
    try:
        for rep in range(reps):  # interleaved: every configuration once per repetition
            for name, extra in cfgs.items():
                results[name].append(run(recipe, root / f"{name}-{rep}", extra, timeout=1800))
                print(f"rep {rep} {name}: {results[name][-1]['steps_per_s']:.1f} steps/s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load = os.getloadavg()
    steps = {k: median([r["steps_per_s"] for r in v]) for k, v in results.items()}
    base = {k: steps.get("tf_1") if k.startswith("tf") else steps.get("jax_1") for k in steps}
    rows = []
    for name, value in steps.items():
        first = results[name][0]
        ratio = value / base[name] if base[name] else None
        rows.append([name, first["replicas"], first["processes"], first["per_replica_batch"] or args.batch,
                     value, ratio, first["loss"]])
    print()
    print(f"global batch {args.batch}, {epochs} epochs (first excluded), {reps} repetition(s), "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs")
    print(table(["config", "replicas", "processes", "per-replica batch", "steps/s", "ratio to 1 device",
                 "final loss"], rows))
    print(json.dumps({"benchmark": "distributed", "quick": args.quick, "reps": reps, "global_batch": args.batch,
                      "steps_per_s": steps, "ratio_to_one_device": {r[0]: r[5] for r in rows},
                      "load_average": load, "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
