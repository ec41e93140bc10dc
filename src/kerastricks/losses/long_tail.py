"""Re-balancing losses for long-tailed classification.

Every loss here takes the training set's examples per class (``class_counts``,
in its config so a saved model restores it), integer or one-hot labels, and
logits (default) or probabilities. Each multiplies the loss of an example of
class ``y`` by ``class_weights[y]``, held in a non-trainable variable that is
1 for every class unless the loss re-weights by design (class-balanced loss);
:class:`~kerastricks.callbacks.DeferredReweighting` changes it during training
without recompiling (LDAM-DRW). Losses are averaged over the batch (Keras's
``"sum_over_batch_size"``), not divided by the sum of the weights.

Notation: logits ``z`` (batch, C), ``n_c`` examples of class ``c``,
``pi_c = n_c / sum_k n_k`` the training prior, ``t`` the one-hot target.
"""

from __future__ import annotations

from typing import Literal

import keras
import numpy as np
from keras import ops

from kerastricks.data.long_tail import check_class_counts
from kerastricks.errors import check_arg


def class_balanced_weights(class_counts, beta: float = 0.9999) -> np.ndarray:
    """Cui et al. 2019 weights ``(1 - beta) / (1 - beta ** n_c)``, normalized to sum to ``C``.

    ``1 / E_n`` with ``E_n = (1 - beta^n) / (1 - beta)`` the effective number
    of samples; ``beta = 0`` gives equal weights, ``beta -> 1`` inverse
    frequency.

    Args:
        class_counts: Training examples per class (all > 0).
        beta: In ``[0, 1)``.

    Returns:
        A float64 array of length ``C`` summing to ``C``.

    Example:
        >>> class_balanced_weights([100, 10], beta=0.999).round(3).tolist()
        [0.174, 1.826]
    """
    check_arg(0.0 <= float(beta) < 1.0, "beta", "in [0, 1)", beta)
    n = check_class_counts(class_counts)
    if beta == 0:
        return np.ones_like(n)
    effective = -np.expm1(n * np.log(beta)) / (1.0 - beta)  # (1 - beta^n) / (1 - beta), stable near 1
    weights = 1.0 / effective
    return weights * len(n) / weights.sum()


def ldam_margins(class_counts, max_margin: float = 0.5) -> np.ndarray:
    """Cao et al. 2019 margins ``m_c ∝ n_c^(-1/4)``, the largest (rarest class) equal to ``max_margin``."""
    n = check_class_counts(class_counts)
    m = n ** -0.25
    return m * (float(max_margin) / m.max())


