"""Data echoing on an input-bound MNIST-1D run: echo factor 2 vs none, placement and level.

Setup: MNIST-1D with on-the-fly ``mnist1d`` augmentation (the upstream stage)
and the paper's small CNN (``mnist1d_cnn``, the training step). First, in one
child process, the upstream time per batch (the augmented training pipeline
alone, consumed by ``Dataset.reduce`` so no Python iteration cost is
counted) and the training step time per batch (``model.fit`` on pre-made,
already augmented batches) are measured; the setup counts as input-bound
when upstream >= 2x step. Then every variant trains in its own fresh process,
interleaved (A B C D, D C B A, ...), to the target validation accuracy.
Reported per variant (median over seeds): throughput (examples trained per
second), fresh examples to target, wall time to target and test accuracy;
ratios against ``none``.

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
        "data": {"name": "mnist1d", "validation_split": 0.1, "augment": "mnist1d", "threads": PIPELINE_THREADS},
        "model": {"name": "mnist1d_cnn"},
        "optimizer": {"name": "adam", "learning_rate": 0.003},
        "train": {"epochs": epochs, "batch_size": BATCH, "seed": seed, "threads": 1, "monitor": "last",
                  "steps_per_execution": SPE,
                  "target": {"metric": "val_accuracy", "value": target}, "tensorboard": False, "plots": False},
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

    r = recipe_from_dict(recipe(VARIANTS[variant], epochs, target, seed), source=f"{variant}.toml")
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
    epochs, target = (6, 0.65) if args.quick else (16, 0.80)
    measure = run_child(script, ["--child", "measure"])
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for i, seed in enumerate(seeds):
        for v in (variants if i % 2 == 0 else variants[::-1]):
            results[v].append(run_child(script, ["--child", v, str(epochs), str(target), str(seed)]))

    def med(v: str, key: str):
        vals = [r[key] for r in results[v] if r[key] is not None]
        return median(vals) if len(vals) == len(results[v]) else None

    base = {k: med("none", k) for k in ("examples_per_s", "time_to_target_s", "examples_fresh_to_target")}
    rows, summary = [], {}
    for v in variants:
        eps, ttt, fresh = med(v, "examples_per_s"), med(v, "time_to_target_s"), med(v, "examples_fresh_to_target")
        s = {
            "examples_per_s": eps, "time_to_target_s": ttt, "fresh_to_target": fresh,
            "test_accuracy": med(v, "test_accuracy"),
            "throughput_ratio": eps / base["examples_per_s"],
            "time_to_target_ratio": None if ttt is None or base["time_to_target_s"] is None
            else ttt / base["time_to_target_s"],
            "fresh_to_target_ratio": None if fresh is None or base["examples_fresh_to_target"] is None
            else fresh / base["examples_fresh_to_target"],
        }
        summary[v] = s
        rows.append([v, eps, s["throughput_ratio"], fresh, s["fresh_to_target_ratio"], ttt,
                     s["time_to_target_ratio"], s["test_accuracy"]])
    print(f"input-bound check (one process, batch {BATCH}, 1 thread): upstream (augmented pipeline alone, "
          "Dataset.reduce) "
          f"{measure['upstream_s_per_batch'] * 1e3:.2f} ms/batch vs training step (fit on pre-made batches) "
          f"{measure['step_s_per_batch'] * 1e3:.2f} ms/batch: ratio {measure['ratio']:.2f}")
    print(f"target val_accuracy {target}, {epochs} epochs max, seeds {seeds}, medians:")
    print(table(["variant", "ex/s", "x", "fresh to target", "x", "time to target s", "x", "test acc"], rows))
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
