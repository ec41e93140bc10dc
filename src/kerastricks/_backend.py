"""Checks that a Keras backend (TensorFlow) is importable, in one clear line."""

from __future__ import annotations

import os

MISSING_BACKEND = (
    "kerastricks needs the TensorFlow backend: install it with "
    "`pip install \"kerastricks[cpu]\"` (tensorflow-cpu) or "
    "`pip install \"kerastricks[gpu]\"` (tensorflow with CUDA)"
)


class BackendMissingError(ImportError):
    """Raised when TensorFlow is not installed."""


def ensure_backend() -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
        raise BackendMissingError(MISSING_BACKEND) from exc
