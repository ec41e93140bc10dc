"""Test-wide settings: a private dataset cache and a non-interactive plot backend; the killable train process."""

import os
import subprocess
import sys

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
