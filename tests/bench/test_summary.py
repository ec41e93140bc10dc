"""Bench statistics against an independent numpy computation; Markdown and plots."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from kerastricks.bench.spec import Variant
from kerastricks.bench.summary import markdown, plot_curves, plot_ratios, run_values, summarize


def record(variant, seed, *, ttt=10.0, eps=1000.0, rss=2**30, acc=0.9, status="ok"):
    rec = {"variant": variant, "seed": seed, "status": status, "log": f"{variant}-{seed}.log",
           "run_dir": "x", "exit_code": 0 if status == "ok" else 1}
    if status != "ok":
        rec["error"] = "boom"
        return rec
    rec.update({"time_to_target_s": ttt, "epochs_to_target": None if ttt is None else 3, "examples_per_s": eps,
                "peak_rss_bytes": rss, "optimizer_state_bytes": 4000, "params": 1000, "process_time_s": 20.0,
                "examples_trained": 100, "fresh_examples": 100,
                "test": {"accuracy": acc, "loss": 0.3}, "curve_metric": "val_accuracy",
                "curve": [[1.0, 0.5], [2.0, acc]]})
    return rec


VARIANTS = [Variant("base"), Variant("fast", ["train.x=1"])]


def test_medians_and_paired_ratios_match_numpy():
    rng = np.random.default_rng(0)
    base_t, fast_t = rng.uniform(5, 20, 5), rng.uniform(5, 20, 5)
    base_e, fast_e = rng.uniform(500, 2000, 5), rng.uniform(500, 2000, 5)
    base_a, fast_a = rng.uniform(0.8, 1, 5), rng.uniform(0.8, 1, 5)
    records = []
    for s in range(5):
        records.append(record("base", s, ttt=base_t[s], eps=base_e[s], acc=base_a[s]))
        records.append(record("fast", s, ttt=fast_t[s], eps=fast_e[s], acc=fast_a[s]))
    base, fast = summarize(VARIANTS, records, has_target=True)
    assert base["baseline"] and not fast["baseline"]
    assert fast["median"]["time_to_target"] == pytest.approx(np.median(fast_t))
    assert fast["min"]["examples_per_s"] == pytest.approx(fast_e.min())
    assert fast["max"]["examples_per_s"] == pytest.approx(fast_e.max())
    # ratios are per seed pair, then the median -- not a ratio of medians
    assert fast["ratio_vs_baseline"]["time_to_target"] == pytest.approx(np.median(fast_t / base_t))
    assert fast["ratio_min_max"]["examples_per_s"] == pytest.approx([(fast_e / base_e).min(), (fast_e / base_e).max()])
    assert fast["delta_vs_baseline"]["test_accuracy"] == pytest.approx(np.median(fast_a - base_a))
    assert base["ratio_vs_baseline"]["time_to_target"] == pytest.approx(1.0)
    assert fast["target_reached"] == 5


def test_unreached_target_counts_as_infinitely_slow():
    records = [record("base", s, ttt=10.0) for s in range(3)]
    records += [record("fast", 0, ttt=5.0), record("fast", 1, ttt=None), record("fast", 2, ttt=6.0)]
    _, fast = summarize(VARIANTS, records, has_target=True)
    assert fast["median"]["time_to_target"] == pytest.approx(6.0)  # median of (5, 6, inf)
    assert fast["max"]["time_to_target"] is None  # inf is not JSON
    assert fast["ratio_vs_baseline"]["time_to_target"] == pytest.approx(np.median([0.5, 0.6]))  # reached pairs only
    assert fast["target_reached"] == 2
    records[3]["time_to_target_s"] = None
    _, fast = summarize(VARIANTS, records, has_target=True)
    assert fast["median"]["time_to_target"] is None  # two of three never reached it
    json.dumps(fast, allow_nan=False)


def test_failed_runs_are_kept_but_not_counted():
    records = [record("base", 0), record("fast", 0, status="failed"), record("fast", 1, eps=500.0),
               record("base", 1)]
    base, fast = summarize(VARIANTS, records, has_target=True)
    assert (fast["n_ok"], fast["n_runs"]) == (1, 2)
    assert fast["ratio_vs_baseline"]["examples_per_s"] == pytest.approx(0.5)
    text = markdown(_bench([base, fast]))
    assert "Failed runs" in text and "fast seed 0: boom" in text


def test_run_values_without_target():
    values = run_values(record("base", 0, ttt=None), has_target=False)
    assert values["time_to_target"] is None and values["test_accuracy"] == 0.9
    assert math.isinf(run_values(record("base", 0, ttt=None), has_target=True)["time_to_target"])


def _bench(variants):
    return {"variants": variants, "source": "preset:mnist1d", "command": "kerastricks bench --preset mnist1d",
            "seeds": [0, 1], "target": {"metric": "val_accuracy", "value": 0.98, "mode": "auto"},
            "machine": {"cpu": "Test CPU", "cpu_count": 2, "load_avg_start": 0.5}, "finished_utc": "2026-11-21T00:00"}


def test_markdown_table():
    records = [record("base", s, ttt=10.0 + s) for s in range(2)] + [record("fast", s, ttt=5.0) for s in range(2)]
    text = markdown(_bench(summarize(VARIANTS, records, has_target=True)))
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.startswith("| variant"))
    rows = [ln for ln in lines if ln.startswith("| **base**") or ln.startswith("| fast")]
    assert len(rows) == 2
    assert all(row.count("|") == header.count("|") for row in rows)
    assert "`kerastricks bench --preset mnist1d`" in text
    assert "target val_accuracy ≥ 0.98" in text
    fast_row = rows[1]
    # time-to-target ratio, paired: 5/10 and 5/11; geometric mean and its 95 % t interval on the log ratios
    logs = np.log([5 / 10, 5 / 11])
    half = 12.706204736174698 * logs.std(ddof=1) / np.sqrt(2)  # t(0.975, 1 degree of freedom)
    lo, mid, hi = np.exp(logs.mean() - half), np.exp(logs.mean()), np.exp(logs.mean() + half)
    assert f"{mid:.3f} [{lo:.3f}, {hi:.3f}] lower" in fast_row  # the interval lies below 0.95
    assert "- fast: `train.x=1`" in text
    # a run that never reached the target is infinitely slow: the range ends at ∞, not at 0
    records = [record("base", s) for s in range(3)] + [record("fast", s, ttt=ttt) for s, ttt in enumerate([5, 6, None])]
    fast_row = next(ln for ln in markdown(_bench(summarize(VARIANTS, records, has_target=True))).splitlines()
                    if ln.startswith("| fast"))
    assert "| 6.0 (5.0–∞) |" in fast_row and "| 2/3 |" in fast_row


def test_plots_are_pngs(tmp_path):
    records = [record("base", s) for s in range(2)] + [record("fast", s, eps=2000.0) for s in range(2)]
    bench = _bench(summarize(VARIANTS, records, has_target=True))
    assert plot_curves(bench, tmp_path / "curves.png")
    assert plot_ratios(bench, tmp_path / "ratios.png")
    for name in ("curves.png", "ratios.png"):
        with Image.open(tmp_path / name) as img:
            assert img.format == "PNG" and img.size[0] > 300
    only_base = _bench(summarize(VARIANTS[:1], records[:2], has_target=True))
    assert not plot_ratios(only_base, tmp_path / "none.png")  # nothing to compare
    assert not (tmp_path / "none.png").exists()
