"""Mixed precision and XLA: 2-D CNN training throughput, float32 vs mixed_bfloat16, XLA off/on.

Throughput: the zoo ``cnn2d`` (width 16, 3 stages) on random 32x32x3 inputs,
batch 64, ``model.fit`` over fixed batches after an untimed step (tracing),
timed for >= 5 s (2 s with ``--quick``); each
(precision, jit) variant in its own fresh process, interleaved
(A B C D, D C B A, ...), median examples/s, ratios against float32 without
XLA. Accuracy: the same architecture trained briefly on the digits data set
(native 8x8; 20 epochs, 8 with ``--quick``) under float32 and under
mixed_bfloat16, XLA on for both (emulated bf16 is ~5x faster fused; the
comparison is of numerics), the same seeds (3; 1 with ``--quick``): test
accuracies and the median per-seed difference in points.
Also prints what ``precision = "auto"`` picks on this machine and why.

    PYTHONPATH=src python benchmarks/mixed_precision.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median, run_child, table

BATCH = 64
VARIANTS = {
    "float32": ("float32", False),
    "mixed_bfloat16": ("mixed_bfloat16", False),
    "float32+xla": ("float32", True),
    "mixed_bfloat16+xla": ("mixed_bfloat16", True),
}


def child_speed(policy: str, jit: bool, steps: int, min_seconds: float) -> dict:
    import keras
    import numpy as np

    from kerastricks.models import build_model

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = build_model("cnn2d", input_shape=(32, 32, 3), num_outputs=10, options={"width": 16, "depth": 3})
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=jit,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * steps, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, BATCH * steps)
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)  # trace + one step, untimed
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)  # a rate to size the timed run
    rate = BATCH * steps / (time.perf_counter() - t0)
    # the timed run lasts >= min_seconds (a few steps of a fast variant are mostly noise)
    epochs = max(1, math.ceil(min_seconds * rate / (BATCH * steps)))
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False)
    return {"examples_per_s": BATCH * steps * epochs / (time.perf_counter() - t0), "timed_steps": steps * epochs}


def child_accuracy(policy: str, epochs: int, scale: int, seed: int) -> dict:
    import keras
    import numpy as np

    from kerastricks.data import load_dataset
    from kerastricks.models import build_model

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(seed)
    data = load_dataset("digits", validation_split=0.0, seed=0)  # the same split for every run

    def up(x):
        return np.kron(x.reshape(len(x), 8, 8, 1), np.ones((1, scale, scale, 1), dtype=x.dtype)).astype("float32")

    side = 8 * scale
    model = build_model("cnn2d", input_shape=(side, side, 1), num_outputs=10, options={"width": 16, "depth": 3})
    # XLA for both policies: emulated bf16 runs ~5x faster fused, and the comparison is of numerics
    model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"], jit_compile=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(up(data.x_train), data.y_train, batch_size=BATCH, epochs=epochs, verbose=0)
    _, acc = model.evaluate(up(data.x_test), data.y_test, verbose=0)
    return {"test_accuracy": float(acc), "logits_dtype": model.get_layer("logits").compute_dtype,
            "test_examples": int(len(data.x_test))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, fewer steps and epochs (< 3 min)")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        if args.child[0] == "speed":
            emit(child_speed(args.child[1], args.child[2] == "1", int(args.child[3]), float(args.child[4])))
        else:
            emit(child_accuracy(args.child[1], int(args.child[2]), int(args.child[3]), int(args.child[4])))
        return

    from kerastricks.train import cpu_flags, resolve_jit, resolve_precision

    script = Path(__file__).resolve()
    # accuracy: native 8x8 digits, long enough for BatchNorm's moving statistics to settle
    # (6 epochs of 23 steps left one float32 seed and one bf16 seed at ~34 % test accuracy)
    reps, steps, epochs, scale = (1, 2, 8, 1) if args.quick else (3, 6, 20, 1)
    min_seconds = 2.0 if args.quick else 5.0
    acc_seeds = [0] if args.quick else [0, 1, 2]
    speed: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for rep in range(reps):
        for v in (list(VARIANTS) if rep % 2 == 0 else list(VARIANTS)[::-1]):
            policy, jit = VARIANTS[v]
            speed[v].append(run_child(script, ["--child", "speed", policy, "1" if jit else "0", str(steps),
                                               str(min_seconds)])
                            ["examples_per_s"])
    runs = {p: [] for p in ("float32", "mixed_bfloat16")}
    for i, seed in enumerate(acc_seeds):
        for p in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
            runs[p].append(run_child(script, ["--child", "accuracy", p, str(epochs), str(scale), str(seed)]))
    acc = {p: {"test_accuracy": median([r["test_accuracy"] for r in rs]), "runs": [r["test_accuracy"] for r in rs],
               "test_examples": rs[0]["test_examples"], "logits_dtype": rs[0]["logits_dtype"]}
           for p, rs in runs.items()}
    base = median(speed["float32"])
    rows, summary = [], {}
    for v in VARIANTS:
        eps = median(speed[v])
        summary[v] = {"examples_per_s": eps, "throughput_ratio": eps / base, "runs": speed[v]}
        rows.append([v, eps, eps / base])
    auto = resolve_precision("auto")
    flags = sorted(f for f in cpu_flags() if "avx" in f or "amx" in f or "bf16" in f)
    print(f"cnn2d (width 16, 3 stages), 32x32x3, batch {BATCH}, >= {min_seconds:g} s timed per run, {reps} interleaved "
          f"repetitions, medians. CPU flags: {' '.join(flags) or 'none'}")
    print(table(["variant", "examples/s", "x float32"], rows))
    deltas = [100 * (b - f) for b, f in zip(acc["mixed_bfloat16"]["runs"], acc["float32"]["runs"])]
    delta = median(deltas)
    print(f"digits {8 * scale}x{8 * scale}, {epochs} epochs (XLA on for both), seeds {acc_seeds}, "
          f"{acc['float32']['test_examples']} test examples (one = {100 / acc['float32']['test_examples']:.2f} "
          f"points): float32 {' '.join(f'{a:.4f}' for a in acc['float32']['runs'])}, mixed_bfloat16 "
          f"{' '.join(f'{a:.4f}' for a in acc['mixed_bfloat16']['runs'])}; bf16 - float32 per seed "
          f"{' '.join(f'{d:+.2f}' for d in deltas)} points, median {delta:+.2f}; "
          f"logits dtype under bf16: {acc['mixed_bfloat16']['logits_dtype']}")
    print(f"precision = 'auto' here: {auto[0]} ({auto[1]}); jit_compile = 'auto': {resolve_jit('auto')}")
    print(json.dumps({
        "benchmark": "mixed_precision", "quick": args.quick, "throughput_ratio":
            summary["mixed_bfloat16"]["throughput_ratio"],
        "xla_ratio_float32": summary["float32+xla"]["throughput_ratio"],
        "xla_ratio_bfloat16": summary["mixed_bfloat16+xla"]["throughput_ratio"] /
            summary["mixed_bfloat16"]["throughput_ratio"],
        "accuracy_float32": acc["float32"]["test_accuracy"],
        "accuracy_bfloat16": acc["mixed_bfloat16"]["test_accuracy"], "accuracy_delta_points": delta,
        "auto_policy": auto[0], "auto_reason": auto[1], "cpu_flags": flags, "variants": summary,
    }))


if __name__ == "__main__":
    main()
