"""Training step time of SM3, Adafactor and AGC(Adam) against Keras's Adam.

Each measurement is a fresh process that compiles a 3x1024 MLP (batch 128)
with one optimizer, warms up, then times ``--windows`` windows of
``--steps`` training steps (``model.fit`` on a repeated in-memory batch,
``steps_per_execution`` 1) and reports the median seconds per step.
Optimizers are interleaved (adam, sm3, adafactor, agc_adam, adam, ...) over
``--reps`` repetitions; each ratio is an optimizer's median step time over
Adam's in the same repetition, and the figure is the median of those ratios.

    python benchmarks/optimizer_speed.py [--quick] [--reps 5]

Last line: JSON ``{"sm3_step_ratio": ..., "adafactor_step_ratio": ...,
"agc_adam_step_ratio": ..., "adam_step_ms": ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median, run_child, table

OPTIMIZERS = ("adam", "sm3", "adafactor", "agc_adam")


def make_optimizer(name: str):
    import keras

    from kerastricks.optimizers import AGC, SM3, Adafactor

    if name == "adam":
        return keras.optimizers.Adam(1e-3)
    if name == "sm3":
        return SM3(0.1)
    if name == "adafactor":
        return Adafactor()
    return AGC(keras.optimizers.Adam(1e-3), clipping=0.01, exclude=["^logits/"])


def child(args) -> None:
    import keras
    import numpy as np
    import tensorflow as tf
    from optimizer_memory import mlp_3x1024

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(0)
    model = mlp_3x1024()
    model.compile(make_optimizer(args.optimizer),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 1024)).astype("float32")
    y = rng.integers(0, 10, size=(128,)).astype("int32")
    ds = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(4)
    model.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0)  # trace, build, warm caches
    times = []
    for _ in range(args.windows):
        t0 = time.perf_counter()
        model.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0)
        times.append((time.perf_counter() - t0) / args.steps)
    emit({"step_s": median(times)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions of shorter windows")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--optimizer", choices=OPTIMIZERS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    reps = args.reps or (3 if args.quick else 5)
    steps = args.steps or (20 if args.quick else 40)
    script = Path(__file__).resolve()
    per_rep: list[dict[str, float]] = []
    for rep in range(reps):
        times = {}
        for name in OPTIMIZERS:
            out = run_child(script, ["--child", "--optimizer", name, "--steps", str(steps),
                                     "--windows", str(args.windows), "--threads", str(args.threads)])
            times[name] = out["step_s"]
        per_rep.append(times)
        print(f"rep {rep + 1}/{reps}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in times.items()), flush=True)
    rows = []
    result: dict[str, float] = {}
    for name in OPTIMIZERS:
        ms = [r[name] * 1e3 for r in per_rep]
        ratios = [r[name] / r["adam"] for r in per_rep]
        rows.append((name, median(ms), min(ratios), median(ratios), max(ratios)))
        if name != "adam":
            result[f"{name}_step_ratio"] = round(median(ratios), 4)
    result["adam_step_ms"] = round(median([r["adam"] * 1e3 for r in per_rep]), 3)
    result["reps"] = reps
    print(table(["optimizer", "median ms/step", "min ratio", "median ratio", "max ratio"], rows))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
