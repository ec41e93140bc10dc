"""Structural re-parameterization: deploy-model latency and training-time cost of ACNet/RepVGG blocks.

Three forms of one VGG-style CNN (``cnn2d``, 32x32x3 input, widths 32/64/128, two 3x3 convs per stage):

- training form: ``conv="acb"`` (or ``"repvgg"``) blocks, each followed by BN;
- deploy form: ``kerastricks.layers.reparameterize`` of the training form (plain Conv2D + bias;
  the folded BNs are Identity layers);
- plain: the same architecture built directly from plain Conv2D with bias (``conv="plain", norm="none"``).

Inference latency of deploy vs plain (``latency_ratio``, expected ~1.0) and of the un-fused
training form vs plain, and the training-step time of the ACNet and RepVGG forms vs plain
Conv2D + BN (``train_step_ratio``, ``repvgg_train_step_ratio``). All in one process, after
warm-up, interleaved (A B C, then C B A, ...), each repetition timing several calls; the
medians of per-repetition times are compared. Also the deploy form's max relative output
difference from the training form (inference mode, random BN statistics).

    python benchmarks/reparameterize.py [--quick] [--reps 15] [--batch 64] [--threads 1]

Last line: JSON with ``latency_ratio``, ``train_step_ratio`` and the raw medians.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, table


def build(conv: str, norm: str):
    from kerastricks.models import build_model

    return build_model("cnn2d", input_shape=(32, 32, 3), num_outputs=10,
                       options={"conv": conv, "norm": norm, "width": 32, "depth": 3})


def randomize_norms(model, rng) -> None:
    import keras

    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, c), rng.normal(size=c) * 0.1, rng.normal(size=c) * 0.1,
                               rng.uniform(0.5, 2, c)])


def interleaved(fns: dict, reps: int, calls: int) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternating order."""
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            for _ in range(calls):
                fns[name]()
            times[name].append((time.perf_counter() - t0) / calls)
    return {n: median(v) for n, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under a minute)")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads (0: default); 1 is steadier "
                        "on a shared machine")
    args = parser.parse_args()
    import numpy as np
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    from kerastricks.layers import reparameterize

    reps = args.reps or (5 if args.quick else 15)
    calls = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    x = rng.normal(size=(args.batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=args.batch)

    acnet = build("acb", "batch")
    randomize_norms(acnet, rng)
    deploy = reparameterize(acnet)
    plain = build("plain", "none")
    want = acnet(x, training=False).numpy()
    max_rel = float(np.max(np.abs(deploy(x).numpy() - want)) / np.max(np.abs(want)))

    def infer(model):
        fn = tf.function(lambda t: model(t, training=False))
        fn(x)  # trace and warm up
        return lambda: fn(x).numpy()

    latency = interleaved({"plain": infer(plain), "deploy": infer(deploy), "acnet": infer(acnet)}, reps, calls)

    def trainer(model):
        model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(x, y)
        return lambda: model.train_on_batch(x, y)

    train_models = {"plain_bn": build("plain", "batch"), "acnet": build("acb", "batch"),
                    "repvgg": build("repvgg", "batch")}
    steps = interleaved({n: trainer(m) for n, m in train_models.items()}, reps, calls)

    result = {
        "latency_ratio": latency["deploy"] / latency["plain"],
        "acnet_unfused_latency_ratio": latency["acnet"] / latency["plain"],
        "train_step_ratio": steps["acnet"] / steps["plain_bn"],
        "repvgg_train_step_ratio": steps["repvgg"] / steps["plain_bn"],
        "latency_ms": {k: v * 1e3 for k, v in latency.items()},
        "train_step_ms": {k: v * 1e3 for k, v in steps.items()},
        "params": {"acnet": acnet.count_params(), "deploy": deploy.count_params(), "plain": plain.count_params(),
                   "repvgg": train_models["repvgg"].count_params()},
        "deploy_max_rel_diff": max_rel,
        "batch": args.batch, "reps": reps, "calls_per_rep": calls, "threads": args.threads,
    }
    print(table([f"inference (batch {args.batch})", "median ms", "ratio vs plain", "params"], [
        ["plain Conv2D", latency["plain"] * 1e3, 1.0, plain.count_params()],
        ["deploy (reparameterized ACNet)", latency["deploy"] * 1e3, result["latency_ratio"], deploy.count_params()],
        ["ACNet training form", latency["acnet"] * 1e3, result["acnet_unfused_latency_ratio"], acnet.count_params()],
    ]))
    print()
    print(table(["train step", "median ms", "ratio vs plain+BN"], [
        ["plain Conv2D + BN", steps["plain_bn"] * 1e3, 1.0],
        ["ACNet blocks + BN", steps["acnet"] * 1e3, result["train_step_ratio"]],
        ["RepVGG blocks + BN", steps["repvgg"] * 1e3, result["repvgg_train_step_ratio"]],
    ]))
    print(f"\ndeploy vs training form, inference mode: max relative difference {max_rel:.2e}")
    import json

    print(json.dumps(result))


if __name__ == "__main__":
    main()
