"""kerastricks: training techniques for Keras 3 as tested, serializable components."""

from kerastricks._backend import ensure_backend as _ensure_backend

_ensure_backend()

__version__ = "0.1.0"

__all__ = ["__version__"]
