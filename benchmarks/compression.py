"""Compression of the default MNIST-1D recipe: pruning, int8 quantization and both, as LiteRT models.

Trains the default recipe (``--preset mnist1d``, its 15 epochs) dense and with ``[techniques.prune]`` at final
sparsity 50%, 80% and 90% (``kerastricks train`` processes, seeds interleaved; pruning during training, the
recipe's defaults: layers all Dense/Conv but the first conv and the classifier). Then, in this process, with the
functions ``kerastricks compress`` runs (strip the wrappers, ``convert``, the int8 calibration set of
``calibration_examples``, ``measure_litert``): every model as float32 LiteRT, the dense, 80% and 90% ones also
as full-integer int8. For every variant: test accuracy through the LiteRT interpreter, gzip size (-9) as a
ratio against the dense float32 LiteRT model of the same seed, and where the bytes of the pruned-80% int8 file
go (:func:`kerastricks.compress.size_breakdown`).

Latency: every LiteRT model of every seed is loaded in this one process and timed interleaved: in each
repetition, for every test example (batch 1, one thread), every model runs once, in an order that rotates from
example to example; a repetition's time of a model is its median call (robust to a call pre-empted by the
load of other processes); a model's ratio is its time over the dense float32 model's time of the same seed in the same
repetition; medians over repetitions, then over seeds.

Goals (issue 16): 80% sparsity within 0.5 points of dense; int8 within 0.5 points at gzip size <= 0.3x;
pruned-80% + int8 at gzip size <= 0.1x.

    python benchmarks/compression.py [--quick] [--seeds 3] [--epochs N] [--keep DIR] [--jobs 1] [--repeats 15]

``--quick``: one seed, 2 epochs, dense and 80% only, 5 timing repetitions over 100 examples (the same
measurement, far from converged). Last line: JSON with the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the LiteRT converter needs it
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, table

SPARSITIES = (0.5, 0.8, 0.9)
INT8_OF = ("dense", "pruned80", "pruned90")  # variants also exported as full-integer int8


def start(*args: str) -> tuple[subprocess.Popen, tuple[str, ...]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("KERAS_BACKEND", None)
    return subprocess.Popen([sys.executable, "-m", "kerastricks", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env), args


def wait(started: tuple[subprocess.Popen, tuple[str, ...]]) -> None:
    proc, args = started
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"kerastricks {' '.join(args)} failed (exit {proc.returncode}):\n{err[-3000:]}")


def train(root: Path, name: str, seed: int, epochs: int | None, sparsity: float | None):
    """Start training one variant (``None`` if a finished run is already there: ``--keep`` reuses runs)."""
    out = root / f"{name}-seed{seed}"
    if (out / "report.json").exists():
        return None
    sets = [f"train.seed={seed}", "train.tensorboard=false", "train.plots=false"]
    if epochs is not None:
        sets.append(f"train.epochs={epochs}")
    if sparsity is not None:
        sets.append(f"techniques.prune.final_sparsity={sparsity}")
    return start("train", "--preset", "mnist1d", *[a for s in sets for a in ("--set", s)], "--out", str(out),
                 "--quiet")


def export(run: Path, int8: bool, calibration: int | None, sparse_encoding: bool = False) -> dict:
    """The run's model as float32 (and int8) LiteRT, measured as ``kerastricks compress`` measures it."""
    import keras
    import numpy as np

    from kerastricks._components import register_all
    from kerastricks.build import load_recipe_dataset
    from kerastricks.compress import calibration_examples, convert, size_breakdown
    from kerastricks.compress.workflow import measure_litert
    from kerastricks.pruning import sparsity_summary, strip_pruning
    from kerastricks.recipes import load_recipe

    register_all()
    recipe = load_recipe(run / "recipe.toml")
    dataset = load_recipe_dataset(recipe)
    x_test, y_test = np.asarray(dataset.x_test, np.float32), np.asarray(dataset.y_test).reshape(-1)
    model = strip_pruning(keras.saving.load_model(run / "model.keras", compile=False))
    out = {"sparsity": sparsity_summary(model)["overall"], "x_test": x_test}
    modes = {"float32": None}
    if int8:
        modes["int8"] = calibration_examples(dataset.x_train, calibration, int(recipe.train.seed))
    for mode, calib in modes.items():
        data = convert(model, "none" if mode == "float32" else "int8", calib)
        row, _ = measure_litert(data, x_test, y_test, latency_examples=1, repeats=1)  # latency: below
        out[mode] = {"accuracy": row["accuracy"], "size_bytes": row["size_bytes"],
                     "size_gzip_bytes": row["size_gzip_bytes"], "data": data, "breakdown": size_breakdown(data)}
    if sparse_encoding:
        out["int8 sparse-encoded"] = sparse_encoded(model, modes["int8"], x_test, y_test)
    return out


