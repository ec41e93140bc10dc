"""Make a Keras callback's counters survive a resumed run.

Keras callbacks such as ``EarlyStopping`` and ``ReduceLROnPlateau`` reset
their counters in ``on_train_begin``. A resumed run (``kerastricks train
--resume``) must continue with the counters it had when it was killed, so the
trainer's checkpoint stores :meth:`state_dict` and gives it back through
:meth:`load_state_dict`, applied right after the reset.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np


def _plain(value: Any) -> Any:
    """A JSON value for ``value``: NumPy scalars and 0-d tensors of any backend become Python numbers."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.generic, np.ndarray)) or hasattr(value, "__array__") or hasattr(value, "numpy"):
        try:
            array = np.asarray(value)
        except (TypeError, RuntimeError, ValueError):  # e.g. a torch tensor that requires grad
            from keras import ops

            array = np.asarray(ops.convert_to_numpy(value))
        return array.item() if array.ndim == 0 else array.tolist()
    return value


class ResumableMixin:
    """Mixin for ``keras.callbacks.Callback`` subclasses.

    Subclasses list the attributes to keep in ``state_attributes``; values must
    be JSON scalars (numbers, strings, booleans or None).
    """

    state_attributes: ClassVar[tuple[str, ...]] = ()

    def state_dict(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name, None)) for name in self.state_attributes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending_state = {k: v for k, v in state.items() if k in self.state_attributes}

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # type: ignore[misc]
        pending = getattr(self, "_pending_state", None)
        if pending:
            for name, value in pending.items():
                setattr(self, name, value)
        self._pending_state = None
