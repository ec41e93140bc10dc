"""Turn a bench's run records into per-variant statistics, a Markdown table and plots.

Statistics, per variant, over its runs: median, min and max of every figure.
Against the baseline (the first variant), each run is paired with the
baseline's run of the same seed and repetition; the ratio (``variant /
baseline``) or, for quality metrics, the difference (``variant - baseline``)
is computed per pair, and the median and min–max of those are reported, with
an interval and a verdict (:mod:`kerastricks.bench.stats`). Pairing removes the
seed's own effect (an easy split, a lucky initialization) and the machine's
load at the time (the two runs of a pair run back to back) from the comparison.

Time to target: a run that never reached the target counts as infinitely
slow for the variant's median (so two of three seeds reaching it gives a
finite median, one of three does not), and a pair is used for the ratio only
when both runs reached it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kerastricks.bench.stats import DEFAULT_NOISE, difference_interval, ratio_interval, verdict

#: (record key, short name, how it is compared with the baseline)
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("time_to_target_s", "time_to_target", "ratio"),
    ("epochs_to_target", "epochs_to_target", "ratio"),
    ("steps_to_target", "steps_to_target", "ratio"),
    ("examples_to_target", "examples_to_target", "ratio"),
    ("fresh_examples_to_target", "fresh_examples_to_target", "ratio"),
    ("examples_per_s", "examples_per_s", "ratio"),
    ("cpu_s_per_example", "cpu_per_example", "ratio"),
    ("cpu_time_s", "cpu_time", "ratio"),
    ("fit_time_s", "fit_time", "ratio"),
    ("wall_time_s", "wall_time", "ratio"),
    ("process_time_s", "process_time", "ratio"),
    ("peak_rss_bytes", "peak_rss", "ratio"),
    ("device_memory_peak_bytes", "device_memory_peak", "ratio"),
    ("optimizer_state_bytes", "optimizer_state_bytes", "ratio"),
    ("optimizer_state_scalars", "optimizer_state_scalars", "ratio"),
    ("params", "params", "ratio"),
    ("examples_trained", "examples_trained", "ratio"),
    ("fresh_examples", "fresh_examples", "ratio"),
    ("epochs_run", "epochs_run", "ratio"),
)
#: Figures that are missing when the target was not reached.
TO_TARGET = ("time_to_target", "epochs_to_target", "steps_to_target", "examples_to_target",
             "fresh_examples_to_target")
#: Test metrics, in the order the table prefers them.
TEST_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "loss", "mae", "rmse", "r2")
#: A run's timed window (training steps after the first epoch) shorter than this gives noisy speed figures.
MIN_WINDOW_S = 5.0
MIN_WINDOW_STEPS = 200


def short_window(record: dict[str, Any]) -> bool:
    """True when a run's timed window is under :data:`MIN_WINDOW_S` seconds or :data:`MIN_WINDOW_STEPS` steps."""
    window = record.get("speed_window") or {}
    seconds, steps = window.get("seconds"), window.get("steps")
    return (seconds is not None and seconds < MIN_WINDOW_S) or (steps is not None and steps < MIN_WINDOW_STEPS)


def pair_key(record: dict[str, Any]) -> tuple[int, int]:
    """What pairs a run with the baseline's: its seed and repetition."""
    return int(record["seed"]), int(record.get("repeat", 0))


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _clean(x: Any) -> Any:
    """JSON-safe: infinities and NaN become None."""
    return x if (x is None or _finite(x)) else None


def run_values(record: dict[str, Any], has_target: bool) -> dict[str, float | None]:
    """A run's figures under their short names (``test_<metric>`` for test metrics)."""
    values: dict[str, float | None] = {}
    for key, short, _ in FIGURES:
        value = record.get(key)
        if short in TO_TARGET and has_target and value is None:
            value = math.inf  # not reached
        values[short] = value if (_finite(value) or value == math.inf) else None
    for metric, value in (record.get("test") or {}).items():
        values[f"test_{metric}"] = value if _finite(value) else None
    return values