def sparse_encoded(model, calib, x_test, y_test) -> dict:
    """The int8 file with the converter's own sparse tensor encoding (``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``:
    sparse weights stored as values + indices, densified at load time): size, and accuracy if it runs."""
    import tensorflow as tf

    from kerastricks.compress import gzip_size
    from kerastricks.compress.litert import converter_options
    from kerastricks.compress.workflow import measure_litert

    options = converter_options("int8", calib)
    options["optimizations"] = [tf.lite.Optimize.DEFAULT, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    with tempfile.TemporaryDirectory() as tmp:
        model.export(f"{tmp}/model.tflite", format="litert", verbose=False, **options)
        data = Path(f"{tmp}/model.tflite").read_bytes()
    try:
        accuracy = measure_litert(data, x_test, y_test, latency_examples=1, repeats=1)[0]["accuracy"]
    except RuntimeError as exc:  # the interpreter may refuse a sparse tensor (XNNPACK)
        accuracy = f"does not run: {str(exc).splitlines()[0][:80]}"
    return {"accuracy": accuracy, "size_bytes": len(data), "size_gzip_bytes": gzip_size(data)}


def time_interleaved(models: dict[tuple[int, str], bytes], x, repeats: int) -> dict[tuple[int, str], list[float]]:
    """Per model, one batch-1 time (ms, the median call over the rows of ``x``) per repetition.

    Interleaved at the finest grain: for every example, every model runs once, in an order that rotates from
    example to example (and reverses every other repetition), so a burst of load from other processes falls on
    all models alike."""
    from kerastricks.compress import LiteRTModel

    runners = {key: LiteRTModel(data) for key, data in models.items()}
    for runner in runners.values():  # warm-up
        runner.run_one(x[0])
    keys = list(runners)
    times: dict[tuple[int, str], list[float]] = {key: [] for key in keys}
    clock = time.perf_counter
    for rep in range(repeats):
        calls: dict[tuple[int, str], list[float]] = {key: [] for key in keys}
        for i, row in enumerate(x):
            shift = (i + rep) % len(keys)
            order = keys[shift:] + keys[:shift]
            for key in order[::-1] if rep % 2 else order:
                begin = clock()
                runners[key].run_one(row)
                calls[key].append(clock() - begin)
        for key in keys:  # the median call: a call the scheduler pre-empted (load) does not count
            times[key].append(median(calls[key]) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's (15); --quick: 2")
    parser.add_argument("--calibration", type=int, default=None, help="int8 calibration examples (default 1000)")
    parser.add_argument("--keep", help="keep the run directories here (finished runs found there are reused)")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run at once")
    parser.add_argument("--repeats", type=int, default=None, help="timing repetitions (default 15; --quick: 5)")
    parser.add_argument("--latency-examples", type=int, default=None, help="test examples per timing pass "
                                                                            "(default 200; --quick: 100)")
    args = parser.parse_args()
    seeds = args.seeds or (1 if args.quick else 3)
    epochs = args.epochs or (2 if args.quick else None)
    repeats = args.repeats or (5 if args.quick else 15)
    n_latency = args.latency_examples or (100 if args.quick else 200)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kt-compression-"))
    root.mkdir(parents=True, exist_ok=True)
    sparsities = (0.8,) if args.quick else SPARSITIES
    variants = [("dense", None)] + [(f"pruned{round(s * 100)}", s) for s in sparsities]

    for i, seed in enumerate(range(seeds)):
        pending = []
        for name, sparsity in (variants if i % 2 == 0 else variants[::-1]):  # interleaved: A B C D, D C B A
            print(f"seed {seed}: training {name} ...", flush=True)
            proc = train(root, name, seed, epochs, sparsity)
            if proc is not None:
                pending.append(proc)
            if len(pending) >= args.jobs:
                wait(pending.pop(0))
        for proc in pending:
            wait(proc)

    exports: dict[tuple[int, str], dict] = {}
    x_latency = None
    for seed in range(seeds):
        for name, _ in variants:
            print(f"seed {seed}: exporting {name} ...", flush=True)
            exports[seed, name] = export(root / f"{name}-seed{seed}", name in INT8_OF, args.calibration,
                                         sparse_encoding=name == "pruned80")
            if x_latency is None:
                x_latency = exports[seed, name]["x_test"][:n_latency]

    models = {(seed, f"{name} {mode}"): e[mode]["data"] for (seed, name), e in exports.items()
              for mode in ("float32", "int8") if mode in e}
    print(f"timing {len(models)} LiteRT models, {repeats} interleaved repetitions over {len(x_latency)} examples "
          "...", flush=True)
    times = time_interleaved(models, x_latency, repeats)

    rows: dict[str, dict[str, list[float]]] = {}
    for (seed, key), _ in models.items():
        name, mode = key.split()
        entry, base = exports[seed, name][mode], exports[seed, "dense"]["float32"]
        base_times = times[seed, "dense float32"]
        row = rows.setdefault(key, {k: [] for k in ("accuracy", "gzip_ratio", "latency_ratio", "gzip_bytes",
                                                   "latency_ms", "sparsity")})
        row["accuracy"].append(entry["accuracy"])
        row["gzip_ratio"].append(entry["size_gzip_bytes"] / base["size_gzip_bytes"])
        row["gzip_bytes"].append(entry["size_gzip_bytes"])
        row["latency_ratio"].append(median([t / b for t, b in zip(times[seed, key], base_times)]))
        row["latency_ms"].append(median(times[seed, key]))
        row["sparsity"].append(exports[seed, name]["sparsity"])

    order = ["dense float32", "dense int8", "pruned50 float32", "pruned80 float32", "pruned80 int8",
             "pruned90 float32", "pruned90 int8"]
    dense_acc = median(rows["dense float32"]["accuracy"])
    result: dict = {"seeds": seeds, "epochs": epochs or "recipe", "quick": args.quick, "repeats": repeats,
                    "latency_examples": len(x_latency), "load_average": [round(v, 2) for v in os.getloadavg()]}
    table_rows = []
    for key in [k for k in order if k in rows]:
        row = rows[key]
        acc = median(row["accuracy"])
        result[key.replace(" ", "_")] = {
            "accuracy": acc, "accuracy_points_vs_dense": round(100 * (acc - dense_acc), 3),
            "accuracy_per_seed": row["accuracy"], "gzip_ratio": round(median(row["gzip_ratio"]), 4),
            "gzip_ratio_per_seed": [round(v, 4) for v in row["gzip_ratio"]], "gzip_bytes": median(row["gzip_bytes"]),
            "latency_ratio": round(median(row["latency_ratio"]), 3), "latency_ms": round(median(row["latency_ms"]), 4),
            "sparsity": round(median(row["sparsity"]), 4)}
        table_rows.append([key, acc, f"{100 * (acc - dense_acc):+.2f}", median(row["gzip_bytes"]),
                           f"{median(row['gzip_ratio']):.4f}", f"{median(row['latency_ratio']):.3f}",
                           f"{median(row['latency_ms']):.4f}"])
    print()
    print(f"MNIST-1D default recipe, {epochs or 'the recipe’s'} epochs, median of {seeds} seed(s); ratios against the "
          f"dense float32 LiteRT model of the same seed; latency: {repeats} interleaved repetitions, "
          f"{len(x_latency)} examples, batch 1, one thread")
    print(table(["model", "test accuracy", "points vs dense", "gzip bytes", "gzip ratio", "latency ratio",
                 "latency ms"], table_rows))

    # where the bytes of the pruned-80% int8 file go (seed 0), against the float baseline's gzip size
    from kerastricks.compress import format_breakdown

    base_gzip = exports[0, "dense"]["float32"]["size_gzip_bytes"]
    breakdown = exports[0, "pruned80"]["int8"]["breakdown"]
    print()
    print("pruned80 int8 (seed 0): where the bytes go; gzip parts are what zeroing each in turn saves")
    print(format_breakdown(breakdown, base_gzip))
    weights = breakdown["weights"]
    print(f"weight tensors: {sum(w['gzip_bytes'] for w in weights):,} gzip bytes compressed one by one, "
          f"{sum(w['entropy_bytes'] for w in weights):,.0f} bytes of order-0 entropy")
    result["pruned80_int8_breakdown_seed0"] = {
        "baseline_gzip_bytes": base_gzip, "parts": breakdown["parts"],
        "weights_entropy_bytes": round(sum(w["entropy_bytes"] for w in weights)),
        "weights": [{k: w[k] for k in ("shape", "zeros", "bytes", "gzip_bytes", "entropy_bytes")} for w in weights]}
    sparse = [exports[seed, "pruned80"]["int8 sparse-encoded"] for seed in range(seeds)]
    ratios = [e["size_gzip_bytes"] / exports[seed, "dense"]["float32"]["size_gzip_bytes"]
              for seed, e in enumerate(sparse)]
    sparse_bytes = median([e["size_bytes"] for e in sparse])
    print(f"pruned80 int8 with the converter's sparse encoding (EXPERIMENTAL_SPARSITY): {sparse_bytes:,.0f} bytes, "
          f"gzip {median(ratios):.4f}x (plain: {result['pruned80_int8']['gzip_ratio']:.4f}x); accuracy per seed "
          f"{[e['accuracy'] for e in sparse]}")
    result["pruned80_int8_sparse_encoded"] = {"size_bytes": sparse_bytes,
                                              "gzip_ratio": round(median(ratios), 4),
                                              "accuracy_per_seed": [e["accuracy"] for e in sparse]}
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
