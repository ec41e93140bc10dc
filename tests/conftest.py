"""Test-wide settings: a private dataset cache and a non-interactive plot backend; the killable train process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep generated datasets out of the user's cache; shared by the whole session."""
    if "KERASTRICKS_CACHE_DIR" not in os.environ:
        os.environ["KERASTRICKS_CACHE_DIR"] = str(tmp_path_factory.mktemp("kerastricks-cache"))
    yield


@pytest.fixture(scope="session")
def train():
    """``train(*args, kill_at=None)``: a quiet ``python -m kerastricks train`` process (``Popen``, stderr piped),
    killed at ``kill_at`` (``"FILE:N"``, :data:`kerastricks.io.KILL_AT_ENV`) when given."""
    from kerastricks import io as kio

    def start(*args, kill_at=None):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop(kio.KILL_AT_ENV, None)
        if kill_at is not None:
            env[kio.KILL_AT_ENV] = kill_at
        return subprocess.Popen([sys.executable, "-m", "kerastricks", "train", *args, "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)

    return start


#: The modules that cost most (``pytest -n 0 --durations``, 2026-12-03, load 3-6; seconds of wall time in brackets),
#: run first. pytest-xdist's ``--dist loadscope`` otherwise queues modules by their NUMBER of tests, so these few-test,
#: many-second modules came last and one worker ran them while the other sat idle (pyproject sets
#: ``--no-loadscope-reorder`` so the queue keeps the order made here). Heaviest first: the longest-first rule.
HEAVY_FIRST = (
    "test_combinations.py",  # (229) every preset and optimizer with every schedule it validates with
    "distribute/test_engine.py",  # (209) five reference runs, the lost-worker run and its resume
    "techniques/test_conformance.py",  # (143) every technique killed, resumed, and under mixed precision
    "backends/test_backends.py",  # (133) three conformance processes
    "optimizers/test_conformance.py",  # (94) mirrored-strategy process, mnist1d under jit
    "tune/test_cli_tune.py",  # (84) two local tune workers, a killed study
    "test_resume.py",  # (70) the kill-anywhere run: seven processes
    "test_docs.py",  # (69) every Python example in docs/
    "backends/test_backend_cli.py",  # (65) JAX and torch runs
    "bench/test_runner.py",  # (58) the bench command end to end
    "tune/test_worker.py",  # (54)
    "layers/test_contract.py",  # (41) mirrored-strategy process
    "compress/test_workflow.py",  # (37)
    "ensemble/test_training.py",  # (36) two member processes
    "transfer/test_cli_transfer.py",  # (32)
)


def pytest_collection_modifyitems(config, items):
    """Put :data:`HEAVY_FIRST`'s modules first; a stable sort keeps each module's tests together and in order."""
    root = Path(__file__).parent
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}

    def key(item):
        try:
            name = item.path.relative_to(root).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(name, len(rank))

    items.sort(key=key)
