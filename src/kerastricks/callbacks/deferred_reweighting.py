"""Deferred re-weighting (DRW, Cao et al. 2019): class-balanced weights from a given epoch on."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from kerastricks._backend import retrace
from kerastricks.errors import check_arg


@keras.saving.register_keras_serializable(package="kerastricks")
class DeferredReweighting(keras.callbacks.Callback):
    """Switch a long-tail loss to class-balanced weights at ``start_epoch``.

    Before ``start_epoch`` (0-based) every class has weight 1; from it on, the
    loss of an example of class ``c`` is weighted by Cui et al.'s
    ``(1 - beta) / (1 - beta^n_c)``, normalized to sum to ``C``. The weights
    live in the loss's non-trainable ``class_weights`` variable: a TensorFlow
    step reads it at run time, so the switch needs no recompiling there; on JAX
    (where a variable outside the model's state is a constant of the jitted
    step) and PyTorch the train function is traced anew when the weights
    change, once per switch. The weights depend only on the epoch, so a resumed
    run (``initial_epoch > 0``) gets the right ones at its first epoch.

    Args:
        start_epoch: First epoch (0-based) trained with class-balanced weights, >= 0.
        beta: Effective-number hyper-parameter in ``[0, 1)`` (Cao et al.: 0.9999).
        loss: The loss to re-weight (a :class:`~kerastricks.losses.LongTailLoss`);
            default: the model's compiled loss.

    Example:
        >>> loss = LDAMLoss(class_counts=np.bincount(y_train))
        >>> model.compile(optimizer="sgd", loss=loss)
        >>> model.fit(x_train, y_train, epochs=200, callbacks=[DeferredReweighting(160)])

    Reference:
        Cao et al. 2019, "Learning Imbalanced Datasets with Label-Distribution-Aware
        Margin Loss", arXiv 1906.07413, Algorithm 1.
    """

    def __init__(self, start_epoch: int, beta: float = 0.9999, loss: Any = None) -> None:
        super().__init__()
        check_arg(int(start_epoch) >= 0, "start_epoch", ">= 0", start_epoch)
        check_arg(0.0 <= float(beta) < 1.0, "beta", "in [0, 1)", beta)
        self.start_epoch = int(start_epoch)
        self.beta = float(beta)
        self.loss = loss
        self.active = False

    def _target_loss(self):
        loss = self.loss if self.loss is not None else getattr(self.model, "loss", None)
        if not hasattr(loss, "set_class_weights"):
            raise ValueError(
                "DeferredReweighting needs a kerastricks long-tail loss (LDAMLoss, LogitAdjustedLoss, ...) "
                f"that holds per-class weights. Received: loss={type(loss).__name__}"
            )
        return loss

    def on_epoch_begin(self, epoch, logs=None):
        from kerastricks.losses.long_tail import class_balanced_weights

        loss = self._target_loss()
        active = epoch >= self.start_epoch
        if active:
            weights = class_balanced_weights(loss.class_counts, self.beta)
        else:
            weights = np.ones(len(loss.class_counts))
        before = np.asarray(keras.ops.convert_to_numpy(loss.class_weights))
        loss.set_class_weights(weights)
        if keras.backend.backend() != "tensorflow" and not np.array_equal(before, np.float32(weights)):
            retrace(self.model)
        self.active = active

    def get_config(self) -> dict[str, Any]:
        return {"start_epoch": self.start_epoch, "beta": self.beta}
