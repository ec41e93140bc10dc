"""Long-tail methods on MNIST-1D-LT: balanced accuracy and many/medium/few-shot accuracy.

Every variant is the ``mnist1d-lt`` preset (8000 generated samples: 6400
train / 1600 test; a balanced 5% validation split, then the training split
cut to imbalance ratio 100; balanced test set) plus ``--set`` overrides. Each
seed runs in its own fresh process, which trains every variant in turn with
the in-process :class:`~kerastricks.train.Trainer` (each run re-seeds Keras
and uses deterministic ops, so the order of the variants does not matter);
up to ``--jobs`` seed processes run at once. The figure is accuracy, not
time, so a loaded machine only slows the benchmark down.

    python benchmarks/long_tail.py [--quick] [--seeds 3] [--jobs 3] [--epochs N] [--only ce,balanced_softmax]

Reported per variant: median over seeds of test balanced accuracy, accuracy
and many/medium/few-shot accuracy (thresholds scaled to the head count, see
``kerastricks.evaluation``), and the median of per-seed gains over plain
cross-entropy. Last line: JSON with ``best_gain_balanced_accuracy`` (the
largest median gain over CE) and every variant's figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median, run_child, table

PRESET = "mnist1d-lt"
VARIANTS: dict[str, list[str]] = {
    "ce": [],
    "focal": ["loss.name=focal"],
    "class_balanced": ["loss.name=class_balanced"],
    "ldam_drw": ["loss.name=ldam", "loss.scale=1.0", "techniques.drw.beta=0.9999"],
    "logit_adjusted": ["loss.name=logit_adjusted"],
    "balanced_softmax": ["loss.name=balanced_softmax"],
    "resampling": ["techniques.resampling.mode=progressive"],
    "crt": ["techniques.crt.epochs=10"],
    "tau_norm": ["techniques.tau_norm.bias=keep"],
}
FIGURES = ("balanced_accuracy", "accuracy", "many", "medium", "few")


def child(args) -> None:
    from kerastricks.recipes import load_recipe
    from kerastricks.train import Trainer

    results = {}
    for name in args.variants.split(","):
        sets = VARIANTS[name] + [f"train.seed={args.seed}"] + ([f"train.epochs={args.epochs}"] if args.epochs else [])
        recipe = load_recipe(preset=PRESET, overrides=sets)
        t0 = time.perf_counter()
        report = Trainer(recipe, write=False, verbose=0).fit().report
        test = report["test"]
        shots = test["shots"]
        results[name] = {
            "balanced_accuracy": test["balanced_accuracy"],
            "accuracy": test["accuracy"],
            "many": shots["many_shot_accuracy"],
            "medium": shots["medium_shot_accuracy"],
            "few": shots["few_shot_accuracy"],
            "wall_s": time.perf_counter() - t0,
            "notes": {k: {kk: vv for kk, vv in v.items() if kk == "tau"} for k, v in report["techniques"].items()},
        }
        if name == args.variants.split(",")[0]:
            results["_train_class_counts"] = [r["train_count"] for r in test["per_class"]]
            results["_groups"] = shots["groups"]
    emit(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 epochs, 2 seeds (a smoke test, not the figure)")
    parser.add_argument("--seeds", type=int, default=None, help="default 3 (quick: 2)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's 30 (quick: 6)")
    parser.add_argument("--jobs", type=int, default=3, help="seed processes run at once")
    parser.add_argument("--only", default="", help="comma-separated variant names (ce is always added)")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    epochs = args.epochs or (6 if args.quick else None)
    args.seeds = args.seeds or (2 if args.quick else 3)
    names = list(VARIANTS)
    if args.only:
        wanted = set(args.only.split(",")) | {"ce"}
        unknown = wanted - set(VARIANTS)
        if unknown:
            parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
        names = [n for n in names if n in wanted]
    script = Path(__file__).resolve()

    def run_seed(seed: int) -> dict:
        extra = ["--epochs", str(epochs)] if epochs else []
        got = run_child(script, ["--child", "--seed", str(seed), "--variants", ",".join(names), *extra],
                        timeout=3600)
        for name in names:
            r = got[name]
            print(f"seed {seed} {name:<17} balanced acc {r['balanced_accuracy']:.4f}  few {r['few']:.4f}  "
                  f"{r['wall_s']:.1f} s", flush=True)
        return got

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        per_seed = list(pool.map(run_seed, range(args.seeds)))
    wall = time.perf_counter() - t0

    summary = {}
    rows = []
    for name in names:
        runs = [s[name] for s in per_seed]
        entry = {"overrides": VARIANTS[name]}
        for fig in FIGURES:
            entry[fig] = round(median([r[fig] for r in runs]), 4)
        entry["balanced_accuracy_min"] = round(min(r["balanced_accuracy"] for r in runs), 4)
        entry["balanced_accuracy_max"] = round(max(r["balanced_accuracy"] for r in runs), 4)
        entry["gain_balanced_accuracy"] = round(
            median([s[name]["balanced_accuracy"] - s["ce"]["balanced_accuracy"] for s in per_seed]), 4)
        taus = [r["notes"].get("tau_norm", {}).get("tau") for r in runs]
        if any(t is not None for t in taus):
            entry["tau"] = taus
        summary[name] = entry
        rows.append([name, f"{entry['balanced_accuracy']:.4f} ({entry['balanced_accuracy_min']:.4f}-"
                     f"{entry['balanced_accuracy_max']:.4f})", f"{entry['gain_balanced_accuracy']:+.4f}",
                     f"{entry['accuracy']:.4f}", f"{entry['many']:.4f}", f"{entry['medium']:.4f}",
                     f"{entry['few']:.4f}"])
    best = max((n for n in names if n != "ce"), key=lambda n: summary[n]["gain_balanced_accuracy"], default="ce")
    counts = per_seed[0]["_train_class_counts"]
    print()
    print(f"{PRESET}: training counts per class {counts} (groups {per_seed[0]['_groups']}); "
          f"{args.seeds} seeds" + (f", {epochs} epochs" if epochs else "") + f", medians; {wall:.0f} s")
    print(table(["variant", "balanced acc (min-max)", "gain vs CE", "accuracy", "many", "medium", "few"], rows))
    print(json.dumps({
        "preset": PRESET, "seeds": args.seeds, "epochs": epochs, "train_class_counts": counts,
        "best_method": best, "best_gain_balanced_accuracy": summary[best]["gain_balanced_accuracy"] if best != "ce"
        else 0.0, "goal": 0.05, "variants": summary, "wall_s": round(wall, 1),
    }))


if __name__ == "__main__":
    main()
