"""Divergence guard: stop at the first non-finite loss or weight, with the place and the likely cause."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np


def all_finite(arrays: Any) -> bool:
    """Whether every value of every array is finite."""
    return all(bool(np.all(np.isfinite(np.asarray(a, dtype=np.float64)))) for a in arrays)


class DivergenceGuard(keras.callbacks.Callback):
    """Stop training when the loss (per batch) or a weight (per epoch) stops being finite.

    Unlike ``keras.callbacks.TerminateOnNaN`` it records where and what
    diverged (:attr:`diverged`) so the trainer can report it in one line, roll
    back, or refuse to save. Put it first in the callback list; callbacks after
    it can read :attr:`diverged` and skip work on a diverged epoch.

    Args:
        check_weights: Also check every model weight at the end of each epoch
            (a loss can stay finite for a step while weights overflow).
    """

    def __init__(self, check_weights: bool = True) -> None:
        super().__init__()
        self.check_weights = check_weights
        self.diverged: dict[str, Any] | None = None
        self._epoch = 0

    def reset(self) -> None:
        self.diverged = None

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._epoch = epoch

    def _flag(self, what: str, value: Any, step: int | None) -> None:
        if self.diverged is None:
            self.diverged = {"epoch": self._epoch + 1, "step": step, "what": what,
                             "value": None if value is None else float(value)}
        self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None:
            value = float(keras.ops.convert_to_numpy(loss))
            if not math.isfinite(value):
                self._flag("loss", value, batch + 1)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self.diverged is not None:
            return
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(float(value)):
                self._flag(key, float(value), None)
                return
        if self.check_weights and not all_finite(self.model.get_weights()):
            self._flag("weights", None, None)

    def describe(self, *, precision: str = "float32") -> str:
        """One line: where it diverged and the likely cause."""
        d = self.diverged or {}
        where = f"epoch {d.get('epoch')}" + (f", step {d['step']}" if d.get("step") else "")
        what = {"loss": "the training loss", "val_loss": "the validation loss",
                "weights": "a model weight"}.get(d.get("what"), "a value")
        cause = "the learning rate is probably too high (lower optimizer.learning_rate or add warmup)"
        if precision == "mixed_float16":
            cause += ", or float16 overflowed (the loss scale); try precision = 'mixed_bfloat16' or 'float32'"
        return f"{what} became non-finite at {where}: {cause}"


__all__ = ["DivergenceGuard", "all_finite"]
