"""What the foundation's techniques buy on the default MNIST-1D recipe, through ``kerastricks bench``.

Runs the two bench files of the family, ``studies/foundation.toml`` (each
technique against the ``mnist1d`` preset as is) and ``studies/plateau.toml``
(ReduceLROnPlateau against the constant rate it needs), with the bench's
fairness rules: one fresh process per run, variants interleaved in
alternating order, the same seeds for every variant, ratios and differences
paired by seed.

    python benchmarks/foundation_techniques.py [--quick] [--seeds N] [--only ema,l2] [--out DIR]

``--quick``: 8 epochs, 2 seeds. Writes each bench's directory (bench.json,
bench.md, plots) under ``--out`` (default: a temporary directory).
Last line: JSON ``{"variants": {name: {"accuracy", "accuracy_delta", "time_to_target_ratio",
"examples_per_s_ratio", ...}}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

STUDIES = Path(__file__).resolve().parent / "studies"
FILES = ("foundation.toml", "plateau.toml")


def _r(x, digits=4):
    return None if x is None else round(x, digits)


def main() -> None:
    from kerastricks.bench import resolve_bench, run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 epochs, 2 seeds")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--only", default="", help="comma-separated variant names (each file's baseline is kept)")
    parser.add_argument("--out", default=None, help="directory for the bench directories")
    args = parser.parse_args()
    seeds = args.seeds or (2 if args.quick else None)
    overrides = ["train.epochs=8"] if args.quick else []
    out_root = Path(args.out or tempfile.mkdtemp(prefix="kerastricks-foundation-"))

    summary, rows = {}, []
    for name in FILES:
        spec = resolve_bench(str(STUDIES / name), overrides=overrides, seeds=seeds)
        if args.only:
            wanted = set(args.only.split(","))
            spec.variants = [v for i, v in enumerate(spec.variants) if i == 0 or v.name in wanted]
            if len(spec.variants) == 1:
                continue
        result = run(spec, out_root / Path(name).stem, command=f"benchmarks/foundation_techniques.py ({name})",
                     progress=lambda line: print(line, flush=True))
        base = result["variants"][0]["name"]
        for v in result["variants"]:
            med, ratio, delta = v["median"], v["ratio_vs_baseline"], v["delta_vs_baseline"]
            summary[v["name"]] = {
                "baseline": base,
                "overrides": v["overrides"],
                "accuracy": _r(med.get("test_accuracy")),
                "accuracy_min": _r(v["min"].get("test_accuracy")),
                "accuracy_max": _r(v["max"].get("test_accuracy")),
                "accuracy_delta": _r(delta.get("test_accuracy")),
                "time_to_target_s": _r(med.get("time_to_target"), 2),
                "time_to_target_ratio": _r(ratio.get("time_to_target"), 3),
                "examples_per_s_ratio": _r(ratio.get("examples_per_s"), 3),
                "wall_ratio": _r(ratio.get("wall_time"), 3),
                "epochs": med.get("epochs_run"),
                "bench_dir": result["directory"],
            }
            s = summary[v["name"]]
            rows.append([v["name"], base, f"{s['accuracy']:.4f} ({s['accuracy_min']:.4f}-{s['accuracy_max']:.4f})",
                         "-" if v["baseline"] else f"{s['accuracy_delta']:+.4f}", s["time_to_target_s"] or "-",
                         s["time_to_target_ratio"] or "-", s["wall_ratio"] or "-", s["epochs"]])
    print()
    print(table(["variant", "vs", "test accuracy (min-max)", "delta acc", "time to 0.98 s", "ttt ratio",
                 "wall ratio", "epochs"], rows))
    print(f"bench directories under {out_root}")
    print(json.dumps({"quick": args.quick, "variants": summary}))


if __name__ == "__main__":
    main()
