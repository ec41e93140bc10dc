"""``kerastricks bench``: run a recipe's variants side by side and report what each buys.

Python use::

    from kerastricks.bench import resolve_bench, run
    spec = resolve_bench(preset="mnist1d", variants=["base", "ema:techniques.ema.momentum=0.99"], seeds=3)
    result = run(spec, "bench/ema")
    result["variants"][1]["ratio_vs_baseline"]["time_to_target"]

The bench directory holds ``bench.json`` (every run and every statistic),
``bench.md`` (a table to paste into an issue or a method card),
``curves.png`` and ``ratios.png``, the resolved recipe of each variant under
``recipes/``, each run's own run directory under ``runs/<variant>/seed<N>/``
and its log under ``logs/``. See :mod:`kerastricks.bench.runner` for how runs
are scheduled and :mod:`kerastricks.bench.summary` for the statistics.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kerastricks import io as kio
from kerastricks.bench.runner import run_bench, run_order
from kerastricks.bench.spec import BenchSpec, Variant, parse_target, parse_variant, read_bench_file, resolve_bench
from kerastricks.bench.stats import LEVEL
from kerastricks.bench.summary import markdown, plot_curves, plot_ratios, summarize

BENCH_JSON = "bench.json"
BENCH_MD = "bench.md"
CURVES_PNG = "curves.png"
RATIOS_PNG = "ratios.png"


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None,)
    return {"platform": platform.platform(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "load_avg_start": load[0]}


def claim_bench_dir(out: str | Path | None, name: str, root: str | Path = "bench") -> Path:
    """Create the bench directory: ``out`` (absent or empty) or ``root/<name>-<UTC time>``."""
    from kerastricks.rundir import claim_out_dir, make_run_dir

    if out is None:
        return make_run_dir(root, name)
    return claim_out_dir(out, hint="choose a new --out")


def bench_name(spec: BenchSpec) -> str:
    if spec.source.startswith("preset:"):
        return spec.source.split(":", 1)[1]
    return Path(spec.source).stem


def run(spec: BenchSpec, out: str | Path | None = None, *, command: str = "", root: str | Path = "bench",
        progress: Callable[[str], None] = print, timeout: float | None = None) -> dict[str, Any]:
    """Run a resolved bench and write its directory; returns what ``bench.json`` holds.

    Args:
        spec: From :func:`resolve_bench`.
        out: The bench directory (must be absent or empty). Default:
            ``root/<name>-<UTC time>``.
        command: The command line, recorded in the outputs.
        root: Parent of an auto-named bench directory.
        progress: Called with each progress line.
        timeout: Seconds after which one run is killed and recorded as failed.
    """
    directory = claim_bench_dir(out, bench_name(spec), root)
    machine = machine_info()
    started = time.perf_counter()
    has_target = spec.target is not None
    repeat = 1 if spec.repeat == "auto" else int(spec.repeat)
    n_runs = len(spec.variants) * len(spec.seeds) * repeat
    rounds = f" × {repeat} repetitions" if repeat > 1 else ""
    more = f", then more rounds until settled (budget {spec.budget:g} s)" if spec.repeat == "auto" else ""
    progress(f"bench: {len(spec.variants)} variants × {len(spec.seeds)} seeds{rounds} = {n_runs} runs{more}, "
             f"each in its own process; writing {directory}")
    for variant in spec.variants:
        progress(f"  {variant.label()}")

    state: dict[str, Any] = {}

    def assemble(records: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        versions = next((kio.read_json(Path(r["run_dir"]) / "report.json").get("versions")
                         for r in records if r.get("status") == "ok"), None)
        gpu = any(r.get("device_memory_peak_bytes") is not None for r in records)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return {
            "command": command,
            "source": spec.source,
            "description": spec.description,
            "seeds": spec.seeds,
            "target": spec.target,
            "common_overrides": spec.common,
            "complete": final and len(records) == len(spec.variants) * max(1, state.get("rounds", 0)),
            "repeat": spec.repeat,
            "budget_s": spec.budget,
            "rounds": state.get("rounds"),
            "stopped": state.get("stopped"),
            "noise": spec.noise,
            "level": LEVEL,
            "variants": summarize(spec.variants, records, has_target=has_target, noise=spec.noise),
            "machine": {**machine, "gpu": gpu, "load_avg_end": load},
            "versions": versions,
            "bench_time_s": time.perf_counter() - started,
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def write(records: list[dict[str, Any]], final: bool = False) -> dict[str, Any]:
        bench = assemble(records, final)
        kio.write_json(directory / BENCH_JSON, bench)
        kio.write_text(directory / BENCH_MD, markdown(bench))
        return bench

    records: list[dict[str, Any]] = []
    try:
        run_bench(spec, directory, progress=progress, timeout=timeout, records=records, on_record=write, state=state)
    except KeyboardInterrupt:
        write(records)
        progress(f"interrupted; partial results in {directory / BENCH_MD}")
        raise
    bench = write(records, final=True)
    plots = []
    if plot_curves(bench, directory / CURVES_PNG):
        plots.append(CURVES_PNG)
    if plot_ratios(bench, directory / RATIOS_PNG):
        plots.append(RATIOS_PNG)
    bench["directory"] = str(directory)
    bench["plots"] = plots
    return bench


__all__ = [
    "BenchSpec",
    "Variant",
    "claim_bench_dir",
    "machine_info",
    "markdown",
    "parse_target",
    "parse_variant",
    "read_bench_file",
    "resolve_bench",
    "run",
    "run_order",
]
