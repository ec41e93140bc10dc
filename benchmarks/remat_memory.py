"""Gradient checkpointing: peak memory and step time of a deep MLP with and without recompute.

Model: the zoo ``mlp`` with ``depth`` hidden layers (>= 20 blocks; default
32 x 64 units, batch 131072: activations, not weights, fill the memory) on
random inputs, trained with ``model.fit`` (SGD) for a few steps; with
recompute, ``recompute_every="auto"`` (round(sqrt(depth)) layers per
segment). Every run is a fresh process; memory is its peak RSS from
``wait4`` (on a GPU, the device's peak allocation is reported too). Runs are
interleaved (plain, recompute, recompute, plain, ...), medians reported.

Largest batch under a memory cap: peak RSS is affine in the batch size
(fixed runtime + weights, plus activations proportional to the batch), so
each variant is also run at half the batch and the line through the two
points gives the largest batch whose predicted peak stays under ``--cap-gb``.

    PYTHONPATH=src python benchmarks/remat_memory.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MARKER, emit, median, table

FEATURES = 16  # few inputs: the data itself stays small next to the activations


def child(depth: int, width: int, batch: int, every: str, steps: int) -> dict:
    import keras
    import numpy as np

    from kerastricks.models import build_model
    from kerastricks.train import device_memory_peak

    keras.utils.set_random_seed(0)
    rec = every if every == "auto" else int(every)
    model = build_model("mlp", input_shape=(FEATURES,), num_outputs=10,
                        options={"depth": depth, "width": width, "recompute_every": rec})
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch * steps, FEATURES)).astype("float32")
    y = rng.integers(0, 10, batch * steps)
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # trace + first step
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    step = (time.perf_counter() - t0) / steps
    return {"step_s": step, "device_peak_bytes": device_memory_peak()}


def spawn(script: Path, args: list[str]) -> dict:
    from kerastricks.bench.runner import _spawn

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.txt"
        code, wall, peak = _spawn([sys.executable, str(script), "--child", *args], log, timeout=900)
        text = log.read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith(MARKER):
            return {**json.loads(line[len(MARKER):]), "peak_rss_bytes": peak, "wall_s": wall}
    raise RuntimeError(f"child {args} failed (exit {code}):\n{text[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, half the batch (< 3 min)")
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=None, help="default 131072 (65536 with --quick)")
    parser.add_argument("--cap-gb", type=float, default=1.5)
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        d, w, b, every, steps = args.child
        emit(child(int(d), int(w), int(b), every, int(steps)))
        return

    script = Path(__file__).resolve()
    reps = 1 if args.quick else 2
    steps = 1 if args.quick else 2
    if args.batch is None:
        args.batch = 65536 if args.quick else 131072
    variants = {"plain": "0", "recompute": "auto"}
    runs: dict[tuple[str, int], list[dict]] = {}
    for rep in range(reps):
        order = list(variants) if rep % 2 == 0 else list(variants)[::-1]
        for v in order:
            for batch in (args.batch, args.batch // 2):
                if batch != args.batch and rep > 0:
                    continue  # the half-batch point is for the fit only: once is enough
                runs.setdefault((v, batch), []).append(
                    spawn(script, [str(args.depth), str(args.width), str(batch), variants[v], str(steps)]))

    def med(v: str, batch: int, key: str) -> float:
        return median([r[key] for r in runs[(v, batch)]])

    cap = args.cap_gb * 2**30
    rows, summary = [], {}
    for v in variants:
        full, half = med(v, args.batch, "peak_rss_bytes"), med(v, args.batch // 2, "peak_rss_bytes")
        slope = (full - half) / (args.batch - args.batch // 2)
        intercept = full - slope * args.batch
        largest = int((cap - intercept) / slope) if slope > 0 else None
        summary[v] = {"peak_rss_mb": full / 2**20, "peak_rss_half_batch_mb": half / 2**20,
                      "step_s": med(v, args.batch, "step_s"), "largest_batch_under_cap": largest,
                      "mb_per_example": slope / 2**20}
        rows.append([v, full / 2**20, half / 2**20, summary[v]["step_s"], slope / 2**10, largest])
    mem_ratio = summary["recompute"]["peak_rss_mb"] / summary["plain"]["peak_rss_mb"]
    step_ratio = summary["recompute"]["step_s"] / summary["plain"]["step_s"]
    batch_ratio = (summary["recompute"]["largest_batch_under_cap"] or 0) / max(
        1, summary["plain"]["largest_batch_under_cap"] or 0)
    print(f"mlp depth {args.depth} x width {args.width}, {FEATURES} inputs, batch {args.batch}, "
          f"{steps} timed steps per run, {reps} interleaved repetitions, medians; cap {args.cap_gb} GB")
    print(table(["variant", "peak RSS MB", f"at batch {args.batch // 2}", "step s", "KB per example",
                 "largest batch < cap"], rows))
    print(f"peak_memory_ratio {mem_ratio:.3f}, step_time_ratio {step_ratio:.3f}, batch_ratio {batch_ratio:.2f}")
    print(json.dumps({"benchmark": "remat_memory", "quick": args.quick, "depth": args.depth, "width": args.width,
                      "batch": args.batch, "peak_memory_ratio": mem_ratio, "step_time_ratio": step_ratio,
                      "largest_batch_ratio": batch_ratio, "cap_gb": args.cap_gb, "variants": summary}))


if __name__ == "__main__":
    main()
