"""Gradient checkpointing: peak memory and step time of a deep MLP with and without recompute.

Model: the zoo ``mlp`` with ``depth`` hidden layers (>= 20 blocks; default
32 x 64 units, batch 131072: activations, not weights, fill the memory) on
random inputs, trained with ``model.fit`` (SGD) for a few steps; with
recompute, ``recompute_every="auto"`` (round(sqrt(depth)) layers per
segment). Every run is a fresh process; memory is its peak RSS from
``wait4`` (on a GPU, the device's peak allocation is reported too). Runs are
interleaved (plain, recompute, recompute, plain, ...), medians reported.

Largest batch under a memory cap: for each variant, a search over batch
sizes, each probe a fresh process with one training step whose peak RSS is
compared with ``--cap-gb``: the batch doubles from ``--search-start`` until
a probe exceeds the cap, then bisects between the last batch that fitted and
the first that did not, on a grid of ``--grain`` examples. Every probe is
listed, so a non-monotonic point would show. The probes run with glibc's
``MALLOC_MMAP_THRESHOLD_`` fixed (``--search-mmap-threshold``, default
128 KiB): with malloc's default *dynamic* threshold, freed activation buffers
below 32 MiB stay in the heap and peak RSS jumps up and down with the batch
size (measured here: plain 2476 MB at batch 98,304 but 1749 MB at 131,072),
which no search can use; with a fixed threshold every large buffer is
mapped and unmapped, and peak RSS follows the memory actually live. The main
comparison (peak memory and step time at ``--batch``) keeps the default
allocator, which is what a user runs: mapping every buffer slows the steps.

    PYTHONPATH=src python benchmarks/remat_memory.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
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


def search_largest(script: Path, depth: int, width: int, every: str, cap: float, start: int, grain: int,
                   rounds: int, limit: int) -> dict:
    """Largest batch whose one-step peak RSS stays under ``cap``: doubling, then bisection."""
    probes: dict[int, float] = {}

    def fits(batch: int) -> bool:
        probes[batch] = spawn(script, [str(depth), str(width), str(batch), every, "1"])["peak_rss_bytes"]
        return probes[batch] <= cap

    lo, hi = 0, start
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    for _ in range(rounds):
        mid = (lo + hi) // 2 // grain * grain
        if mid in (lo, hi) or mid <= 0:
            break
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return {"largest_fitting": lo, "smallest_over": hi if hi in probes else None,
            "probes": {str(b): probes[b] / 2**20 for b in sorted(probes)},
            "kb_per_example": slope_kb(probes)}


def slope_kb(probes: dict[int, float]) -> float | None:
    """Least-squares growth of peak RSS with the batch (KB per example): the activation memory."""
    if len(probes) < 2:
        return None
    xs, ys = list(probes), [probes[b] for b in probes]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var / 1024 if var else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 repetition of 1 step at the same batch (the peak-memory ratio is the full run's); "
                             "cap 1 GB, search from 32768, 1 bisection round (< 3 min)")
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=131072,
                        help="batch of the main comparison (the same with --quick: at a smaller batch the fixed "
                             "~0.6 GB of the runtime weighs more and the ratio rises, 0.79 at 65536)")
    parser.add_argument("--cap-gb", type=float, default=1.5)
    parser.add_argument("--search-start", type=int, default=32768)
    parser.add_argument("--grain", type=int, default=8192)
    parser.add_argument("--search-mmap-threshold", type=int, default=131072,
                        help="MALLOC_MMAP_THRESHOLD_ (bytes) for the search probes; 0 keeps malloc's default")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        d, w, b, every, steps = args.child
        emit(child(int(d), int(w), int(b), every, int(steps)))
        return

    script = Path(__file__).resolve()
    reps = 1 if args.quick else 2
    steps = 1 if args.quick else 2
    rounds = 1 if args.quick else 3
    if args.quick:
        args.cap_gb = min(args.cap_gb, 1.0)
    variants = {"plain": "0", "recompute": "auto"}
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for rep in range(reps):
        for v in (list(variants) if rep % 2 == 0 else list(variants)[::-1]):
            runs[v].append(spawn(script, [str(args.depth), str(args.width), str(args.batch), variants[v], str(steps)]))
    cap = args.cap_gb * 2**30
    saved = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    if args.search_mmap_threshold:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(args.search_mmap_threshold)
    try:
        search = {v: search_largest(script, args.depth, args.width, every, cap, args.search_start, args.grain,
                                    rounds, limit=64 * args.search_start)
                  for v, every in variants.items()}
    finally:
        if saved is None:
            os.environ.pop("MALLOC_MMAP_THRESHOLD_", None)
        else:
            os.environ["MALLOC_MMAP_THRESHOLD_"] = saved

    rows, summary = [], {}
    for v in variants:
        peak = median([r["peak_rss_bytes"] for r in runs[v]])
        step = median([r["step_s"] for r in runs[v]])
        summary[v] = {"peak_rss_mb": peak / 2**20, "step_s": step, **search[v]}
        rows.append([v, peak / 2**20, step, search[v]["largest_fitting"], search[v]["smallest_over"] or "-"])
    mem_ratio = summary["recompute"]["peak_rss_mb"] / summary["plain"]["peak_rss_mb"]
    step_ratio = summary["recompute"]["step_s"] / summary["plain"]["step_s"]
    batch_ratio = summary["recompute"]["largest_fitting"] / max(1, summary["plain"]["largest_fitting"])
    kb = [summary[v]["kb_per_example"] for v in variants]
    act_ratio = kb[1] / kb[0] if None not in kb and kb[0] > 0 else None
    print(f"mlp depth {args.depth} x width {args.width}, {FEATURES} inputs, batch {args.batch}, "
          f"{steps} timed steps per run, {reps} interleaved repetitions, medians")
    print(table(["variant", "peak RSS MB", "step s", f"largest batch <= {args.cap_gb} GB", "first over"], rows))
    print(f"search probes (batch: peak RSS MB, one step each; doubling from {args.search_start}, "
          f"then {rounds} bisection rounds on a {args.grain} grid; MALLOC_MMAP_THRESHOLD_="
          f"{args.search_mmap_threshold or 'default'}):")
    for v in variants:
        print(f"  {v:9s} " + ", ".join(f"{b}: {mb:.0f}" for b, mb in search[v]["probes"].items()))
    growth = [f"{v} {summary[v]['kb_per_example']:.2f} KB/example" for v in variants if summary[v]["kb_per_example"]]
    print("peak RSS growth with the batch (least squares over the probes): " + ", ".join(growth))
    print(f"peak_memory_ratio {mem_ratio:.3f}, step_time_ratio {step_ratio:.3f}, "
          f"largest_batch_ratio {batch_ratio:.2f}, "
          f"activation_memory_ratio {act_ratio if act_ratio is None else round(act_ratio, 3)}")
    print(json.dumps({"benchmark": "remat_memory", "quick": args.quick, "depth": args.depth, "width": args.width,
                      "batch": args.batch, "peak_memory_ratio": mem_ratio, "step_time_ratio": step_ratio,
                      "largest_batch_ratio": batch_ratio, "activation_memory_ratio": act_ratio, "cap_gb": args.cap_gb,
                      "search_mmap_threshold": args.search_mmap_threshold, "variants": summary}))


if __name__ == "__main__":
    main()
