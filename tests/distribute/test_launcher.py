"""The ``--workers`` launcher (``kerastricks.distribute.launcher``): exit descriptions, free ports, and the worker's
watchdog that ends an orphan. The lost-worker run (the launcher stops the group, resume is bit-identical) shares
its reference runs with the equivalence checks, so it lives in ``test_engine.py``."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from kerastricks.distribute.launcher import describe_exit, free_port


def test_describe_exit_names_the_signal_or_the_code():
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(-signal.SIGTERM) == "was killed by SIGTERM"
    assert describe_exit(1) == "exited with code 1"
    assert describe_exit(-200) == "was killed by signal 200"  # not a signal Python knows


def test_free_port_can_be_bound():
    port = free_port()
    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))  # nobody holds it


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
