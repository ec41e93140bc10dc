"""Wall time of kerastricks's Trainer against a bare ``model.fit`` doing the same work.

Both sides load the same data, build the same model and optimizer, train the
same epochs on the same tf.data pipeline and evaluate on the test set; each run
is a fresh process, runs alternate (A B A B ...), and the median of the
per-pair ratios is reported. The Trainer also writes its run directory
(recipe, metrics.csv, checkpoints every epoch, best model, TensorBoard logs,
plots, report), which is the overhead being measured. Library import time is
excluded on both sides.

    python benchmarks/trainer_overhead.py [--quick] [--preset mnist1d] [--reps 5]

Last line of output: JSON with ``overhead_ratio`` (end to end) and
``fit_overhead_ratio`` (the fit call alone).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median, run_child, table


def child_trainer(args) -> None:
    from kerastricks.recipes import load_recipe
    from kerastricks.train import Trainer

    recipe = load_recipe(preset=args.preset, overrides=args.set)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = Trainer(recipe, out=Path(tmp) / "run", verbose=0).fit()
        total = time.perf_counter() - t0
    emit({"total_s": total, "fit_s": result.report["fit_time_s"], "accuracy": result.report["test"]["accuracy"]})


def child_bare(args) -> None:
    import keras
    import numpy as np

    from kerastricks.data import make_tf_dataset
    from kerastricks.losses import SparseCrossentropy, build_loss
    from kerastricks.models import build_model
    from kerastricks.optimizers import build_optimizer
    from kerastricks.recipes import load_recipe
    from kerastricks.schedules import build_schedule
    from kerastricks.train import load_recipe_dataset

    recipe = load_recipe(preset=args.preset, overrides=args.set)
    t0 = time.perf_counter()
    seed = recipe.train["seed"]
    import tensorflow as tf

    if recipe.train["threads"] != "auto":
        tf.config.threading.set_intra_op_parallelism_threads(recipe.train["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(recipe.train["threads"])
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    ds = load_recipe_dataset(recipe)
    bs = recipe.train["batch_size"]
    train = make_tf_dataset(ds.x_train, ds.y_train, batch_size=bs, shuffle=True, seed=seed)
    val = None
    if ds.x_val is not None:
        val = make_tf_dataset(ds.x_val, ds.y_val, batch_size=max(bs, 256), shuffle=False, seed=seed)
    model = build_model(recipe.model["name"], input_shape=ds.input_shape, num_outputs=ds.output_dim, task=ds.task,
                        options=recipe.options("model"))
    opts = recipe.options("optimizer")
    lr = opts.pop("learning_rate")
    if recipe.techniques.keys() - {"label_smoothing"}:
        raise SystemExit(f"the bare side mirrors label_smoothing only; recipe has {list(recipe.techniques)}")
    steps = -(-len(ds.x_train) // bs)
    schedule = build_schedule(recipe.schedule["name"], recipe.options("schedule"), learning_rate=lr,
                              steps_per_epoch=steps, epochs=recipe.train["epochs"])
    loss = build_loss(recipe.loss["name"], recipe.options("loss"), task=ds.task)
    if "label_smoothing" in recipe.techniques:  # what the preset's technique does, written by hand
        loss = SparseCrossentropy(label_smoothing=recipe.techniques["label_smoothing"]["smoothing"])
    model.compile(optimizer=build_optimizer(recipe.optimizer["name"], opts, learning_rate=schedule),
                  loss=loss, metrics=["accuracy"], jit_compile=False,
                  steps_per_execution=recipe.train["steps_per_execution"])
    t_fit = time.perf_counter()
    model.fit(train, validation_data=val, epochs=recipe.train["epochs"], verbose=0, shuffle=False)
    fit_s = time.perf_counter() - t_fit
    pred = np.argmax(model.predict(ds.x_test, batch_size=256, verbose=0), axis=-1)
    total = time.perf_counter() - t0
    emit({"total_s": total, "fit_s": fit_s, "accuracy": float(np.mean(pred == ds.y_test))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and repetitions (< 3 minutes)")
    parser.add_argument("--preset", default="mnist1d")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--child", choices=["trainer", "bare"])
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    if args.child:
        (child_trainer if args.child == "trainer" else child_bare)(args)
        return

    reps = args.reps or (3 if args.quick else 5)
    epochs = args.epochs or (5 if args.quick else None)
    sets = list(args.set) + ([f"train.epochs={epochs}"] if epochs else [])
    child_args = ["--preset", args.preset] + [x for s in sets for x in ("--set", s)]
    script = Path(__file__).resolve()
    # one warm-up pair so both sides meet a warm disk cache (dataset cache, .pyc files)
    run_child(script, ["--child", "bare", *child_args])
    pairs = []
    for rep in range(reps):
        order = ["trainer", "bare"] if rep % 2 == 0 else ["bare", "trainer"]
        got = {side: run_child(script, ["--child", side, *child_args]) for side in order}
        pairs.append(got)
        print(f"rep {rep + 1}/{reps}: trainer {got['trainer']['total_s']:.2f} s, bare {got['bare']['total_s']:.2f} s",
              flush=True)

    ratios = [p["trainer"]["total_s"] / p["bare"]["total_s"] for p in pairs]
    fit_ratios = [p["trainer"]["fit_s"] / p["bare"]["fit_s"] for p in pairs]
    rows = []
    for side in ("bare", "trainer"):
        rows.append([side, median([p[side]["total_s"] for p in pairs]), median([p[side]["fit_s"] for p in pairs]),
                     median([p[side]["accuracy"] for p in pairs])])
    print()
    print(f"preset {args.preset}, {reps} interleaved pairs, medians" + (f", {epochs} epochs" if epochs else ""))
    print(table(["side", "end-to-end s", "fit s", "test accuracy"], rows))
    print(f"overhead ratio (end to end): median {median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")
    print(f"overhead ratio (fit only):   median {median(fit_ratios):.3f}")
    print(json.dumps({
        "overhead_ratio": round(median(ratios), 4),
        "overhead_ratio_min": round(min(ratios), 4),
        "overhead_ratio_max": round(max(ratios), 4),
        "fit_overhead_ratio": round(median(fit_ratios), 4),
        "trainer_s": round(rows[1][1], 3),
        "bare_s": round(rows[0][1], 3),
        "reps": reps,
        "preset": args.preset,
        "quick": bool(args.quick),
    }))


if __name__ == "__main__":
    main()
