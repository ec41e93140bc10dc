"""The Keras guide's transfer experiment on our data: B from scratch vs B on A, four ways.

Task A: 8 classes of a dataset (every class but a held-out pair), trained once per (dataset, pair)
with seed 0. Task B: the held-out pair as a binary task, 200 training examples (a stratified draw,
seeded), tested on every other example of the pair (test split plus the training examples the draw
left; balanced within a few examples). Variants, all 20 epochs of Adam at batch 32, the same
architecture (the zoo model the recipe names):

- ``scratch``: a fresh model, lr 1e-3 throughout;
- ``frozen4_unfrozen16``: A's layers + a new head; 4 epochs with A's layers frozen (head at 1e-3),
  then everything unfrozen at ``phase2_learning_rate = 3e-4`` (the guide's recipe);
- ``gradual``: as above, one more block from the top every epoch after the 4th (ULMFiT);
- ``discriminative``: as ``frozen4_unfrozen16`` with ``lr_mult = 10`` (lowest block at 3e-5);
- ``linear_probe``: A's layers frozen for all 20 epochs (only the head trains).

The variants run in-process with the workflow's own pieces (``plan_phases``, ``TransferPlan.
optimizer_for_rates``, ``TransferLearningRate``, ``MultiOptimizer``); the same path through
``kerastricks train`` (one run directory, phases, resume) is covered by ``tests/transfer/``.
Each variant is compiled once per (dataset, pair); every seed then starts it from fresh weights (A's
layers and a new head drawn with the seed, or a fresh scratch model) and the optimizer's initial state,
and shuffles with the seed. Figures are test errors, not times, so a loaded machine only slows the run
down.

    python benchmarks/transfer.py [--quick] [--seeds 10] [--datasets mnist1d,digits] [--pairs 8-9,3-5,1-7]

Reported per (dataset, pair, variant): median, min and max test error over seeds, and the median of
the per-seed error ratio vs scratch. Last line: JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

MODELS = {
    "mnist1d": ("cnn1d", {"width": 24, "depth": 4, "kernel_size": 5, "norm": "batch"}),
    "digits": ("cnn2d", {"width": 16, "depth": 2}),
}
DATA = {"mnist1d": {"num_samples": 10000}, "digits": {}}
VARIANTS = {
    "scratch": None,
    "frozen4_unfrozen16": {"freeze_epochs": 4, "unfreeze": "all", "lr_mult": 1.0},
    "gradual": {"freeze_epochs": 4, "unfreeze": "gradual", "unfreeze_every": 1, "lr_mult": 1.0},
    "discriminative": {"freeze_epochs": 4, "unfreeze": "all", "lr_mult": 10.0},
    "linear_probe": {"freeze_epochs": 20, "unfreeze": "all", "lr_mult": 1.0},
}
LR, PHASE2_LR, EPOCHS, BATCH, N_TRAIN = 1e-3, 3e-4, 20, 32, 200


def load(name: str):
    from kerastricks.data import load_dataset

    return load_dataset(name, DATA[name], validation_split=0.0, seed=0)


def task_a(ds, pair, epochs: int):
    """Train A on every class but ``pair`` (seed 0); returns the trained model."""
    import keras

    from kerastricks.data.subsets import select_classes
    from kerastricks.models import build_model

    keep = [c for c in range(ds.num_classes) if c not in pair]
    a = select_classes(ds, keep)
    keras.utils.set_random_seed(0)
    name, opts = MODELS[ds.name]
    model = build_model(name, input_shape=a.input_shape, num_outputs=len(keep), options=opts)
    model.compile(keras.optimizers.Adam(LR), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=False)
    model.fit(a.x_train, a.y_train, epochs=epochs, batch_size=128, verbose=0)
    acc = float(model.evaluate(a.x_test, a.y_test, verbose=0)[1])
    return model, acc


def task_b(ds, pair, seed: int):
    """B's 200 training examples (stratified, seeded) and its test set: every other example of the pair."""
    import numpy as np

    from kerastricks.data.subsets import select_classes, subsample_train

    b = select_classes(ds, list(pair))
    train = subsample_train(b, N_TRAIN, seed)
    used = {row.tobytes() for row in train.x_train}
    rest = np.array([i for i, row in enumerate(b.x_train) if row.tobytes() not in used])
    x_test = np.concatenate([b.x_test, b.x_train[rest]])
    y_test = np.concatenate([b.y_test, b.y_train[rest]])
    return train.x_train, train.y_train, x_test, y_test