def _stats(values: Sequence[float | None]) -> tuple[float | None, float | None, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return None, None, None
    return _clean(statistics.median(present)), _clean(min(present)), _clean(max(present))


def summarize(spec_variants: Sequence[Any], records: Sequence[dict[str, Any]], *,
              has_target: bool, noise: float = DEFAULT_NOISE) -> list[dict[str, Any]]:
    """Per-variant statistics and comparisons with the baseline (the first variant).

    ``noise``: the half-width of the band around 1 within which a ratio is not
    told apart from 1 (:func:`kerastricks.bench.stats.verdict`).
    """
    by_variant: dict[str, dict[tuple[int, int], dict[str, Any]]] = {v.name: {} for v in spec_variants}
    for record in records:
        if record.get("status") == "ok":
            by_variant[record["variant"]][pair_key(record)] = run_values(record, has_target)
    base_name = spec_variants[0].name
    base = by_variant[base_name]
    out = []
    for variant in spec_variants:
        runs = by_variant[variant.name]
        keys = sorted({k for vals in runs.values() for k in vals})
        entry: dict[str, Any] = {
            "name": variant.name,
            "overrides": list(variant.overrides),
            "baseline": variant.name == base_name,
            "runs": [r for r in records if r["variant"] == variant.name],
            "n_ok": len(runs),
            "n_runs": sum(1 for r in records if r["variant"] == variant.name),
            "median": {}, "min": {}, "max": {},
            "ratio_vs_baseline": {}, "ratio_min_max": {}, "ratio_interval": {}, "verdict": {},
            "delta_vs_baseline": {}, "delta_min_max": {}, "delta_interval": {},
            "short_windows": sum(1 for r in records if r["variant"] == variant.name and r.get("status") == "ok"
                                 and short_window(r)),
        }
        if has_target:
            entry["target_reached"] = sum(1 for vals in runs.values() if _finite(vals.get("time_to_target")))
        for key in keys:
            med, lo, hi = _stats([vals.get(key) for vals in runs.values()])
            entry["median"][key], entry["min"][key], entry["max"][key] = med, lo, hi
            pairs = [(vals.get(key), base[seed].get(key)) for seed, vals in runs.items() if seed in base]
            pairs = [(v, b) for v, b in pairs if _finite(v) and _finite(b)]
            if key.startswith("test_"):
                deltas = [v - b for v, b in pairs]
                med, lo, hi = _stats(deltas)
                if med is not None:
                    entry["delta_vs_baseline"][key] = med
                    entry["delta_min_max"][key] = [lo, hi]
                    entry["delta_interval"][key] = difference_interval(deltas)
            else:
                ratios = [v / b for v, b in pairs if b != 0]
                med, lo, hi = _stats(ratios)
                if med is not None:
                    entry["ratio_vs_baseline"][key] = med
                    entry["ratio_min_max"][key] = [lo, hi]
                    entry["ratio_interval"][key] = ratio_interval(ratios)
                    entry["verdict"][key] = verdict(entry["ratio_interval"][key], noise)
        out.append(entry)
    return out


# --------------------------------------------------------------------------- Markdown


def _load1(load: Any) -> float | None:
    """The 1-minute figure of a recorded load average (a list of three, or one number)."""
    if isinstance(load, (list, tuple)):
        load = load[0] if load else None
    return float(load) if _finite(load) else None


def _num(x: float | None, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def _cell(entry: dict[str, Any], key: str, fmt: str, scale: float = 1.0) -> str:
    med, lo, hi = (entry[s].get(key) for s in ("median", "min", "max"))
    if med is None:
        return "not reached" if key in TO_TARGET and entry.get("n_ok") else "–"
    if hi is None and key in TO_TARGET:  # a run that never reached the target: infinitely slow
        return f"{format(med / scale, fmt)} ({format((lo or 0) / scale, fmt)}–∞)"
    med, lo, hi = med / scale, (lo or 0) / scale, (hi or 0) / scale
    if entry["n_ok"] <= 1 or lo == hi:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(lo, fmt)}–{format(hi, fmt)})"


def _ratio_cell(entry: dict[str, Any], key: str) -> str:
    """The geometric-mean ratio, its interval and verdict; with one pair, the ratio alone."""
    if entry["baseline"]:
        return "1" if entry["median"].get(key) is not None else "–"
    med = entry["ratio_vs_baseline"].get(key)
    if med is None:
        return "–"
    interval = entry.get("ratio_interval", {}).get(key)
    if interval is None:
        lo, hi = entry["ratio_min_max"][key]
        text = f"{med:.2f}" if lo == hi else f"{med:.2f} ({lo:.2f}–{hi:.2f})"
        return text + (" inconclusive" if "verdict" in entry else "")
    text = f"{interval['center']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"
    return f"{text} {entry['verdict'][key]}"


def _delta_cell(entry: dict[str, Any], key: str, fmt: str = "+.4f") -> str:
    if entry["baseline"]:
        return "–"
    med = entry["delta_vs_baseline"].get(key)
    if med is None:
        return "–"
    lo, hi = entry["delta_min_max"][key]
    return format(med, fmt) if lo == hi else f"{format(med, fmt)} ({format(lo, fmt)}…{format(hi, fmt)})"


def primary_metric(variants: Sequence[dict[str, Any]]) -> str | None:
    """The test metric the table leads with (accuracy for classification, else MAE or loss)."""
    present = {k for v in variants for k in v["median"] if k.startswith("test_")}
    return next((f"test_{m}" for m in TEST_METRICS if f"test_{m}" in present), None)


