"""Backend selection before Keras is imported, without importing anything heavy."""

from __future__ import annotations

import importlib.util
import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")

MISSING_BACKEND = (
    "kerastricks needs a Keras backend: install one with "
    "`pip install \"kerastricks[cpu]\"` (TensorFlow), `pip install \"kerastricks[jax]\"` or "
    "`pip install \"kerastricks[torch]\"`"
)


class BackendMissingError(ImportError):
    """Raised when no Keras backend is installed."""


def installed(name: str) -> bool:
    """Whether the backend package ``name`` can be imported (looked up, not imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # e.g. sys.modules[name] is None
        return False


def select_backend() -> str:
    """Choose the Keras backend unless the user did (``KERAS_BACKEND``); quiet TensorFlow's C++ logs.

    Default: TensorFlow when installed (the data pipeline uses ``tf.data``), else
    JAX, else PyTorch. Only looks packages up, so this costs microseconds.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "KERAS_BACKEND" not in os.environ and "keras" not in sys.modules:
        for name in BACKENDS:
            if installed(name):
                os.environ["KERAS_BACKEND"] = name
                break
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def ensure_backend(pipeline: bool = True) -> None:
    """Raise :class:`BackendMissingError` (one line) if the selected backend is not installed.

    With ``pipeline`` (the trainer's commands), TensorFlow is required too, whatever
    the backend: the trainer reads its data through ``tf.data``.
    """
    name = select_backend()
    if not installed(name):
        raise BackendMissingError(f"KERAS_BACKEND={name} is not installed; " + MISSING_BACKEND)
    if pipeline and not installed("tensorflow"):
        raise BackendMissingError(
            f"the trainer reads data through tf.data, so it needs TensorFlow next to KERAS_BACKEND={name}: "
            "`pip install \"kerastricks[cpu]\"` (components alone need only Keras and the backend)")


def import_keras_for_cli() -> None:
    """Import Keras in a ``kerastricks`` command's process, without the scikit-learn import it triggers.

    ``import keras`` imports scikit-learn (about 1.5 s of CPU on our 2-core
    machines, 5 % of the default job) only to define ``keras.wrappers``'
    scikit-learn estimators, which no command uses. While Keras is imported,
    ``sklearn`` is hidden, so Keras defines its stand-ins (using them raises
    Keras's "requires scikit-learn" error); it is visible again right after, so
    the digits loader and anything else import it as usual. Library users never
    pass here: ``import kerastricks`` leaves Keras's import alone.
    """
    if "keras" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]  (an ImportError for `import sklearn`)
    try:
        import keras  # noqa: F401
    finally:
        if sys.modules.get("sklearn", 0) is None:
            del sys.modules["sklearn"]


def running_cli() -> bool:
    """Whether this process is the ``kerastricks`` command (script or ``python -m``)."""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    if argv0 in ("kerastricks", "kerastricks.exe"):
        return True
    orig = list(getattr(sys, "orig_argv", []))
    return any(a == "-m" and orig[i + 1 : i + 2] == ["kerastricks"] for i, a in enumerate(orig))


def retrace(model) -> None:
    """Make ``model``'s next training call trace its step anew (a no-op before the first one).

    For values a compiled step reads at trace time: on JAX a variable outside the
    model's and optimizer's state is a constant of the jitted step.
    """
    if getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)