def build_variant(variant: str, a_model_path: str, ds_name: str, input_shape, steps: int):
    """The variant's model, compiled once: ``(model, fresh_weights(seed), optimizer, callbacks)``.

    Seeds then reuse the compiled step: each starts from ``fresh_weights(seed)`` (A's layers and a new
    head drawn with the seed, or a fresh scratch model) and the optimizer's initial state, so every seed is
    a fresh run without tracing the step again (what makes 10 seeds affordable on a shared 2-core machine).
    """
    import keras

    from kerastricks.models import build_model
    from kerastricks.transfer import core
    from kerastricks.transfer.workflow import plan_phases

    settings = VARIANTS[variant]

    def make(seed: int):
        keras.utils.set_random_seed(seed)
        if settings is None:
            name, opts = MODELS[ds_name]
            return build_model(name, input_shape=input_shape, num_outputs=2, options=opts), None
        source = keras.models.load_model(a_model_path, compile=False)
        backbone = core.reuse(source)
        model = keras.Model(backbone.inputs, core.task_head(backbone.output, 2))
        groups = core.layer_groups(backbone)
        head = [layer.name for layer in model.layers if layer.name not in {n.name for n in backbone.layers}]
        plan = plan_phases(model, groups + [head], {"phase2_learning_rate": PHASE2_LR, "bn_frozen": True,
                                                     "unfreeze_every": 1, **settings}, EPOCHS)
        return model, plan

    model, plan = make(0)
    if plan is None:
        optimizer, callbacks = keras.optimizers.Adam(LR), []
    else:
        optimizer, _ = plan.optimizer_for_rates(model, keras.optimizers.Adam(LR), LR, PHASE2_LR, steps)
        callbacks = [plan.callback()]
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False,
                  steps_per_execution=steps)
    optimizer.build(model.trainable_variables)
    initial_optimizer = [keras.ops.convert_to_numpy(v).copy() for v in optimizer.variables]

    def reset(seed: int) -> None:
        fresh, _ = make(seed)
        model.set_weights(fresh.get_weights())
        for var, value in zip(optimizer.variables, initial_optimizer):
            var.assign(value)
        keras.utils.set_random_seed(seed)

    return model, reset, callbacks


def run_seed(built, data, seed: int) -> float:
    import keras
    import numpy as np

    model, reset, callbacks = built
    x, y, xt, yt = data
    reset(seed)
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=callbacks, shuffle=True)
    pred = np.argmax(keras.ops.convert_to_numpy(model(xt, training=False)), axis=1)
    return float(np.mean(pred != yt))


def summarize(results: list[dict], datasets: list[str], pairs: list[tuple[int, int]]) -> dict:
    """Print the table of ``results`` (one dict per run) and return its figures."""
    summary, rows = {}, []
    for ds_name in datasets:
        for pair in pairs:
            key = f"{pair[0]}-{pair[1]}"
            cell = [r for r in results if r["dataset"] == ds_name and r["pair"] == key]
            if not cell:
                continue
            scratch = {r["seed"]: r["test_error"] for r in cell if r["variant"] == "scratch"}
            scratch_median = statistics.median(scratch.values())
            for variant in VARIANTS:
                errs = [r["test_error"] for r in cell if r["variant"] == variant]
                ratios = [r["test_error"] / max(scratch[r["seed"]], 1e-9) for r in cell if r["variant"] == variant]
                fig = {"median_error": statistics.median(errs), "min_error": min(errs), "max_error": max(errs),
                       "median_ratio_vs_scratch": statistics.median(ratios),
                       "ratio_of_medians": statistics.median(errs) / max(scratch_median, 1e-9),
                       "min_ratio": min(ratios), "max_ratio": max(ratios), "seeds": len(errs),
                       "n_test": cell[0]["n_test"]}
                summary[f"{ds_name}:{key}:{variant}"] = fig
                rows.append([ds_name, key, variant, len(errs), fig["median_error"], fig["min_error"],
                             fig["max_error"], fig["median_ratio_vs_scratch"], fig["ratio_of_medians"]])
    print(table(["dataset", "pair", "variant", "seeds", "median err", "min", "max", "median of err/scratch",
                 "median err / scratch's"], rows))
    return summary


