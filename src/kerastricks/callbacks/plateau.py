"""Reduce the learning rate on a plateau (resumable), after an optional linear warmup.

The one implementation of plateau behaviour: the ``plateau`` schedule builds it.
"""

from __future__ import annotations

from typing import Any

import keras

from kerastricks.callbacks.resumable import ResumableMixin


class ResumableReduceLROnPlateau(ResumableMixin, keras.callbacks.ReduceLROnPlateau):
    """``keras.callbacks.ReduceLROnPlateau`` whose counters survive ``--resume``.

    The reduced learning rate itself lives in the optimizer's variables, which
    the trainer's checkpoint restores.
    """

    state_attributes = ("wait", "best", "cooldown_counter")


class WarmUpReduceLROnPlateau(ResumableReduceLROnPlateau):
    """Keras's ``ReduceLROnPlateau`` (resumable) with a linear warmup first.

    For the first ``warmup_steps`` optimizer steps the rate ramps from
    ``initial_learning_rate`` to ``learning_rate`` (set before each call of the
    train function, from ``optimizer.iterations``, so a resumed run continues
    the ramp); plateaus are watched only once the warmup is over.

    Args:
        learning_rate: Rate at the end of the warmup (the optimizer's base rate).
        warmup_steps: Length of the ramp in optimizer steps (0 = no warmup).
        initial_learning_rate: Rate at step 0.
        scale: Multiplies the ramp (the trainer lowers it after a divergence rollback,
            ``[train] on_nan = "rollback"``); not a recipe option.
        **kwargs: ``keras.callbacks.ReduceLROnPlateau`` arguments (``monitor``,
            ``factor``, ``patience``, ``min_delta``, ``cooldown``, ``min_lr``, ``mode``).
    """

    def __init__(self, learning_rate: float, warmup_steps: int = 0, initial_learning_rate: float = 0.0,
                 scale: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.initial_learning_rate = float(initial_learning_rate)

    def _step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs: Any = None) -> None:
        super().on_train_begin(logs)
        self._warming = self._step() < self.warmup_steps

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if not self._warming:
            return
        step = self._step()
        if step < self.warmup_steps:
            frac = step / self.warmup_steps
            self.model.optimizer.learning_rate = self.scale * (
                self.initial_learning_rate + (self.learning_rate - self.initial_learning_rate) * frac)
        else:
            self.model.optimizer.learning_rate = self.scale * self.learning_rate
            self._warming = False

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self._warming:
            return
        super().on_epoch_end(epoch, logs)


__all__ = ["WarmUpReduceLROnPlateau"]
