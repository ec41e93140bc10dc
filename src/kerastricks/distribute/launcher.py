"""``kerastricks train --workers N``: N local processes of one data-parallel run, and what happens when one is lost.

The launcher starts ``python -m kerastricks train`` N times with the ``KERAS_DISTRIBUTION_*`` variables of a
process group whose coordinator listens on ``127.0.0.1`` and a free port. Process 0 writes the run
directory and prints progress; the others train quietly. The launcher watches its workers: when one ends
with an error or a signal while the others still run, it stops the others at once and prints one line
naming the lost worker and the ``--resume`` command (JAX's own coordination service would otherwise make
the survivors wait for its heartbeat timeout, about 95 s with JAX's defaults).

Each worker also watches the launcher (:func:`start_watchdog`): if the launcher itself is killed, the
workers end within a second instead of training on as orphans.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from kerastricks.distribute.config import ProcessGroup

#: Set in each worker: the launcher's process id, which the worker's watchdog follows.
ENV_LAUNCHER_PID = "KERASTRICKS_LAUNCHER_PID"
#: Seconds between the launcher's checks of its workers (and the workers' checks of the launcher).
POLL_S = 0.1
#: Seconds a stopped worker gets to end after SIGTERM before SIGKILL.
GRACE_S = 3.0

EXIT_LOST = 1  # a worker was lost: the run stopped (an error, not bad input)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the coordinator binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def describe_exit(code: int) -> str:
    """``"was killed by SIGKILL"`` / ``"exited with code 1"`` for a ``Popen.returncode``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def launch(workers: int, child_args: Sequence[str], *, run_dir: Path | None, resume_hint: str | None,
           out=sys.stderr) -> int:
    """Run ``kerastricks train CHILD_ARGS`` as ``workers`` processes of one group; returns the exit code.

    ``child_args`` are the ``train`` arguments every worker gets (recipe, ``--out``/``--resume``, ``--set``).
    """
    port = free_port()
    procs: list[subprocess.Popen] = []
    base = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_DISTRIBUTION_")}
    for i in range(workers):
        group = ProcessGroup(f"127.0.0.1:{port}", workers, i)
        env = {**base, **group.env(), ENV_LAUNCHER_PID: str(os.getpid())}
        args = [sys.executable, "-m", "kerastricks", "train", *child_args]
        if i > 0:
            args.append("--quiet")
        procs.append(subprocess.Popen(args, env=env, stdout=None if i == 0 else subprocess.DEVNULL))
    try:
        return _watch(procs, run_dir, resume_hint, out)
    except KeyboardInterrupt:
        _stop(procs)
        print("kerastricks: interrupted; stopped every worker", file=out)
        return 130


def _watch(procs: list[subprocess.Popen], run_dir: Path | None, resume_hint: str | None, out) -> int:
    n = len(procs)
    while True:
        codes = [p.poll() for p in procs]
        if all(c is not None for c in codes):
            bad = [c for c in codes if c]
            return 0 if not bad else (bad[0] if bad[0] > 0 else EXIT_LOST)
        for i, code in enumerate(codes):
            if code:  # lost while others still run
                _stop(procs)
                hint = f"; continue with: {resume_hint}" if resume_hint and (code < 0 or code == 1) else ""
                print(f"kerastricks: error: worker {i} of {n} (pid {procs[i].pid}) {describe_exit(code)}; "
                      f"stopped the other worker(s){hint}", file=out, flush=True)
                return code if code in (2, 3) else EXIT_LOST
        time.sleep(POLL_S)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def start_watchdog() -> threading.Thread | None:
    """In a worker started by :func:`launch`: end this process within a second if the launcher is gone."""
    raw = os.environ.get(ENV_LAUNCHER_PID)
    if not raw or not raw.isdigit():
        return None
    launcher = int(raw)

    def watch() -> None:
        while True:
            if os.getppid() != launcher:
                print(f"kerastricks: error: the launcher (pid {launcher}) is gone; worker "
                      f"{os.environ.get('KERAS_DISTRIBUTION_PROCESS_ID', '?')} stops", file=sys.stderr, flush=True)
                os._exit(EXIT_LOST)
            time.sleep(POLL_S * 5)

    thread = threading.Thread(target=watch, name="kerastricks-launcher-watchdog", daemon=True)
    thread.start()
    return thread