def parse_logs(paths: list[str]) -> list[dict]:
    """The runs printed by earlier invocations (their per-seed lines), for a run cut short or split."""
    import re

    line_re = re.compile(r"^\s+(\w+) pair \((\d+), (\d+)\) seed (\d+): (.*)$")
    results = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            m = line_re.match(line)
            if not m:
                continue
            ds, a, b, seed, rest = m.groups()
            for item in rest.split(", "):
                variant, err = item.rsplit(" ", 1)
                results.append({"dataset": ds, "pair": f"{a}-{b}", "seed": int(seed), "variant": variant,
                                "test_error": float(err), "n_test": None})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 pair, 3 seeds, mnist1d only, 5 epochs for A")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--datasets", default="mnist1d,digits")
    parser.add_argument("--pairs", default="8-9,3-5,1-7", help="held-out class pairs; the first gets --seeds, "
                        "the others --pair-seeds")
    parser.add_argument("--pair-seeds", type=int, default=3)
    parser.add_argument("--a-epochs", type=int, default=10)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--summarize", nargs="+", metavar="LOG", help="no training: the table and JSON of the "
                        "per-seed lines in these logs of earlier runs (three decimals)")
    args = parser.parse_args()
    if args.summarize:
        results = parse_logs(args.summarize)
        datasets = list(dict.fromkeys(r["dataset"] for r in results))
        pairs = [tuple(int(c) for c in p.split("-")) for p in dict.fromkeys(r["pair"] for r in results)]
        summary = summarize(results, datasets, pairs)
        print(json.dumps({"figures": summary, "from_logs": args.summarize}))
        return
    if args.quick:
        args.seeds, args.datasets, args.pairs, args.a_epochs = 3, "mnist1d", "8-9", 5
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tempfile

    import keras

    t0 = time.perf_counter()
    pairs = [tuple(int(c) for c in p.split("-")) for p in args.pairs.split(",")]
    results, a_acc = [], {}
    tmp = Path(tempfile.mkdtemp(prefix="kt-transfer-bench-"))
    for ds_name in args.datasets.split(","):
        ds = load(ds_name)
        for k, pair in enumerate(pairs):
            model, acc = task_a(ds, pair, args.a_epochs)
            a_acc[f"{ds_name}:{pair[0]}-{pair[1]}"] = acc
            path = tmp / f"a-{ds_name}-{pair[0]}{pair[1]}.keras"
            model.save(path)
            keras.backend.clear_session()
            seeds = range(args.seeds if k == 0 else args.pair_seeds)
            datas = {seed: task_b(ds, pair, seed) for seed in seeds}
            steps = -(-N_TRAIN // BATCH)
            built = {v: build_variant(v, str(path), ds_name, ds.input_shape, steps) for v in VARIANTS}
            for seed in seeds:
                for variant in VARIANTS:
                    err = run_seed(built[variant], datas[seed], seed)
                    results.append({"dataset": ds_name, "pair": f"{pair[0]}-{pair[1]}", "seed": seed,
                                    "variant": variant, "test_error": err, "n_test": int(len(datas[seed][3]))})
                print(f"  {ds_name} pair {pair} seed {seed}: "
                      + ", ".join(f"{r['variant']} {r['test_error']:.4f}" for r in results[-len(VARIANTS):]),
                      flush=True)
            keras.backend.clear_session()
    summary = summarize(results, args.datasets.split(","), pairs)
    print(f"task A test accuracy (8 classes): {json.dumps(a_acc)}")
    load_avg = os.getloadavg()
    print(f"wall {time.perf_counter() - t0:.0f} s, load average {load_avg[0]:.1f} {load_avg[1]:.1f} {load_avg[2]:.1f}")
    out = {"figures": summary, "task_a_accuracy": a_acc, "runs": results, "load_average": list(load_avg),
           "wall_s": time.perf_counter() - t0}
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps({"figures": summary, "task_a_accuracy": a_acc, "load_average": list(load_avg)}))


if __name__ == "__main__":
    main()
