"""Data echoing on an input-bound MNIST-1D run: echo factor 2 vs none, placement and level.

Setup: MNIST-1D with on-the-fly ``mnist1d`` augmentation (the upstream stage)
and the paper's small CNN (``mnist1d_cnn``, the training step), one core for
each (``data.threads = 1``, ``train.threads = 1``: the host/accelerator split
of the paper's setting). First, in one child process, the upstream time per
batch (the augmented training pipeline alone, consumed by ``Dataset.reduce``
so no Python iteration cost is counted) and the training step time per batch
(``model.fit`` on pre-made, already augmented batches) are measured; the
setup counts as input-bound when upstream >= 2x step. Then every variant
trains in its own fresh process, interleaved (A B C D, D C B A, ...), until
the target validation accuracy (``train.target.stop``), within the same
budget of fresh examples (echo factor e gets e times the epochs).
Reported per variant: throughput (examples trained per second), epochs and
fresh examples to target, wall time to target and test accuracy (medians
over seeds); ratios against ``none`` are medians of per-seed ratios.

    PYTHONPATH=src python benchmarks/data_echoing.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median, run_child, table

BATCH = 32
SPE = 8  # steps_per_execution, as in the mnist1d preset
# One core for the input pipeline, one for the training step (the host/accelerator split of the
# paper's setting, on this 2-core machine): without it both stages share the cores and echoing
# trades pipeline work for step work instead of hiding it.
PIPELINE_THREADS = 1
# 15,000 MNIST-1D sequences (10,800 to train on): epochs long enough that start-up (tracing, the
# first shuffle) is a small part of the time to target, as in the large-data runs echoing is for.
NUM_SAMPLES = 15000
VARIANTS = {
    "none": {},
    "echo2_example_after_aug": {"factor": 2.0, "level": "example", "placement": "after_augmentation"},
    "echo2_example_before_aug": {"factor": 2.0, "level": "example", "placement": "before_augmentation"},
    "echo2_batch": {"factor": 2.0, "level": "batch", "placement": "after_augmentation"},
}


def recipe(echo: dict, epochs: int, target: float, seed: int) -> dict:
    techniques = {"data_echoing": echo} if echo else {}
    return {
        "name": "echo-bench",
        "data": {"name": "mnist1d", "validation_split": 0.1, "augment": "mnist1d", "threads": PIPELINE_THREADS,
                 "num_samples": NUM_SAMPLES},
        "model": {"name": "mnist1d_cnn"},
        "optimizer": {"name": "adam", "learning_rate": 0.003},
        "train": {"epochs": epochs, "batch_size": BATCH, "seed": seed, "threads": 1, "monitor": "last",
                  "steps_per_execution": SPE,
                  "target": {"metric": "val_accuracy", "value": target, "stop": True}, "tensorboard": False,
                  "plots": False},
        "techniques": techniques,
    }


def child_measure() -> dict:
    """Upstream seconds per batch vs training-step seconds per batch, same process."""
    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from kerastricks.data import build_augmentation, make_tf_dataset
    from kerastricks.models import build_model
    from kerastricks.recipes import recipe_from_dict
    from kerastricks.train import load_recipe_dataset

    data = load_recipe_dataset(recipe_from_dict(recipe({}, 1, 0.9, 0)))
    ds = make_tf_dataset(data.x_train, data.y_train, batch_size=BATCH, shuffle=True, seed=0,
                         augment=build_augmentation("mnist1d"), threads=PIPELINE_THREADS)
    n_batches = len(data.x_train) // BATCH
    # upstream alone, consumed inside the tf.data runtime (no Python iteration cost per batch)
    ds.reduce(0, lambda count, batch: count + 1)
    t0 = time.perf_counter()
    total = int(ds.reduce(0, lambda count, batch: count + 1))
    upstream = (time.perf_counter() - t0) / total
    batches = list(ds.take(n_batches))

    model = build_model("mnist1d_cnn", input_shape=data.input_shape, num_outputs=data.output_dim)
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  steps_per_execution=SPE)
    # the training step as fit runs it, on pre-made (already augmented) batches: no upstream work
    made = tf.data.Dataset.from_tensor_slices((np.concatenate([b[0] for b in batches]),
                                               np.concatenate([b[1] for b in batches]))).batch(BATCH).cache()
    model.fit(made, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(made, epochs=2, verbose=0)
    step = (time.perf_counter() - t0) / (2 * n_batches)
    return {"upstream_s_per_batch": upstream, "step_s_per_batch": step, "ratio": upstream / step,
            "batches": n_batches}


def child_train(variant: str, epochs: int, target: float, seed: int) -> dict:
    from kerastricks.recipes import recipe_from_dict
    from kerastricks.train import Trainer

    # the same budget of fresh (upstream) examples for every variant: echo factor e gets e x the epochs
    budget = int(round(epochs * VARIANTS[variant].get("factor", 1.0)))
    r = recipe_from_dict(recipe(VARIANTS[variant], budget, target, seed), source=f"{variant}.toml")
    rep = Trainer(r, write=False, verbose=0).fit().report
    return {k: rep[k] for k in ("examples_per_s", "examples_fresh_to_target", "time_to_target_s",
                                "examples_trained", "examples_fresh", "fit_time_s", "epochs_to_target")} | {
        "test_accuracy": rep["test"]["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 variants, 1 seed, fewer epochs (< 3 min)")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        if args.child[0] == "measure":
            emit(child_measure())
        else:
            emit(child_train(args.child[0], int(args.child[1]), float(args.child[2]), int(args.child[3])))
        return

    script = Path(__file__).resolve()
    variants = ["none", "echo2_example_after_aug"] if args.quick else list(VARIANTS)
    seeds = [0] if args.quick else [0, 1, 2]
    epochs, target = (5, 0.80) if args.quick else (16, 0.85)
    measure = run_child(script, ["--child", "measure"])
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for i, seed in enumerate(seeds):
        for v in (variants if i % 2 == 0 else variants[::-1]):
            results[v].append(run_child(script, ["--child", v, str(epochs), str(target), str(seed)]))

    def med(v: str, key: str):
        vals = [r[key] for r in results[v] if r[key] is not None]
        return median(vals) if len(vals) == len(results[v]) else None

    def per_seed(v: str, key: str) -> list:
        """This variant's value over the baseline's, seed by seed (None where either is missing)."""
        return [None if r[key] is None or b[key] is None else r[key] / b[key]
                for r, b in zip(results[v], results["none"])]

    def paired(v: str, key: str):
        """Median of the per-seed ratios (None if a seed has none)."""
        ratios = per_seed(v, key)
        return None if None in ratios else median(ratios)

    rows, summary = [], {}
    for v in variants:
        s = {
            "examples_per_s": med(v, "examples_per_s"), "time_to_target_s": med(v, "time_to_target_s"),
            "fresh_to_target": med(v, "examples_fresh_to_target"), "test_accuracy": med(v, "test_accuracy"),
            "epochs_to_target": med(v, "epochs_to_target"),
            "throughput_ratio": paired(v, "examples_per_s"),
            "time_to_target_ratio": paired(v, "time_to_target_s"),
            "fresh_to_target_ratio": paired(v, "examples_fresh_to_target"),
            "time_to_target_ratio_per_seed": [None if x is None else round(x, 3)
                                              for x in per_seed(v, "time_to_target_s")],
        }
        summary[v] = s
        rows.append([v, s["examples_per_s"], s["throughput_ratio"], s["epochs_to_target"], s["fresh_to_target"],
                     s["fresh_to_target_ratio"], s["time_to_target_s"], s["time_to_target_ratio"],
                     " ".join(str(x) for x in s["time_to_target_ratio_per_seed"]), s["test_accuracy"]])
    print(f"input-bound check (one process, batch {BATCH}, 1 thread): upstream (augmented pipeline alone, "
          "Dataset.reduce) "
          f"{measure['upstream_s_per_batch'] * 1e3:.2f} ms/batch vs training step (fit on pre-made batches) "
          f"{measure['step_s_per_batch'] * 1e3:.2f} ms/batch: ratio {measure['ratio']:.2f}")
    print(f"target val_accuracy {target} (training stops there), budget {epochs} epochs of fresh examples "
          f"({epochs} epochs without echoing, {epochs} x factor with it), seeds {seeds}:")
    print(table(["variant", "ex/s", "x", "epochs to target", "fresh to target", "x", "time to target s", "x",
                 "x per seed", "test acc"], rows))
    print("x: median over seeds of the per-seed ratio to 'none' (same seed); other columns: medians")
    main_v = "echo2_example_after_aug"
    emit_line = {"benchmark": "data_echoing", "quick": args.quick, "target": target, "seeds": seeds,
                 "upstream_over_step": measure["ratio"], "upstream_ms_per_batch": measure["upstream_s_per_batch"] * 1e3,
                 "step_ms_per_batch": measure["step_s_per_batch"] * 1e3,
                 "throughput_ratio": summary[main_v]["throughput_ratio"],
                 "time_to_target_ratio": summary[main_v]["time_to_target_ratio"],
                 "fresh_to_target_ratio": summary[main_v]["fresh_to_target_ratio"], "variants": summary}
    print(json.dumps(emit_line))


if __name__ == "__main__":
    main()
