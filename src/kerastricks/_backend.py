"""Checks that a Keras backend (TensorFlow) is installed, in one clear line."""

from __future__ import annotations

import importlib.util
import os
import sys

MISSING_BACKEND = (
    "kerastricks needs the TensorFlow backend: install it with "
    "`pip install \"kerastricks[cpu]\"` (tensorflow-cpu) or "
    "`pip install \"kerastricks[gpu]\"` (tensorflow with CUDA)"
)


class BackendMissingError(ImportError):
    """Raised when TensorFlow is not installed."""


def ensure_backend() -> None:
    """Select the TensorFlow backend and fail in one line if it is missing.

    Only looks the package up (no import), so ``import kerastricks`` stays cheap
    for tools that do not train (plots, recipe checks).
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        spec = importlib.util.find_spec("tensorflow")
    except (ImportError, ValueError):  # e.g. sys.modules["tensorflow"] is None
        spec = None
    if spec is None:
        if running_cli():
            # The console script imports the package before main() can catch
            # anything: report in one line and exit 2 instead of a traceback.
            print(f"kerastricks: error: {MISSING_BACKEND}", file=sys.stderr)
            raise SystemExit(2)
        raise BackendMissingError(MISSING_BACKEND)


def running_cli() -> bool:
    """Whether this process is the ``kerastricks`` command (script or ``python -m``)."""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    if argv0 in ("kerastricks", "kerastricks.exe"):
        return True
    orig = list(getattr(sys, "orig_argv", []))
    return any(a == "-m" and orig[i + 1 : i + 2] == ["kerastricks"] for i, a in enumerate(orig))
