"""What each distribution mode refuses, at validation and on the command line (one line, exit 2, nothing made),
the process-group arguments, the learning-rate scaling and each process's share of a global batch."""

import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.distribute import ProcessGroup, lr_scale_factor
from kerastricks.distribute import engine as dsetup
from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict


def recipe(train=None, techniques=None, source="r.toml"):
    return recipe_from_dict({"data": {"name": "digits"}, "model": {"name": "mlp", "width": 8, "depth": 1},
                             "train": {"batch_size": 32, **(train or {})}, "techniques": techniques or {}},
                            source=source)


@pytest.mark.parametrize(("train", "key", "words"), [
    ({"distribute": "data_parallel", "backend": "torch"}, "train.distribute", ["'tensorflow'", "'jax'"]),
    ({"distribute": "mirrored", "backend": "torch"}, "train.distribute", ["'tensorflow'", "'jax'"]),
    ({"distribute": "mirrored", "backend": "jax"}, "train.distribute", ["'tensorflow'", "'data_parallel'"]),
    ({"distribute": "data_parallel", "backend": "tensorflow"}, "train.distribute", ["'jax'", "'mirrored'"]),
    ({"devices": 2}, "train.devices", ["'mirrored'", "'data_parallel'"]),
    ({"lr_scaling": "linear"}, "train.lr_scaling", ["'none'"]),
    ({"distribute": "mirrored", "backend": "tensorflow", "devices": 3}, "train.batch_size", ["multiple", "3"]),
    ({"distribute": "sync"}, "train.distribute", ["mirrored"]),
])
def test_refused_at_validation_with_one_line(train, key, words):
    with pytest.raises(ConfigError) as info:
        recipe(train)
    line = info.value.line()
    assert "\n" not in line and line.startswith("r.toml: key ") and f"'{key}'" in line
    assert all(w in line for w in words), line


def test_keras_clipping_refused_under_mirrored_agc_accepted():
    mirrored = {"distribute": "mirrored", "backend": "tensorflow", "devices": 2}
    with pytest.raises(ConfigError, match="techniques.clip.*all-reduce.*'data_parallel' on backend 'jax'"):
        recipe(mirrored, {"clip": {"mode": "global_norm", "threshold": 1.0}})
    assert "clip" in recipe(mirrored, {"clip": {"mode": "agc", "clipping": 0.01}}).techniques
    assert "agc" in recipe(mirrored, {"agc": {}}).techniques
    with pytest.raises(ConfigError, match="techniques.gradient_accumulation.*merge_call"):
        recipe(mirrored, {"gradient_accumulation": {}})
    dp = {"distribute": "data_parallel", "backend": "jax", "devices": 2}
    assert "clip" in recipe(dp, {"clip": {"mode": "global_norm", "threshold": 1.0}}).techniques


def test_accepted_settings_round_trip():
    r = recipe({"distribute": "data_parallel", "backend": "jax", "devices": 2, "lr_scaling": "sqrt"})
    assert (r.train.distribute, r.train.devices, r.train.lr_scaling) == ("data_parallel", 2, "sqrt")
    assert recipe_from_dict(r.to_dict()) == r
    assert recipe().train.distribute == "none" and recipe().train.devices == "all"


@pytest.mark.parametrize("mode", ["mirrored", "data_parallel"])
def test_every_technique_is_verified_or_refused(mode):
    from kerastricks.distribute.config import REFUSED, VERIFIED
    from kerastricks.techniques import TECHNIQUES

    names = {entry.name for entry in TECHNIQUES}
    refused = {t for t, m in REFUSED if m == mode}
    verified = set(VERIFIED[mode])
    assert names <= verified | refused, names - verified - refused
    assert not (verified - {"clip"}) & refused  # clip: Keras modes refused under mirrored, agc verified


@pytest.mark.parametrize("replicas", [1, 2, 3, 8])
def test_lr_scale_factor(replicas):
    assert lr_scale_factor("none", "linear", replicas) == 1.0
    assert lr_scale_factor("mirrored", "none", replicas) == 1.0
    assert lr_scale_factor("mirrored", "linear", replicas) == replicas
    assert lr_scale_factor("data_parallel", "sqrt", replicas) == pytest.approx(math.sqrt(replicas))


def test_process_group_from_env():
    assert ProcessGroup.from_env({}) == ProcessGroup()
    env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:2345",
           "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
    group = ProcessGroup.from_env(env)
    assert group == ProcessGroup("10.0.0.1:1234", 2, 1) and group.multi
    assert ProcessGroup.from_env(group.env()) == group
    for bad in ({**env, "KERAS_DISTRIBUTION_PROCESS_ID": "2"}, {**env, "KERAS_DISTRIBUTION_NUM_PROCESSES": "x"},
                {**env, "KERAS_DISTRIBUTION_JOB_ADDRESSES": "nohost"}):
        with pytest.raises(ConfigError):
            ProcessGroup.from_env(bad)


def run_cli(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_DISTRIBUTION_")}
    return subprocess.run([sys.executable, "-m", "kerastricks", "train", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "words"), [
    (["--workers", "2", "--set", "train.distribute=mirrored", "--set", "train.backend=tensorflow"],
     ["key '--workers'", "keras-team/keras#20585", "'data_parallel'"]),
    (["--workers", "2"], ["key '--workers'", "'data_parallel'"]),
    (["--workers", "2", "--set", "train.distribute=data_parallel", "--set", "train.backend=jax",
      "--set", "train.batch_size=33", "--set", "train.devices=1"], ["key 'train.batch_size'", "1 x 2"]),
    (["--num-processes", "2", "--process-id", "0", "--set", "train.distribute=data_parallel",
      "--set", "train.backend=jax"], ["key '--coordinator'", "HOST:PORT"]),
    (["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"],
     ["key '--process-id'", "0 <= id < 2"]),
    (["--workers", "2", "--process-id", "0"], ["key '--process-id'", "either --workers"]),
])
def test_cli_refuses_process_groups_in_one_line(tmp_path, args, words):
    (tmp_path / "r.toml").write_text('[data]\nname = "digits"\n[train]\nepochs = 1\n')
    result = run_cli(tmp_path, "r.toml", "--out", "run", *args)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kerastricks: error: "), result.stderr[-2000:]
    assert all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_worker_stops_when_its_launcher_is_gone():
    code = ("import time; from kerastricks.distribute.launcher import start_watchdog; "
            "assert start_watchdog() is not None; time.sleep(60)")
    env = {**os.environ, "KERASTRICKS_LAUNCHER_PID": "1", "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
    start = time.time()
    orphan = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert orphan.returncode == 1 and time.time() - start < 30
    assert orphan.stderr.strip() == "kerastricks: error: the launcher (pid 1) is gone; worker 1 stops"
    env["KERASTRICKS_LAUNCHER_PID"] = str(os.getpid())  # its real parent: it keeps running
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=5)
    finally:
        child.kill()
        child.wait()


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
