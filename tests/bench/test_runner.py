"""Bench runner: interleaved order, child measurement, run records, the CLI end to end."""

import json
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kerastricks import io as kio
from kerastricks.bench.runner import _spawn, describe, run_order, run_record
from kerastricks.bench.spec import Variant
from kerastricks.cli import main


@given(st.integers(1, 6), st.lists(st.integers(0, 1000), min_size=1, max_size=8, unique=True))
def test_run_order_is_interleaved_and_balanced(n_variants, seeds):
    order = run_order(n_variants, seeds)
    assert Counter(order) == Counter((s, v) for s in seeds for v in range(n_variants))  # each once
    # seeds run one after another, every variant within each seed's block
    for i, seed in enumerate(seeds):
        block = order[i * n_variants:(i + 1) * n_variants]
        assert {s for s, _ in block} == {seed}
        expected = list(range(n_variants)) if i % 2 == 0 else list(range(n_variants))[::-1]
        assert [v for _, v in block] == expected
    if len(seeds) % 2 == 0:  # over pairs of seeds, every variant's mean position is the same
        positions = {v: [] for v in range(n_variants)}
        for k, (_, v) in enumerate(order):
            positions[v].append(k % n_variants)
        means = {sum(p) / len(p) for p in positions.values()}
        assert len(means) == 1


def test_spawn_measures_the_childs_own_peak_rss(tmp_path):
    ballast = bytearray(400 * 2**20)  # this process grows: a child forked from it must not be charged for it
    ballast[::4096] = b"x" * len(ballast[::4096])
    code = "import numpy as np; a = np.ones(300 * 2**20 // 8); a += 1"
    exit_code, secs, peak = _spawn([sys.executable, "-c", code], tmp_path / "log", timeout=60)
    assert exit_code == 0 and secs > 0
    assert 300 * 2**20 <= peak < 390 * 2**20  # the child's 300 MiB array, not this process's memory
    exit_code, _, small = _spawn([sys.executable, "-c", "pass"], tmp_path / "log2", timeout=60)
    assert exit_code == 0 and small < 100 * 2**20
    del ballast
    assert not list(tmp_path.glob("*.rusage.json"))  # the launcher's report is consumed


