"""Regression losses whose Keras config needs a fix."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kerastricks")
class Huber(keras.losses.Huber):
    """Keras's ``Huber`` whose config keeps ``delta``.

    Keras 3's ``Huber.get_config`` leaves ``delta`` out, so a saved model comes
    back with ``delta=1.0``; this subclass only adds it back.
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(delta=delta, reduction=reduction, name=name, dtype=dtype)
        self.delta = float(delta)

    def get_config(self):
        config = super().get_config()
        config["delta"] = self.delta
        return config
