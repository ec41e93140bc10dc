"""What the foundation's techniques buy on the default MNIST-1D recipe.

Each variant is the ``mnist1d`` preset plus ``--set`` overrides; every run is a
fresh process; runs are interleaved (all variants for seed 0, then seed 1, ...)
with the same seeds for every variant. Reported per variant: test accuracy
(median and min-max over seeds), wall time, epochs run, and the median of
per-seed ratios against the baseline (for reduce_lr_on_plateau the baseline is
the constant-rate recipe it needs).

    python benchmarks/foundation_techniques.py [--quick] [--seeds 3] [--only ema,l2]

Last line: JSON ``{"variants": {name: {"accuracy": ..., "wall_s": ..., ...}}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median, run_child, table  # noqa: E402

CONSTANT = ["schedule.name=constant", "optimizer.learning_rate=0.003"]
VARIANTS: dict[str, tuple[str, list[str]]] = {
    # name: (baseline name, overrides)
    "baseline": ("baseline", []),
    "ema": ("baseline", ["techniques.ema.momentum=0.99"]),
    # the preset already uses label smoothing 0.1: measure what removing it costs
    "no_label_smoothing": ("baseline", ["techniques.label_smoothing.enabled=false"]),
    "l2": ("baseline", ["optimizer.weight_decay=0.0", "techniques.l2.factor=0.0001"]),
    "gradient_accumulation": ("baseline", ["techniques.gradient_accumulation.steps=4"]),
    "early_stopping": ("baseline", ["techniques.early_stopping.patience=3",
                                    "techniques.early_stopping.monitor=val_loss"]),
    "constant_lr": ("constant_lr", CONSTANT),
    "reduce_lr_on_plateau": ("constant_lr", CONSTANT + ["techniques.reduce_lr_on_plateau.patience=2",
                                                        "techniques.reduce_lr_on_plateau.factor=0.3"]),
}


def child(args) -> None:
    from kerastricks.recipes import load_recipe
    from kerastricks.train import Trainer

    recipe = load_recipe(preset=args.preset, overrides=args.set)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = Trainer(recipe, out=Path(tmp) / "run", verbose=0).fit().report
        wall = time.perf_counter() - t0
    emit({"accuracy": report["test"]["accuracy"], "wall_s": wall, "epochs": report["epochs_run"],
          "time_to_target_s": report["time_to_target_s"], "examples_per_s": report["examples_per_s"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 epochs, 2 seeds")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--only", default="", help="comma-separated variant names (baselines are added)")
    parser.add_argument("--preset", default="mnist1d")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    seeds = args.seeds or (2 if args.quick else 3)
    epochs = args.epochs or (8 if args.quick else None)
    names = list(VARIANTS)
    if args.only:
        wanted = set(args.only.split(","))
        wanted |= {VARIANTS[n][0] for n in wanted}
        names = [n for n in names if n in wanted]
    script = Path(__file__).resolve()
    results: dict[str, list[dict]] = {n: [] for n in names}
    for seed in range(seeds):
        for name in names:
            sets = VARIANTS[name][1] + [f"train.seed={seed}"] + ([f"train.epochs={epochs}"] if epochs else [])
            got = run_child(script, ["--child", "--preset", args.preset, *[x for s in sets for x in ("--set", s)]])
            results[name].append(got)
            print(f"seed {seed} {name:<22} acc {got['accuracy']:.4f}  {got['wall_s']:.1f} s  "
                  f"{got['epochs']} epochs", flush=True)

    summary = {}
    rows = []
    for name in names:
        runs = results[name]
        base = results[VARIANTS[name][0]]
        acc = [r["accuracy"] for r in runs]
        wall = [r["wall_s"] for r in runs]
        summary[name] = {
            "baseline": VARIANTS[name][0],
            "overrides": VARIANTS[name][1],
            "accuracy": round(median(acc), 4),
            "accuracy_min": round(min(acc), 4),
            "accuracy_max": round(max(acc), 4),
            "accuracy_delta": round(median([r["accuracy"] - b["accuracy"] for r, b in zip(runs, base)]), 4),
            "wall_s": round(median(wall), 2),
            "wall_ratio": round(median([r["wall_s"] / b["wall_s"] for r, b in zip(runs, base)]), 3),
            "epochs": median([r["epochs"] for r in runs]),
        }
        s = summary[name]
        rows.append([name, s["baseline"], f"{s['accuracy']:.4f} ({s['accuracy_min']:.4f}-{s['accuracy_max']:.4f})",
                     f"{s['accuracy_delta']:+.4f}", s["wall_s"], s["wall_ratio"], s["epochs"]])
    print()
    print(f"preset {args.preset}, {seeds} seeds" + (f", {epochs} epochs" if epochs else "") + ", medians")
    print(table(["variant", "vs", "test accuracy (min-max)", "delta acc", "wall s", "wall ratio", "epochs"], rows))
    print(json.dumps({"preset": args.preset, "seeds": seeds, "epochs": epochs, "variants": summary}))


if __name__ == "__main__":
    main()
