"""Keras's ``EarlyStopping`` whose counters and best weights survive ``--resume``."""

from __future__ import annotations

import keras
import numpy as np

from kerastricks.callbacks.resumable import ResumableMixin


class ResumableEarlyStopping(ResumableMixin, keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` whose counters survive ``--resume``.

    With ``restore_best_weights`` the best weights are kept too (as state
    arrays in the trainer's checkpoint), so a resumed run that stops restores
    the same weights as the uninterrupted run.
    """

    state_attributes = ("wait", "best", "best_epoch", "stopped_epoch")

    def state_arrays(self) -> list[np.ndarray]:
        return list(self.best_weights or [])

    def load_state_arrays(self, arrays: list[np.ndarray]) -> None:
        self._pending_best_weights = list(arrays) if len(arrays) else None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # Keras's reset, then the pending counters
        if hasattr(self, "_pending_best_weights"):
            self.best_weights = self._pending_best_weights
            del self._pending_best_weights
