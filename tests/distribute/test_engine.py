"""The distribution engine end to end (``kerastricks.distribute.engine``): distributed runs match the one-device
run at the same global batch; each process takes its share of every batch; a lost ``--workers`` worker stops the
group and the resumed run is bit-identical (here rather than in ``test_launcher.py``: it reuses these runs).

Real ``python -m kerastricks train`` processes, each with a timeout: 2 logical CPU devices under ``mirrored``
(TensorFlow), 2 CPU devices in one process and ``--workers 2`` under ``data_parallel`` (JAX), each compared with
the one-device run of the same recipe on the same backend. Tolerance: 1e-6 on the per-epoch training loss and
on every final weight (measured: at most 2.4e-7 and 6e-8; the sums of the all-reduce run in a different order).
The report's replica count is read from the trained model (the strategy's replicas, the devices a weight
lives on), so a run that silently trains on one device fails. The runs are a module fixture: keep every test
that uses them in this module (``--dist loadscope`` runs a module on one worker, so they are made once).
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.distribute import engine as dsetup

# digits with validation_split 0.11: 1278 training examples, so every batch of 32 (the last has 30) splits
# evenly over 2 replicas and nothing is left out; 3 epochs: the lost-worker test kills after the first.
RECIPE = """
[data]
name = "digits"
validation_split = 0.11
[model]
name = "mlp"
width = 32
depth = 1
[optimizer]
name = "adam"
learning_rate = 0.003
[train]
epochs = 3
batch_size = 32
monitor = "last"
tensorboard = false
plots = false
"""
TOL = 1e-6
TIMEOUT = 900  # seconds per run: the CI box is shared; a run takes 20-60 s of CPU

JAX = ["--set", "train.backend=jax"]
RUNS = {
    "tf_one": [],
    "mirrored": ["--set", "train.distribute=mirrored", "--set", "train.devices=2"],
    "jax_one": JAX,
    "data_parallel": JAX + ["--set", "train.distribute=data_parallel", "--set", "train.devices=2"],
    "workers": JAX + ["--set", "train.distribute=data_parallel", "--set", "train.devices=1", "--workers", "2"],
}


def start(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "kerastricks", "train", *args, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def finish(proc, timeout=TIMEOUT):
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def losses(run):
    with (run / "metrics.csv").open() as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def final_weights(run):
    with np.load(run / "checkpoints" / "last.npz") as data:
        state = json.loads(bytes(data["state"]).decode("utf-8"))
        return [data[f"w{i}"] for i in range(state["n_weights"])]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("distribute")
    recipe = root / "recipe.toml"
    recipe.write_text(RECIPE)
    out = {}
    for name, extra in RUNS.items():  # one after the other: 2 cores
        out[name] = root / name
        code, err = finish(start(str(recipe), "--out", str(out[name]), *extra))
        assert code == 0, f"{name}: {err[-3000:]}"
    out["recipe"] = recipe
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("name", "reference", "processes"), [
    ("mirrored", "tf_one", 1), ("data_parallel", "jax_one", 1), ("workers", "jax_one", 2)])
def test_distributed_run_matches_one_device(runs, name, reference, processes):
    report = json.loads((runs[name] / "report.json").read_text())
    dist = report["distribution"]
    assert dist["live_replicas"] == 2  # read from the trained model, not from the recipe
    assert (dist["replicas"], dist["processes"], dist["per_replica_batch"], dist["global_batch"]) == \
        (2, processes, 16, 32)
    assert json.loads((runs[reference] / "report.json").read_text())["distribution"] is None
    ref_test = json.loads((runs[reference] / "report.json").read_text())["test"]
    assert report["test"]["accuracy"] == ref_test["accuracy"]
    assert report["test"]["loss"] == pytest.approx(ref_test["loss"], abs=1e-4)  # not divided by the replicas
    want, got = losses(runs[reference]), losses(runs[name])
    assert len(got) == len(want) == 3
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    for g, w in zip(final_weights(runs[name]), final_weights(runs[reference]), strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=TOL)
    assert not np.allclose(final_weights(runs["tf_one"])[0], final_weights(runs["jax_one"])[0])  # not one run


@pytest.mark.slow
def test_lost_worker_stops_the_group_and_resume_is_bit_identical(runs, tmp_path):
    run = tmp_path / "killed"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "kerastricks", "train", str(runs["recipe"]), "--out", str(run), "--quiet",
         *RUNS["workers"]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    checkpoint = run / "checkpoints" / "last.npz"
    deadline = time.time() + TIMEOUT
    while not checkpoint.exists() and launcher.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    workers = _children(launcher.pid)
    assert len(workers) == 2, workers
    victim = next(pid for pid in workers if _process_id(pid) == "1")
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    code, err = finish(launcher, timeout=60)
    stopped_after = time.time() - killed_at
    assert stopped_after < 15, stopped_after
    lines = [line for line in err.splitlines() if line.startswith("kerastricks:")]
    assert lines == [f"kerastricks: error: worker 1 of 2 (pid {victim}) was killed by SIGKILL; stopped the other "
                     f"worker(s); continue with: kerastricks train --resume {run} --workers 2"], err[-3000:]
    assert code == 1
    assert all(not _alive(pid) for pid in workers)
    assert len(losses(run)) < 3  # stopped mid-run

    code, err = finish(start("--resume", str(run), "--workers", "2"))
    assert code == 0, err[-3000:]
    assert losses(run) == losses(runs["workers"])
    for g, w in zip(final_weights(run), final_weights(runs["workers"]), strict=True):
        assert np.array_equal(g, w)
    report = json.loads((run / "report.json").read_text())
    assert report["resumed"] == 1
    assert report["test"] == json.loads((runs["workers"] / "report.json").read_text())["test"]


@settings(deadline=None)
@given(n=st.integers(0, 300), processes=st.integers(1, 4), per_process=st.integers(1, 4))
def test_process_shares_cover_each_batch_once(n, processes, per_process):
    replicas = processes * per_process
    bounds = [dsetup.share_bounds(n, replicas, processes, p) for p in range(processes)]
    rows = [r for lo, hi in bounds for r in range(lo, hi)]
    assert rows == list(range(n - n % replicas))  # in order, each example once, only the remainder left out
    assert len({hi - lo for lo, hi in bounds}) == 1  # equal shares
    assert n - len(rows) < replicas


@pytest.mark.parametrize(("n", "replicas", "processes"), [(13, 2, 2), (16, 4, 2), (7, 2, 1)])
def test_shard_batches_takes_each_process_share(n, replicas, processes):
    import tensorflow as tf

    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int32)
    for pid in range(processes):
        dsetup._ACTIVE = dsetup.Distribution("data_parallel", "jax", [f"cpu:{i}" for i in range(replicas)],
                                             processes=processes, process_id=pid, global_batch=16)
        try:
            (bx, by), = list(dsetup.shard_batches(tf.data.Dataset.from_tensor_slices((x, y)).batch(16)))
        finally:
            dsetup._ACTIVE = None
        lo, hi = dsetup.share_bounds(n, replicas, processes, pid)
        np.testing.assert_array_equal(by.numpy(), y[lo:hi])
        np.testing.assert_array_equal(bx.numpy(), x[lo:hi])


def test_no_distribution_leaves_the_stream_alone():
    import tensorflow as tf

    ds = tf.data.Dataset.range(5).batch(2)
    assert dsetup.shard_batches(ds) is ds


def _children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def _process_id(pid):
    env = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    return next(v.split(b"=", 1)[1].decode() for v in env if v.startswith(b"KERAS_DISTRIBUTION_PROCESS_ID="))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
