"""The default MNIST-1D recipe on TensorFlow, JAX and PyTorch, through ``kerastricks bench``.

One variant per backend (``train.backend = ...``), each run its own process (Keras
picks its backend once per process), variants interleaved in alternating order,
the same seeds for every backend, ratios paired by seed against TensorFlow:
time to ``val_accuracy`` 0.98, steady examples/s (epochs after the first, so
compilation is left out), test accuracy, wall time.

    python benchmarks/backends.py [--quick] [--seeds N] [--set KEY=VALUE ...] [--out DIR]

``--quick``: 6 epochs, 1 seed (the time to 0.98 is then often not reached).
Default: the ``mnist1d`` preset as shipped (25 epochs), 3 seeds. On PyTorch
``steps_per_execution`` is 1 (Keras runs one batch per call there; the report
says so), on JAX ``jit_compile = "auto"`` compiles.
Last line: JSON ``{"backends": {name: {...}}, "load_average": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

BACKENDS = ("tensorflow", "jax", "torch")


def _r(x, digits=4):
    return None if x is None else round(x, digits)


def main() -> None:
    from kerastricks._backend import installed
    from kerastricks.bench import resolve_bench, run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 epochs, 1 seed")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per backend (default 3, --quick 1)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe override applied to every backend")
    parser.add_argument("--out", default=None, help="directory for the bench directory")
    args = parser.parse_args()
    seeds = args.seeds or (1 if args.quick else 3)
    overrides = (["train.epochs=6"] if args.quick else []) + list(args.overrides)
    backends = [b for b in BACKENDS if installed(b)]
    variants = [f"{b}:train.backend={b}" for b in backends]
    out = Path(args.out or tempfile.mkdtemp(prefix="kerastricks-backends-"))
    spec = resolve_bench(None, preset="mnist1d", overrides=overrides, variants=variants, seeds=seeds, repeat=1)
    result = run(spec, out / "bench", command="benchmarks/backends.py" + (" --quick" if args.quick else ""),
                 progress=lambda line: print(line, flush=True))

    summary, rows = {}, []
    for v in result["variants"]:
        med, ratio = v["median"], v["ratio_vs_baseline"]
        s = summary[v["name"]] = {
            "test_accuracy": _r(med.get("test_accuracy")),
            "test_accuracy_min": _r(v["min"].get("test_accuracy")),
            "test_accuracy_max": _r(v["max"].get("test_accuracy")),
            "time_to_target_s": _r(med.get("time_to_target"), 2),
            "time_to_target_ratio": _r(ratio.get("time_to_target"), 3),
            "examples_per_s": _r(med.get("examples_per_s"), 0),
            "examples_per_s_ratio": _r(ratio.get("examples_per_s"), 3),
            "wall_time_s": _r(med.get("wall_time"), 1),
            "wall_ratio": _r(ratio.get("wall_time"), 3),
            "epochs_to_target": med.get("epochs_to_target"),
        }
        rows.append([v["name"], s["test_accuracy"], s["time_to_target_s"] or "-", s["time_to_target_ratio"] or "-",
                     s["examples_per_s"], s["examples_per_s_ratio"] or "-", s["wall_time_s"], s["wall_ratio"] or "-"])
    print()
    print(table(["backend", "test acc (median)", "time to 0.98 s", "ratio", "examples/s", "ratio", "wall s",
                 "ratio"], rows))
    print(f"bench directory: {result['directory']}; ratios are to tensorflow, paired by seed")
    print(json.dumps({"quick": args.quick, "seeds": seeds, "overrides": overrides, "backends": summary,
                      "load_average": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
