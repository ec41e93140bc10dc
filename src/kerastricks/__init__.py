"""kerastricks: training techniques for Keras 3 as tested, serializable components."""

from kerastricks._backend import ensure_backend as _ensure_backend

_ensure_backend()

__version__ = "0.1.0"

__all__ = ["__version__", "lr_find"]


def __getattr__(name: str):
    # Lazy: ``import kerastricks`` stays cheap (no TensorFlow import) until this is used.
    if name == "lr_find":
        from kerastricks.lr_finder import lr_find

        return lr_find
    raise AttributeError(f"module 'kerastricks' has no attribute {name!r}")
