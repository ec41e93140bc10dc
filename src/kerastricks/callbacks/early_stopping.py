"""Keras's ``EarlyStopping`` whose counters survive ``--resume``."""

from __future__ import annotations

import keras

from kerastricks.callbacks.resumable import ResumableMixin


class ResumableEarlyStopping(ResumableMixin, keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` whose counters survive ``--resume``.

    The best weights themselves are not carried over a resume; the run's best
    model is kept by the trainer's own checkpoint (``model.keras``).
    """

    state_attributes = ("wait", "best", "best_epoch", "stopped_epoch")