def _bytes_fmt(n: float | None) -> str:
    if n is None:
        return "–"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def markdown(bench: dict[str, Any]) -> str:
    """``bench.md``: the command, the setting, one table, the definitions."""
    variants = bench["variants"]
    target = bench.get("target")
    lines = [f"# kerastricks bench: {bench.get('description') or bench['source']}", ""]
    lines.append(f"Command: `{bench['command']}`")
    lines.append("")
    seeds = bench["seeds"]
    seed_text = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"
    machine = bench.get("machine", {})
    setting = [f"seeds {seed_text} ({len(seeds)} per variant)"]
    if target:
        op = "≤" if target.get("mode") == "min" else "≥"
        setting.append(f"target {target['metric']} {op} {target['value']}")
    setting.append(f"{machine.get('cpu', 'unknown CPU')}, {machine.get('cpu_count', '?')} cores"
                   + (", GPU" if machine.get("gpu") else ""))
    loads = [x for v in variants for r in v["runs"] for x in (_load1(r.get("load_avg_before")),
                                                                 _load1(r.get("load_avg_after"))) if x is not None]
    if loads:
        setting.append(f"load average {min(loads):.1f}–{max(loads):.1f} around the runs")
    elif machine.get("load_avg_start") is not None:
        setting.append(f"load average {machine['load_avg_start']:.1f} at start")
    if bench.get("repeat") not in (None, 1):
        rounds = bench.get("rounds")
        setting.append(f"--repeat {bench['repeat']}" + (f": {rounds} rounds" if rounds else "")
                       + (f" (stopped: {bench['stopped']})" if bench.get("stopped") else ""))
    setting.append(bench.get("finished_utc", "")[:10])
    lines.append("Setting: " + " · ".join(s for s in setting if s))
    lines.append("")
    metric = primary_metric(variants)
    metric_label = metric.removeprefix("test_").replace("_", " ") if metric else None
    headers = ["variant"]
    if metric:
        headers += [f"test {metric_label}", "Δ vs baseline"]
    if target:
        headers += ["time to target (s)", "× baseline", "epochs to target", "reached"]
    headers += ["examples/s", "× baseline", "CPU µs/example", "× baseline", "peak RSS (MiB)", "× baseline"]
    show_device = any(v["median"].get("device_memory_peak") for v in variants)
    if show_device:
        headers += ["device peak (MiB)", "× baseline"]
    show_fresh = any(v["median"].get("fresh_examples") != v["median"].get("examples_trained") for v in variants)
    if show_fresh and target:
        headers += ["fresh examples to target"]
    headers += ["optimizer state", "params"]
    rows = []
    for v in variants:
        row = [f"**{v['name']}**" if v["baseline"] else v["name"]]
        if metric:
            row += [_cell(v, metric, ".4f"), _delta_cell(v, metric)]
        if target:
            row += [_cell(v, "time_to_target", ".1f"), _ratio_cell(v, "time_to_target"),
                    _cell(v, "epochs_to_target", ".0f"), f"{v.get('target_reached', 0)}/{v['n_ok']}"]
        row += [_cell(v, "examples_per_s", ".0f"), _ratio_cell(v, "examples_per_s"),
                _cell(v, "cpu_per_example", ".1f", 1e-6), _ratio_cell(v, "cpu_per_example"),
                _cell(v, "peak_rss", ".0f", 2**20), _ratio_cell(v, "peak_rss")]
        if show_device:
            row += [_cell(v, "device_memory_peak", ".0f", 2**20), _ratio_cell(v, "device_memory_peak")]
        if show_fresh and target:
            row += [_cell(v, "fresh_examples_to_target", ".0f")]
        row += [_bytes_fmt(v["median"].get("optimizer_state_bytes")), _num(v["median"].get("params"), ".0f")]
        rows.append(row)
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    lines.append("")
    noise = bench.get("noise", DEFAULT_NOISE)
    lines.append("Figures: median (min–max) over runs. “× baseline”: the geometric mean of the per-pair ratios "
                 "against the baseline (bold) run with the same seed and repetition, its 95 % interval in "
                 f"brackets and the verdict against 1 ± {noise:g} (the A/A noise): higher / lower (the whole "
                 "interval outside the band), within noise (inside it), inconclusive (crossing an edge, or fewer "
                 "than 2 pairs: then the median and min–max are shown). “Δ vs baseline”: median (min–max) of "
                 "the per-pair differences. Examples/s and CPU µs/example (the training process's user + system "
                 "CPU time) come from each run's timed window: every training step after the first epoch, "
                 "validation left out. Peak RSS is the whole training process's.")
    short = sum(v.get("short_windows", 0) for v in variants)
    if short:
        lines.append("")
        lines.append(f"**{short} run(s) timed fewer than {MIN_WINDOW_S:g} s or {MIN_WINDOW_STEPS} steps after "
                     "their first epoch**: their examples/s and CPU time per example are noisy; raise "
                     "`train.epochs` (or use `--repeat auto`) for a steadier figure.")
    lines.append("")
    lines.append("Variants:")
    lines.append("")
    for v in variants:
        change = "; ".join(f"`{o}`" for o in v["overrides"]) or "the recipe as is"
        lines.append(f"- {v['name']}: {change}")
    failed = [r for v in variants for r in v["runs"] if r.get("status") != "ok"]
    if failed:
        lines.append("")
        lines.append("Failed runs:")
        lines.append("")
        lines.extend(f"- {r['variant']} seed {r['seed']}: {r.get('error', '')} (log: `{r['log']}`)" for r in failed)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plots