def test_spawn_timeout_kills(tmp_path):
    exit_code, secs, _ = _spawn([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "log", timeout=0.5)
    assert exit_code != 0 and secs < 20


def test_spawn_records_failure_output(tmp_path):
    exit_code, _, _ = _spawn([sys.executable, "-c", "raise SystemExit('bad thing')"], tmp_path / "log", timeout=60)
    assert exit_code == 1
    assert "bad thing" in (tmp_path / "log").read_text()


def test_run_record_reads_the_report(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    kio.write_json(run_dir / "report.json", {
        "wall_time_s": 30.0, "fit_time_s": 25.0, "time_to_target_s": 12.5, "epochs_to_target": 10,
        "steps_to_target": 80, "examples_to_target": 10000, "examples_fresh_to_target": 5000,
        "examples_trained": 25000, "examples_fresh": 12500, "examples_per_s": 4000.0,
        "optimizer_state": {"scalars": 100, "bytes": 400}, "params": 50, "epochs_run": 25,
        "test": {"accuracy": 0.99, "per_class": [1.0], "loss": 0.1}, "device_memory_peak_bytes": None,
    })
    (run_dir / "metrics.csv").write_text("epoch,loss,val_accuracy,elapsed_s\n1,1.0,0.5,2.0\n2,0.5,0.9,3.5\n")
    rec = run_record(Variant("v"), 3, run_dir, tmp_path / "log", 0, 31.0, 2**29, "val_accuracy")
    assert rec["status"] == "ok"
    assert rec["fresh_examples_to_target"] == 5000 and rec["optimizer_state_bytes"] == 400
    assert rec["test"] == {"accuracy": 0.99, "loss": 0.1}  # lists left out
    assert rec["curve"] == [[2.0, 0.5], [3.5, 0.9]]
    assert "target at 12.5 s" in describe(rec) and "512 MiB" in describe(rec)
    (tmp_path / "log").write_text("Traceback ...\nValueError: broken\n")
    failed = run_record(Variant("v"), 3, tmp_path / "missing", tmp_path / "log", 1, 1.0, None, None)
    assert failed["status"] == "failed" and failed["error"] == "ValueError: broken"
    assert "FAILED (ValueError: broken)" in describe(failed)


# ---- the command line ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--variant", "a", "--variant", "b:techniques.ema.momentm=0.9"], "momentm"),
        (["--variant", "a", "--variant", "b:train.epochs"], "malformed variant"),
        (["--variant", "a:b:c=1"], "key '--variant': variant 'a': bad --set key path"),
        (["--target", "val_acc=0.9"], "unknown metric"),
        (["--target", "val_accuracy"], "malformed target"),
        (["--variant", "a", "--variant", "a:train.epochs=1"], "duplicate variant name"),
        (["--repeat", "often"], "key '--repeat': bad repetition count, expected 'auto' or an integer in [1, 100], "
                                "received often"),
        (["--repeat", "0"], "received 0"),
        (["--repeat", "auto", "--budget", "-5"], "key '--budget': bad time budget, expected a finite number of "
                                                 "seconds > 0, received -5"),
        (["--repeat", "2", "--budget", "60"], "key '--budget'"),
        (["--noise", "0.7"], "key '--noise': bad noise band"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args, fragment, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "--preset", "mnist1d", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("kerastricks: error:")
    assert fragment in err
    assert not out.exists()  # nothing created before the input is known good


def test_cli_bad_seeds_and_existing_out(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:  # argparse's own usage error
        main(["bench", "--seeds", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "positive integer" in err and len(err.strip().splitlines()) == 1
    out = tmp_path / "bench"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["bench", "--preset", "mnist1d", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and len(err.strip().splitlines()) == 1
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_cli_bench_end_to_end(tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "kerastricks", "bench", "--preset", "digits", "--set", "train.epochs=2",
           "--set", "train.plots=false", "--set", "model.name=mlp",
           "--variant", "base", "--variant", "bs32:train.batch_size=32",
           "--seeds", "1", "--repeat", "1", "--target", "val_accuracy=0.5", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[1/2] base" in proc.stdout and "[2/2] bs32" in proc.stdout  # progress lines
    bench = json.loads((out / "bench.json").read_text())
    assert bench["complete"] and [v["name"] for v in bench["variants"]] == ["base", "bs32"]
    base, bs32 = bench["variants"]
    for v in (base, bs32):
        (run,) = v["runs"]
        assert run["status"] == "ok" and run["seed"] == 0
        assert run["peak_rss_bytes"] > 100 * 2**20  # a TensorFlow process
        assert run["examples_per_s"] > 0 and run["test"]["accuracy"] > 0.3
        assert run["cpu_s_per_example"] > 0 and run["cpu_time_s"] > 0  # CPU time: the window's and wait4's
        assert run["speed_window"]["epochs"] == 1 and len(run["load_avg_before"]) == 3
        assert (out / "runs" / v["name"] / "seed0" / "report.json").exists()
    assert bs32["runs"][0]["epochs_run"] == 2
    assert set(bs32["ratio_vs_baseline"]) >= {"examples_per_s", "peak_rss", "optimizer_state_bytes"}
    assert bs32["verdict"]["examples_per_s"] == "inconclusive"  # one pair: no interval
    assert base["short_windows"] == 1  # a 2-epoch run times one epoch: flagged
    assert bench["machine"]["cpu_count"] >= 1 and bench["versions"]["tensorflow"]
    assert (out / "recipes" / "bs32.toml").read_text().count("batch_size = 32") == 1
    md = (out / "bench.md").read_text()
    assert "| **base**" in md and "| bs32" in md
    assert (out / "curves.png").exists() and (out / "ratios.png").exists()
