"""Compression of the default MNIST-1D recipe: pruning, int8 quantization and both, as LiteRT models.

Trains the default recipe (``--preset mnist1d``) dense and with ``[techniques.prune]`` at final sparsity 50%,
80% and 90% (``kerastricks train`` processes, seeds interleaved), then exports each with ``kerastricks
compress``: the dense model as float32 LiteRT (the baseline) and full-integer int8, the pruned models as float32
LiteRT, the 80% model also as int8. For every variant: test accuracy through the LiteRT interpreter, gzip size
and batch-1 latency as ratios against the dense float32 LiteRT model of the same seed; medians over seeds.

Goals (issue 16): 80% sparsity within 0.5 points of dense; int8 within 0.5 points at gzip size <= 0.3x;
pruned-80% + int8 at gzip size <= 0.1x.

    python benchmarks/compression.py [--quick] [--seeds 3] [--epochs 25] [--keep DIR] [--jobs 1]

``--quick``: one seed, 4 epochs (the same measurement, far from converged). Last line: JSON with the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, table

SPARSITIES = (0.5, 0.8, 0.9)


def start(*args: str) -> tuple[subprocess.Popen, tuple[str, ...]]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "kerastricks", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env), args


def wait(started: tuple[subprocess.Popen, tuple[str, ...]]) -> None:
    proc, args = started
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"kerastricks {' '.join(args)} failed (exit {proc.returncode}):\n{err[-3000:]}")


def train(root: Path, name: str, seed: int, epochs: int, sparsity: float | None):
    """Start training one variant (``None`` if a finished run is already there: ``--keep`` reuses runs)."""
    out = root / f"{name}-seed{seed}"
    if (out / "report.json").exists():
        return None
    sets = [f"train.seed={seed}", f"train.epochs={epochs}", "train.tensorboard=false", "train.plots=false"]
    if sparsity is not None:
        sets.append(f"techniques.prune.final_sparsity={sparsity}")
    return start("train", "--preset", "mnist1d", *[a for s in sets for a in ("--set", s)], "--out", str(out),
                 "--quiet")


def compress(run: Path, quantize: str, calibration: int | None) -> dict:
    out = run / f"compress-{quantize}"
    if not (out / "report.json").exists():
        args = ["compress", str(run), "--quantize", quantize, "--out", str(out)]
        if calibration is not None and quantize == "int8":
            args += ["--calibration", str(calibration)]
        wait(start(*args))
    return json.loads((out / "report.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--calibration", type=int, default=None, help="int8 calibration examples (default 1000)")
    parser.add_argument("--keep", help="keep the run directories here (finished runs and reports found there are "
                                       "reused)")
    parser.add_argument("--jobs", type=int, default=1, help="trainings of one seed run at once (latency is "
                                                             "measured afterwards, one compress at a time)")
    args = parser.parse_args()
    seeds = args.seeds or (1 if args.quick else 3)
    epochs = args.epochs or (4 if args.quick else 25)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kt-compression-"))
    root.mkdir(parents=True, exist_ok=True)
    variants = [("dense", None)] + [(f"pruned{int(s * 100)}", s) for s in SPARSITIES]
    rows: dict[str, dict[str, list[float]]] = {}

    def add(name: str, entry: dict, base: dict) -> None:
        row = rows.setdefault(name, {"accuracy": [], "gzip_ratio": [], "latency_ratio": [], "gzip_bytes": []})
        row["accuracy"].append(entry["accuracy"])
        row["gzip_ratio"].append(entry["size_gzip_bytes"] / base["size_gzip_bytes"])
        row["latency_ratio"].append(entry["latency_ms"] / base["latency_ms"])
        row["gzip_bytes"].append(entry["size_gzip_bytes"])

    for i, seed in enumerate(range(seeds)):
        order = variants if i % 2 == 0 else variants[::-1]  # interleaved: A B C D, then D C B A, ...
        runs, pending = {}, []
        for name, sparsity in order:
            print(f"seed {seed}: training {name} ...", flush=True)
            runs[name] = root / f"{name}-seed{seed}"
            proc = train(root, name, seed, epochs, sparsity)
            if proc is not None:
                pending.append(proc)
            if len(pending) >= args.jobs:
                wait(pending.pop(0))
        for proc in pending:
            wait(proc)
        dense = compress(runs["dense"], "int8", args.calibration)
        base = dense["float"]
        add("dense float32", base, base)
        add("dense int8", dense["compressed"], base)
        for name, sparsity in variants[1:]:
            report = compress(runs[name], "int8" if sparsity == 0.8 else "none", args.calibration)
            add(f"{name} float32", report["float"], base)
            if sparsity == 0.8:
                add(f"{name} int8", report["compressed"], base)
            print(f"seed {seed}: {name} sparsity {report['sparsity']['overall']:.3f}", flush=True)

    dense_acc = median(rows["dense float32"]["accuracy"])
    result: dict = {"seeds": seeds, "epochs": epochs, "quick": args.quick}
    table_rows = []
    for name, row in rows.items():
        acc = median(row["accuracy"])
        key = name.replace(" ", "_")
        result[key] = {"accuracy": acc, "accuracy_points_vs_dense": 100 * (acc - dense_acc),
                       "gzip_ratio": median(row["gzip_ratio"]), "latency_ratio": median(row["latency_ratio"]),
                       "gzip_bytes": median(row["gzip_bytes"])}
        table_rows.append([name, acc, f"{100 * (acc - dense_acc):+.2f}", median(row["gzip_bytes"]),
                           median(row["gzip_ratio"]), median(row["latency_ratio"])])
    print()
    print(f"MNIST-1D default recipe, {epochs} epochs, median of {seeds} seed(s); ratios against the dense float32 "
          f"LiteRT model of the same seed")
    print(table(["model", "test accuracy", "points vs dense", "gzip bytes", "gzip ratio", "latency ratio"],
                table_rows))
    result["goals"] = {
        "pruned80_within_0.5_points": result["pruned80_float32"]["accuracy_points_vs_dense"] >= -0.5,
        "int8_within_0.5_points": result["dense_int8"]["accuracy_points_vs_dense"] >= -0.5,
        "int8_gzip_at_most_0.3": result["dense_int8"]["gzip_ratio"] <= 0.3,
        "pruned80_int8_gzip_at_most_0.1": result["pruned80_int8"]["gzip_ratio"] <= 0.1,
    }
    print(f"runs kept in {root}" if args.keep else "")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
