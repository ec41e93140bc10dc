"""Sparse-label cross-entropy with label smoothing."""

from __future__ import annotations

import keras
from keras import ops

from kerastricks.errors import check_arg


def smoothed_sparse_crossentropy(y_true, logits, label_smoothing: float = 0.0, from_logits: bool = True):
    """Per-example cross-entropy against integer labels, with label smoothing.

    The smoothed target puts ``1 - eps + eps/C`` on the true class and ``eps/C``
    on every other class (Szegedy et al. 2016), so the loss is

        (1 - eps) * (-log p_y) + eps * mean_k(-log p_k).

    Args:
        y_true: Integer labels, shape ``(batch,)`` or ``(batch, 1)``.
        logits: Scores of shape ``(batch, C)``; probabilities if ``from_logits`` is False.
        label_smoothing: ``eps`` in [0, 1).
        from_logits: Whether ``logits`` are unnormalized scores.
    """
    logits = ops.cast(logits, "float32")
    if from_logits:
        log_p = ops.log_softmax(logits, axis=-1)
    else:
        log_p = ops.log(ops.clip(logits, 1e-7, 1.0))
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    one_hot = ops.one_hot(labels, ops.shape(log_p)[-1], dtype=log_p.dtype)
    nll = -ops.sum(one_hot * log_p, axis=-1)
    if label_smoothing == 0:
        return nll
    uniform = -ops.mean(log_p, axis=-1)
    return (1.0 - label_smoothing) * nll + label_smoothing * uniform


@keras.saving.register_keras_serializable(package="kerastricks")
class SparseCrossentropy(keras.losses.Loss):
    """Cross-entropy for integer labels, with optional label smoothing.

    Keras's ``SparseCategoricalCrossentropy`` has no ``label_smoothing``; its
    ``CategoricalCrossentropy`` has it but needs one-hot labels. This loss takes
    integer labels directly, so label smoothing needs no change to the data.

    Args:
        label_smoothing: Float in [0, 1). 0 gives plain cross-entropy.
        from_logits: Whether predictions are logits (default) or probabilities.
        reduction: As in ``keras.losses.Loss``.
        name: Loss name.

    Example:
        >>> loss = SparseCrossentropy(label_smoothing=0.1)
        >>> model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])

    Reference:
        Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer
        Vision", arXiv 1512.00567, section 7.
    """

    def __init__(self, label_smoothing: float = 0.0, from_logits: bool = True,
                 reduction="sum_over_batch_size", name="sparse_crossentropy", dtype=None):
        check_arg(0.0 <= float(label_smoothing) < 1.0, "label_smoothing", "in [0, 1)", label_smoothing)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return smoothed_sparse_crossentropy(y_true, y_pred, self.label_smoothing, self.from_logits)

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, from_logits=self.from_logits)
        return config
