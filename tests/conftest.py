"""Test-wide settings: a private dataset cache and a non-interactive plot backend."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep generated datasets out of the user's cache; shared by the whole session."""
    if "KERASTRICKS_CACHE_DIR" not in os.environ:
        os.environ["KERASTRICKS_CACHE_DIR"] = str(tmp_path_factory.mktemp("kerastricks-cache"))
    yield