def plot_curves(bench: dict[str, Any], path: Path) -> bool:
    """Validation (or the target's) metric against wall time, one colour per variant."""
    from kerastricks.plots import _figure, _save

    variants = bench["variants"]
    if not any(r.get("curve") for v in variants for r in v["runs"]):
        return False
    fig = _figure(6.4, 4.2)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.92)
    metric = None
    for i, v in enumerate(variants):
        color = f"C{i % 10}"
        first = True
        for run in v["runs"]:
            curve = run.get("curve") or []
            if not curve:
                continue
            metric = run.get("curve_metric")
            xs, ys = zip(*curve)
            ax.plot(xs, ys, color=color, alpha=0.8, linewidth=1.2, label=v["name"] if first else None)
            first = False
    target = bench.get("target")
    if target and target["metric"] == metric:
        ax.axhline(target["value"], color="0.4", linestyle="--", linewidth=1, label="target")
    values = [y for v in variants for r in v["runs"] for _, y in (r.get("curve") or [])]
    if metric and "acc" in metric and values:
        # zoom on the interesting part: from below the median value (or the target) to the best
        middle = sorted(values)[len(values) // 2]
        goal = target["value"] if target and target["metric"] == metric else middle
        ax.set_ylim(max(0.0, min(middle, goal) - 0.15), min(1.0, max(max(values), goal) + 0.01))
    ax.set_xlabel("wall time since the start of training (s)")
    ax.set_ylabel(metric or "metric")
    ax.set_title("learning curves, every seed")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
    return True


RATIO_PLOT_KEYS = ("time_to_target", "examples_per_s", "cpu_per_example", "peak_rss", "optimizer_state_bytes")


def plot_ratios(bench: dict[str, Any], path: Path) -> bool:
    """Bars: ratio to the baseline per variant and figure: the geometric mean with its 95 % interval as
    whiskers where there is one (2 pairs or more), else the median with min–max whiskers."""
    from kerastricks.plots import _figure, _save

    others = [v for v in bench["variants"] if not v["baseline"]]
    keys = [k for k in RATIO_PLOT_KEYS if any(k in v["ratio_vs_baseline"] for v in others)]
    if not others or not keys:
        return False
    fig = _figure(max(5.0, 1.3 * len(others) * len(keys) ** 0.5 + 3), 4.0)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.2, top=0.9)
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        xs, meds, err_lo, err_hi = [], [], [], []
        for i, v in enumerate(others):
            med = v["ratio_vs_baseline"].get(key)
            if med is None:
                continue
            lo, hi = v["ratio_min_max"][key]
            interval = v.get("ratio_interval", {}).get(key)
            if interval is not None:
                med, lo, hi = interval["center"], interval["low"], interval["high"]
            xs.append(i + (j - (len(keys) - 1) / 2) * width)
            meds.append(med)
            err_lo.append(med - lo)
            err_hi.append(hi - med)
        ax.bar(xs, meds, width=width * 0.95, color=f"C{j}", label=key.replace("_", " "),
               yerr=[err_lo, err_hi], capsize=3)
    ax.axhline(1.0, color="0.3", linewidth=1)
    ax.set_xticks(range(len(others)))
    ax.set_xticklabels([v["name"] for v in others], rotation=20, ha="right")
    ax.set_ylabel(f"ratio to {bench['variants'][0]['name']} (95 % interval)")
    ax.set_title("variant / baseline, paired by seed")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    _save(fig, path)
    return True


__all__ = ["FIGURES", "MIN_WINDOW_S", "MIN_WINDOW_STEPS", "markdown", "pair_key", "plot_curves", "plot_ratios",
           "primary_metric", "run_values", "short_window", "summarize"]