class LongTailLoss(keras.losses.Loss):
    """Base class: class counts, per-class weights, label and logit handling.

    Subclasses implement ``per_example(target, logits)`` (float32 one-hot
    ``target`` and logits, both ``(batch, C)``) returning the unweighted
    loss of each example.

    Args:
        class_counts: Training examples per class; all > 0.
        from_logits: ``y_pred`` are logits (default) or probabilities.
        reduction: As in ``keras.losses.Loss``.
        name: Loss name.
        dtype: As in ``keras.losses.Loss``.
    """

    def __init__(self, class_counts, from_logits: bool = True, reduction="sum_over_batch_size",
                 name: str | None = None, dtype=None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        counts = check_class_counts(class_counts)
        self.class_counts = [float(c) for c in counts]
        self.num_classes = len(counts)
        self.from_logits = bool(from_logits)
        self.class_weights = keras.Variable(
            self.initial_class_weights().astype("float32"), trainable=False, dtype="float32",
            name="class_weights",
        )

    def initial_class_weights(self) -> np.ndarray:
        """Per-class weights before any re-weighting callback (ones by default)."""
        return np.ones(self.num_classes)

    def set_class_weights(self, weights) -> None:
        """Replace the per-class weights (takes effect at the next step, no recompiling)."""
        w = np.asarray(weights, dtype=np.float32).reshape(-1)
        check_arg(len(w) == self.num_classes, "weights", f"of length {self.num_classes}", len(w))
        self.class_weights.assign(w)

    def _target(self, y_true, num_classes: int):
        if len(y_true.shape) >= 2 and y_true.shape[-1] == num_classes and num_classes > 1:
            return ops.cast(y_true, "float32")  # one-hot (or soft) targets
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        return ops.one_hot(labels, num_classes, dtype="float32")

    def _logits(self, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        if self.from_logits:
            return y_pred
        return ops.log(ops.clip(y_pred, 1e-7, 1.0))

    def call(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        if num_classes is not None and num_classes != self.num_classes:
            raise ValueError(
                f"{type(self).__name__} has {self.num_classes} class counts but the model outputs "
                f"{num_classes} classes. Received: y_pred.shape={tuple(y_pred.shape)}"
            )
        target = self._target(y_true, self.num_classes)
        per_example = self.per_example(target, y_pred)
        weight = ops.sum(target * ops.expand_dims(ops.convert_to_tensor(self.class_weights), 0), axis=-1)
        return weight * per_example

    def per_example(self, target, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def _softmax_ce(self, target, logits):
        return -ops.sum(target * ops.log_softmax(logits, axis=-1), axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(class_counts=list(self.class_counts), from_logits=self.from_logits)
        return config


@keras.saving.register_keras_serializable(package="kerastricks")
class ClassBalancedLoss(LongTailLoss):
    """Class-balanced loss (Cui et al. 2019): a base loss weighted by inverse effective numbers.

    The loss of an example of class ``y`` is multiplied by
    ``w_y = (1 - beta) / (1 - beta^n_y)``, normalized so that ``sum_c w_c = C``.
    Base losses:

    - ``"softmax"``: ``w_y * (-log softmax(z)_y)``;
    - ``"sigmoid"``: ``w_y * sum_c BCE(t_c, sigmoid(z_c))``;
    - ``"focal"``: ``w_y * sum_c (1 - p_c)^gamma BCE(t_c, sigmoid(z_c))``, with
      ``p_c`` the sigmoid probability of the true value of ``t_c``.

    Args:
        class_counts: Training examples per class.
        beta: Effective-number hyper-parameter in ``[0, 1)``; 0.9999 (paper default).
        base: ``"softmax"``, ``"sigmoid"`` or ``"focal"``.
        gamma: Focusing parameter of ``"focal"``, >= 0.
        from_logits: Whether predictions are logits; for ``"sigmoid"``/``"focal"``
            probabilities are per-class sigmoid outputs.

    Example:
        >>> loss = ClassBalancedLoss(class_counts=[500, 50, 5], beta=0.999)
        >>> model.compile(optimizer="adam", loss=loss)

    Reference:
        Cui, Jia, Lin, Song and Belongie 2019, "Class-Balanced Loss Based on
        Effective Number of Samples", arXiv 1901.05555.
    """

    def __init__(self, class_counts, beta: float = 0.9999,
                 base: Literal["softmax", "sigmoid", "focal"] = "softmax", gamma: float = 2.0,
                 from_logits: bool = True, reduction="sum_over_batch_size", name="class_balanced_loss",
                 dtype=None) -> None:
        check_arg(0.0 <= float(beta) < 1.0, "beta", "in [0, 1)", beta)
        check_arg(base in ("softmax", "sigmoid", "focal"), "base", "'softmax', 'sigmoid' or 'focal'", base)
        check_arg(float(gamma) >= 0, "gamma", ">= 0", gamma)
        self.beta = float(beta)
        self.base = base
        self.gamma = float(gamma)
        super().__init__(class_counts, from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)

    def initial_class_weights(self) -> np.ndarray:
        return class_balanced_weights(self.class_counts, self.beta)

    def per_example(self, target, y_pred):
        if self.base == "softmax":
            return self._softmax_ce(target, self._logits(y_pred))
        y_pred = ops.cast(y_pred, "float32")
        if self.from_logits:
            # stable BCE from logits: max(z, 0) - z t + log(1 + exp(-|z|))
            bce = ops.relu(y_pred) - y_pred * target + ops.log1p(ops.exp(-ops.abs(y_pred)))
            p = ops.sigmoid(y_pred)
        else:
            p = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
            bce = -(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p))
        if self.base == "focal":
            p_true = target * p + (1.0 - target) * (1.0 - p)
            bce = ops.power(1.0 - p_true, self.gamma) * bce
        return ops.sum(bce, axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(beta=self.beta, base=self.base, gamma=self.gamma)
        return config


@keras.saving.register_keras_serializable(package="kerastricks")
class LDAMLoss(LongTailLoss):
    """Label-distribution-aware margin loss (Cao et al. 2019).

    ``-log softmax(s * (z - m_y t))_y`` with per-class margins
    ``m_c = max_margin * n_c^(-1/4) / max_k n_k^(-1/4)``: the true-class logit
    must beat the others by a margin that grows for rarer classes. Pair it
    with :class:`~kerastricks.callbacks.DeferredReweighting` (LDAM-DRW).

    Args:
        class_counts: Training examples per class.
        max_margin: Margin of the rarest class, > 0 (paper: 0.5).
        scale: Logit scale ``s`` > 0 (paper: 30, on a cosine classifier with
            normalized features and weights; the zoo's Dense heads give
            unnormalized logits, for which our benchmark used 1, see
            ``docs/techniques/long_tail_losses.md``).
        from_logits: Whether predictions are logits.

    Reference:
        Cao, Wei, Gaidon, Arechiga and Ma 2019, "Learning Imbalanced Datasets with
        Label-Distribution-Aware Margin Loss", arXiv 1906.07413.
    """

    def __init__(self, class_counts, max_margin: float = 0.5, scale: float = 30.0, from_logits: bool = True,
                 reduction="sum_over_batch_size", name="ldam_loss", dtype=None) -> None:
        check_arg(float(max_margin) > 0, "max_margin", "> 0", max_margin)
        check_arg(float(scale) > 0, "scale", "> 0", scale)
        self.max_margin = float(max_margin)
        self.scale = float(scale)
        super().__init__(class_counts, from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        self._margins = ldam_margins(self.class_counts, self.max_margin).astype("float32")

    def per_example(self, target, y_pred):
        z = self._logits(y_pred) - target * ops.convert_to_tensor(self._margins)[None, :]
        return self._softmax_ce(target, self.scale * z)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(max_margin=self.max_margin, scale=self.scale)
        return config


@keras.saving.register_keras_serializable(package="kerastricks")
class LogitAdjustedLoss(LongTailLoss):
    """Logit-adjusted softmax cross-entropy (Menon et al. 2020).

    ``-log softmax(z + tau * log pi)_y``: the training prior is added to the
    logits during training only, so the model's own logits estimate the
    balanced (prior-free) scores at test time.

    Args:
        class_counts: Training examples per class.
        tau: Adjustment strength >= 0 (paper: 1; 0 is plain cross-entropy).
        from_logits: Whether predictions are logits.

    Reference:
        Menon, Jayasumana, Rawat, Jain, Veit and Kumar 2020, "Long-tail learning
        via logit adjustment", arXiv 2007.07314.
    """

    def __init__(self, class_counts, tau: float = 1.0, from_logits: bool = True,
                 reduction="sum_over_batch_size", name="logit_adjusted_loss", dtype=None) -> None:
        check_arg(float(tau) >= 0, "tau", ">= 0", tau)
        self.tau = float(tau)
        super().__init__(class_counts, from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        n = np.asarray(self.class_counts)
        self._shift = (self.tau * np.log(n / n.sum())).astype("float32")

    def per_example(self, target, y_pred):
        return self._softmax_ce(target, self._logits(y_pred) + ops.convert_to_tensor(self._shift)[None, :])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(tau=self.tau)
        return config


@keras.saving.register_keras_serializable(package="kerastricks")
class BalancedSoftmaxLoss(LongTailLoss):
    """Balanced softmax cross-entropy (Ren et al. 2020).

    ``-log( n_y exp(z_y) / sum_c n_c exp(z_c) ) = -log softmax(z + log n)_y``.
    Equal in value to :class:`LogitAdjustedLoss` with ``tau = 1`` (``log n``
    and ``log pi`` differ by a constant, which softmax ignores); derived as
    the likelihood of the balanced posterior under a long-tailed label prior.

    Args:
        class_counts: Training examples per class.
        from_logits: Whether predictions are logits.

    Reference:
        Ren, Yu, Ma, Zhao, Yi and Li 2020, "Balanced Meta-Softmax for Long-Tailed
        Visual Recognition", arXiv 2007.10740.
    """

    def __init__(self, class_counts, from_logits: bool = True, reduction="sum_over_batch_size",
                 name="balanced_softmax_loss", dtype=None) -> None:
        super().__init__(class_counts, from_logits=from_logits, reduction=reduction, name=name, dtype=dtype)
        self._shift = np.log(np.asarray(self.class_counts)).astype("float32")

    def per_example(self, target, y_pred):
        return self._softmax_ce(target, self._logits(y_pred) + ops.convert_to_tensor(self._shift)[None, :])


@keras.saving.register_keras_serializable(package="kerastricks")
class SparseCategoricalFocalCrossentropy(keras.losses.CategoricalFocalCrossentropy):
    """Keras's ``CategoricalFocalCrossentropy`` that also takes integer labels.

    Integer labels (shape ``(batch,)`` or ``(batch, 1)``) are one-hot encoded;
    one-hot labels pass through. Everything else is Keras's focal loss
    ``-alpha (1 - p_y)^gamma log p_y`` (Lin et al. 2017, arXiv 1708.02002).
    """

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=True, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="sparse_categorical_focal_crossentropy", dtype=None):
        super().__init__(alpha=alpha, gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=axis, reduction=reduction, name=name, dtype=dtype)

    def call(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        if not (len(y_true.shape) >= 2 and y_true.shape[-1] == num_classes and num_classes > 1):
            y_true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), num_classes, dtype=y_pred.dtype)
        return super().call(y_true, y_pred)


@keras.saving.register_keras_serializable(package="kerastricks")
class LogitAdjustment(keras.layers.Layer):
    """Subtract ``tau * log pi`` from logits: post-hoc logit adjustment (Menon et al. 2020).

    ``argmax_c (z_c - tau log pi_c)`` estimates the balanced-error Bayes
    classifier from a model trained with plain cross-entropy on long-tailed
    data.

    Args:
        class_counts: Training examples per class.
        tau: Adjustment strength >= 0 (1 is the paper's default).
    """

    def __init__(self, class_counts, tau: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        check_arg(float(tau) >= 0, "tau", ">= 0", tau)
        n = check_class_counts(class_counts)
        self.class_counts = [float(c) for c in n]
        self.tau = float(tau)
        self._shift = (self.tau * np.log(n / n.sum())).astype("float32")

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != len(self.class_counts):
            raise ValueError(f"LogitAdjustment has {len(self.class_counts)} class counts but received "
                             f"{input_shape[-1]} logits. Received: input_shape={tuple(input_shape)}")
        super().build(input_shape)

    def call(self, logits):
        return ops.cast(logits, "float32") - ops.convert_to_tensor(self._shift)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(class_counts=list(self.class_counts), tau=self.tau)
        return config


def logit_adjust(model: keras.Model, class_counts, tau: float = 1.0) -> keras.Model:
    """A new model whose logits are ``model``'s minus ``tau * log(prior)``.

    The new model calls ``model`` (so it shares its layers and weights) and
    adds a :class:`LogitAdjustment` layer; ``model`` itself is not changed.

    Args:
        model: A classifier that outputs logits (or log-probabilities).
        class_counts: Training examples per class (the prior ``pi``).
        tau: Adjustment strength >= 0.

    Returns:
        A functional ``keras.Model`` with the same inputs.

    Example:
        >>> adjusted = logit_adjust(model, np.bincount(y_train), tau=1.0)
        >>> adjusted.predict(x_test).argmax(-1)

    Reference:
        Menon et al. 2020, "Long-tail learning via logit adjustment", arXiv 2007.07314, eq. 8.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Argument `model` must be a keras.Model. Received: model={type(model).__name__}")
    inputs = [keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype) for t in model.inputs]
    outputs = model(inputs[0] if len(inputs) == 1 else inputs)
    adjusted = LogitAdjustment(class_counts, tau, name="logit_adjustment")(outputs)
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, adjusted, name=f"{model.name}_logit_adjusted")


__all__ = [
    "BalancedSoftmaxLoss",
    "ClassBalancedLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "LogitAdjustment",
    "LongTailLoss",
    "SparseCategoricalFocalCrossentropy",
    "class_balanced_weights",
    "ldam_margins",
    "logit_adjust",
]
