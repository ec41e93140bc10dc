"""Bench intervals and verdicts against scipy; the --repeat auto stopping rule with a stand-in runner."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from kerastricks import io as kio
from kerastricks.bench import run as run_bench_dir
from kerastricks.bench import runner as runner_mod
from kerastricks.bench.runner import run_bench
from kerastricks.bench.spec import resolve_bench
from kerastricks.bench.stats import difference_interval, ratio_interval, settled, stop_reason, verdict
from kerastricks.bench.summary import markdown, summarize


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy, on near-equal samples
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.2, 5.0), min_size=2, max_size=12), st.sampled_from([0.9, 0.95, 0.99]))
def test_ratio_interval_is_scipys_t_interval_on_log_ratios(ratios, level):
    got = ratio_interval(ratios, level)
    logs = np.log(ratios)
    ci = sps.ttest_1samp(logs, 0.0).confidence_interval(level)  # an independent route to the same interval
    assert got["n"] == len(ratios) and got["level"] == level
    assert got["center"] == pytest.approx(float(np.exp(logs.mean())), rel=1e-12)  # geometric mean
    if np.ptp(logs) > 1e-6:  # scipy's own moments lose precision on near-identical values
        assert got["low"] == pytest.approx(math.exp(ci.low), rel=1e-9)
        assert got["high"] == pytest.approx(math.exp(ci.high), rel=1e-9)
    assert got["low"] <= got["center"] <= got["high"]


def test_difference_interval_and_degenerate_inputs():
    deltas = [0.01, -0.004, 0.006, 0.002]
    ci = sps.ttest_1samp(deltas, 0.0).confidence_interval(0.95)
    got = difference_interval(deltas)
    assert (got["low"], got["high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert got["center"] == pytest.approx(np.mean(deltas))
    assert ratio_interval([1.1]) is None and difference_interval([0.1]) is None  # one pair: no interval
    assert ratio_interval([1.1, float("inf"), -1.0, float("nan")]) is None  # only finite, positive ratios count
    same = ratio_interval([0.5, 0.5, 0.5])
    assert same["low"] == pytest.approx(0.5) and same["high"] == pytest.approx(0.5)


@pytest.mark.parametrize("low, high, expected", [
    (1.06, 1.30, "higher"),
    (0.70, 0.94, "lower"),
    (0.96, 1.04, "within noise"),
    (0.95, 1.05, "within noise"),   # the band's edges belong to it
    (0.97, 1.08, "inconclusive"),   # crosses 1 + noise
    (0.90, 0.99, "inconclusive"),   # crosses 1 - noise
    (0.80, 1.30, "inconclusive"),   # spans the whole band
])
def test_verdict_against_the_noise_band(low, high, expected):
    assert verdict({"low": low, "high": high, "center": (low + high) / 2}, noise=0.05) == expected


def test_verdict_without_an_interval_and_other_bands():
    assert verdict(None) == "inconclusive"
    assert verdict({"low": 1.06, "high": 1.08}, noise=0.1) == "within noise"
    assert verdict({"low": 1.06, "high": 1.08}, noise=0.02) == "higher"


def entry(name, baseline=False, **verdicts):
    return {"name": name, "baseline": baseline, "verdict": verdicts}


def test_settled_and_stop_reason_order():
    base = entry("a", baseline=True)
    decided = [base, entry("b", examples_per_s="higher", cpu_per_example="within noise", peak_rss="inconclusive")]
    open_ = [base, entry("b", examples_per_s="higher", cpu_per_example="inconclusive")]
    assert settled(decided)  # peak RSS does not decide when to stop
    assert not settled(open_) and not settled([base, entry("b")])  # no speed figure yet: not settled
    kw = dict(elapsed=100.0, round_seconds=20.0, budget=200.0, rounds=5, max_rounds=100)
    assert stop_reason(decided, **kw) == "settled"
    assert stop_reason(open_, **kw) is None
    assert stop_reason(open_, **{**kw, "elapsed": 181.0}) == "budget"
    assert stop_reason(open_, **{**kw, "rounds": 100}) == "max rounds"


# ---- the stopping rule, run by run_bench with a stand-in for the training processes ---------------------------


class FakeRuns:
    """Stands in for `kerastricks train`: each run's examples/s from ``speed(variant, k)``; each takes
    ``seconds`` of a fake clock."""

    def __init__(self, speed, seconds=10.0):
        self.speed, self.seconds, self.now, self.calls = speed, seconds, 0.0, []

    def clock(self):
        return self.now

    def __call__(self, variant, seed, repeat, recipe_path, run_dir, log, timeout):
        self.calls.append((variant.name, seed, repeat))
        self.now += self.seconds
        run_dir.mkdir(parents=True, exist_ok=True)
        kio.write_json(run_dir / "report.json", {"versions": {"keras": "3"}})
        eps = self.speed(variant.name, len(self.calls))
        return {"variant": variant.name, "seed": seed, "status": "ok", "exit_code": 0, "run_dir": str(run_dir),
                "log": str(log), "process_time_s": self.seconds, "examples_per_s": eps,
                "cpu_s_per_example": 1.0 / eps, "speed_window": {"seconds": 8.0, "steps": 700},
                "test": {"accuracy": 0.99}}


def spec_for(seeds, repeat="auto", budget=None):
    return resolve_bench(preset="mnist1d", variants=["a", "b"], seeds=seeds, repeat=repeat, budget=budget)


def test_auto_stops_at_the_first_round_whose_verdicts_are_decided(tmp_path):
    # b is 1.2x as fast as a, with +-8 % pair-to-pair noise: two pairs give a wide interval, more pairs narrow it
    wobble = [1.08, 0.93, 1.05, 0.96, 1.07, 0.92, 1.04, 0.95, 1.06, 0.94]
    fake = FakeRuns(lambda name, k: 1000.0 * (1.2 * wobble[(k - 1) // 2 % len(wobble)] if name == "b" else 1.0))
    state = {}
    records = run_bench(spec_for(2), tmp_path, progress=lambda line: None, run_one=fake, warm_up=False,
                        clock=fake.clock, state=state)
    ratios = [r["examples_per_s"] / 1000.0 for r in records if r["variant"] == "b"]
    # the reference: the first number of pairs (>= the 2 planned) whose interval lies above 1.05
    expected = next(n for n in range(2, len(wobble) + 1) if ratio_interval(ratios[:n])["low"] > 1.05)
    assert state == {"rounds": expected, "stopped": "settled"}
    assert expected > 2 and len(records) == 2 * expected
    # rounds cycle over the seeds, repetitions counted per seed; the order alternates a b, b a, ...
    assert [c[1:] for c in fake.calls[::2]] == [(i % 2, i // 2) for i in range(expected)]
    assert [c[0] for c in fake.calls[:4]] == ["a", "b", "b", "a"]
    for r in records:  # load average before and after every run
        assert len(r["load_avg_before"]) == 3 and len(r["load_avg_after"]) == 3
    assert (tmp_path / "runs" / "b" / "seed0-rep1" / "report.json").exists()


def test_auto_stops_before_the_budget_when_nothing_settles(tmp_path):
    # b's ratio alternates 1.3, 0.8 round by round: the interval keeps spanning the band
    fake = FakeRuns(lambda name, k: 1000.0 * ((1.3 if (k - 1) // 2 % 2 == 0 else 0.8) if name == "b" else 1.0))
    state = {}
    run_bench(spec_for(2, budget=100), tmp_path, progress=lambda line: None, run_one=fake, warm_up=False,
              clock=fake.clock, state=state)
    # rounds take 20 s: after round r, another starts only if 20 r + 20 <= 100
    assert state == {"rounds": 5, "stopped": "budget"} and fake.now <= 100


def test_fixed_repeat_runs_every_seed_that_many_times(tmp_path):
    fake = FakeRuns(lambda name, k: 1000.0)
    state = {}
    records = run_bench(spec_for(3, repeat=2), tmp_path, progress=lambda line: None, run_one=fake, warm_up=False,
                        clock=fake.clock, state=state)
    assert state == {"rounds": 6, "stopped": None}
    assert sorted((r["variant"], r["seed"], r["repeat"]) for r in records) == sorted(
        (v, s, k) for v in "ab" for s in range(3) for k in range(2))
    (a, b) = summarize(spec_for(3, repeat=2).variants, records, has_target=False)
    assert b["ratio_interval"]["examples_per_s"]["n"] == 6  # paired by (seed, repetition)
    assert b["verdict"]["examples_per_s"] == "within noise" and b["short_windows"] == 0


def test_bench_json_holds_intervals_verdicts_and_loads(tmp_path, monkeypatch):
    fake = FakeRuns(lambda name, k: 1000.0 * (0.7 if name == "b" else 1.0) * (1 + 0.01 * (k % 3)))
    monkeypatch.setattr(runner_mod, "train_run", lambda variant, seed, repeat, path, run_dir, log, timeout, metric:
                        fake(variant, seed, repeat, path, run_dir, log, timeout))
    monkeypatch.setattr(runner_mod, "_spawn", lambda cmd, log, timeout: (0, 0.0, None))  # the warm-up
    result = run_bench_dir(spec_for(2, repeat=2), tmp_path / "out", progress=lambda line: None)
    bench = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert bench["complete"] and bench["repeat"] == 2 and bench["rounds"] == 4
    assert bench["noise"] == 0.05 and bench["level"] == 0.95 and bench["budget_s"] is None
    b = bench["variants"][1]
    interval = b["ratio_interval"]["examples_per_s"]
    assert interval["n"] == 4 and interval["high"] < 0.95 and b["verdict"]["examples_per_s"] == "lower"
    assert b["verdict"]["cpu_per_example"] == "higher"  # 1/0.7 as much CPU per example
    assert all(len(r["load_avg_before"]) == 3 and len(r["load_avg_after"]) == 3 for r in b["runs"])
    md = markdown(result)
    assert f"{interval['center']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}] lower" in md
    assert "load average" in md
