"""Stochastic weight averaging (Izmailov et al. 2018): the average, its learning rate, the BatchNorm update.

Three plain Keras pieces, usable without the trainer:

- :class:`SWA`, a callback that averages the trainable weights at the end of
  every ``every``-th epoch from ``start_epoch`` on (equal weights:
  ``w_swa <- (n * w_swa + w) / (n + 1)``), resumable, and puts the average into
  the model when asked (:meth:`SWA.assign_average`);
- :class:`SWALearningRate`, a schedule that follows the run's own rate, then
  from ``start_step`` on holds the SWA rate constant, or cycles it linearly
  from ``swa_lr`` down to ``swa_lr_min`` over each cycle (the paper's eq. 2),
  so that the averaged points are the ends of cycles;
- :func:`update_bn`, one pass over the training data in training mode that
  recomputes every BatchNorm layer's moving statistics as the plain mean of the
  batches' statistics: the averaged weights never produced the statistics
  the model carries. Nothing else in the model changes.

The ``swa`` technique (:mod:`kerastricks.techniques.swa`) wires them into a recipe.

Reference:
    Izmailov, Podoprikhin, Garipov, Vetrov & Wilson, 2018, "Averaging Weights
    Leads to Wider Optima and Better Generalization", arXiv:1803.05407
    (Algorithm 1; the learning rate of eq. 2; BatchNorm update, section 3.2).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from kerastricks.callbacks.resumable import ResumableMixin


# ---- the learning rate ------------------------------------------------------------------
def swa_learning_rate(step: Any, base: Any, *, start_step: int, swa_lr: float, swa_lr_min: float | None = None,
                      cycle_steps: int = 1) -> Any:
    """The SWA learning rate at optimizer step ``step`` (0-based).

    Before ``start_step``: ``base`` (the run's own rate at this step). From
    there: ``swa_lr`` (constant), or with ``swa_lr_min``
    ``(1 - t) * swa_lr + t * swa_lr_min``, ``t = (((step - start_step) mod c) + 1) / c``,
    which reaches ``swa_lr_min`` at the last step of every ``c``-step cycle.
    """
    step = ops.cast(step, "float32")
    since = step - float(start_step)
    if swa_lr_min is None:
        swa = ops.convert_to_tensor(float(swa_lr), "float32")
    else:
        t = (ops.mod(ops.maximum(since, 0.0), float(cycle_steps)) + 1.0) / float(cycle_steps)
        swa = (1.0 - t) * float(swa_lr) + t * float(swa_lr_min)
    return ops.where(since >= 0, swa, ops.cast(base, "float32"))


@keras.saving.register_keras_serializable(package="kerastricks")
class SWALearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The run's learning rate until ``start_step``, then SWA's constant or cyclical rate.

    Args:
        initial: The rate before SWA: a number or a ``LearningRateSchedule``.
        start_step: First optimizer step (0-based) at the SWA rate (>= 0).
        swa_lr: The SWA rate (> 0); with ``swa_lr_min`` the top of each cycle.
        swa_lr_min: If set, the rate at the end of each cycle (0 < swa_lr_min <= swa_lr).
        cycle_steps: Steps per cycle (>= 1); the averaged points should be cycle ends.

    Example:

    >>> lr = SWALearningRate(keras.optimizers.schedules.CosineDecay(0.1, 1000), start_step=750, swa_lr=0.01)
    """

    def __init__(self, initial: Any, start_step: int, swa_lr: float, swa_lr_min: float | None = None,
                 cycle_steps: int = 1) -> None:
        if isinstance(initial, dict):
            initial = keras.optimizers.schedules.deserialize(initial)
        if not isinstance(initial, keras.optimizers.schedules.LearningRateSchedule):
            initial = float(initial)
        if int(start_step) < 0:
            raise ValueError(f"Argument `start_step` must be >= 0. Received: start_step={start_step}")
        if not swa_lr > 0:
            raise ValueError(f"Argument `swa_lr` must be > 0. Received: swa_lr={swa_lr}")
        if swa_lr_min is not None and not 0 < swa_lr_min <= swa_lr:
            raise ValueError(f"Argument `swa_lr_min` must be in (0, swa_lr={swa_lr}]. "
                             f"Received: swa_lr_min={swa_lr_min}")
        if int(cycle_steps) < 1:
            raise ValueError(f"Argument `cycle_steps` must be >= 1. Received: cycle_steps={cycle_steps}")
        self.initial = initial
        self.start_step = int(start_step)
        self.swa_lr = float(swa_lr)
        self.swa_lr_min = None if swa_lr_min is None else float(swa_lr_min)
        self.cycle_steps = int(cycle_steps)

    def __call__(self, step: Any) -> Any:
        base = self.initial(step) if callable(self.initial) else self.initial
        return swa_learning_rate(step, base, start_step=self.start_step, swa_lr=self.swa_lr,
                                 swa_lr_min=self.swa_lr_min, cycle_steps=self.cycle_steps)

    def get_config(self) -> dict[str, Any]:
        initial = self.initial
        if isinstance(initial, keras.optimizers.schedules.LearningRateSchedule):
            initial = keras.optimizers.schedules.serialize(initial)
        return {"initial": initial, "start_step": self.start_step, "swa_lr": self.swa_lr,
                "swa_lr_min": self.swa_lr_min, "cycle_steps": self.cycle_steps}


# ---- the average -------------------------------------------------------------------------
class SWA(ResumableMixin, keras.callbacks.Callback):
    """Average the trainable weights at the ends of epochs ``start_epoch``, ``start_epoch + every``, ... (cycle ends).

    The weights at the end of epoch ``e`` (1-based) enter the average when
    ``e >= start_epoch + every - 1`` and ``(e - start_epoch + 1) % every == 0``:
    the last epoch of every ``every``-epoch cycle that starts at
    ``start_epoch``. The average is an equal-weight running mean kept in
    float64 next to the model (``w_swa <- (n * w_swa + w) / (n + 1)``); training
    itself goes on with the raw weights, as in the paper. :meth:`assign_average`
    puts the average into the model (then run :func:`update_bn` if it has
    BatchNorm). The count and the average are saved by the trainer's
    checkpoints (:meth:`state_dict`, :meth:`state_arrays`), so a killed run
    resumes with them.

    Args:
        start_epoch: The first epoch (1-based) of the averaging phase (>= 1).
        every: Epochs per cycle; one average at the end of each (>= 1).

    Example:

    >>> swa = SWA(start_epoch=8)
    >>> model.fit(x, y, epochs=10, callbacks=[swa])
    >>> swa.assign_average(model); update_bn(model, x)
    """

    state_attributes = ("n_averaged",)

    def __init__(self, start_epoch: int = 1, every: int = 1) -> None:
        super().__init__()
        if isinstance(start_epoch, bool) or int(start_epoch) != start_epoch or start_epoch < 1:
            raise ValueError(f"Argument `start_epoch` must be an integer >= 1. Received: start_epoch={start_epoch}")
        if isinstance(every, bool) or int(every) != every or every < 1:
            raise ValueError(f"Argument `every` must be an integer >= 1. Received: every={every}")
        self.start_epoch = int(start_epoch)
        self.every = int(every)
        self.n_averaged = 0
        self.average: list[np.ndarray] | None = None
        self._pending_arrays: list[np.ndarray] | None = None

    def averages_after(self, epoch: int) -> bool:
        """Whether the weights at the end of ``epoch`` (1-based) enter the average."""
        since = epoch - self.start_epoch + 1
        return since >= self.every and since % self.every == 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # the resumed count
        if self._pending_arrays is not None:
            self.average = self._pending_arrays or None
            self._pending_arrays = None

    def on_epoch_end(self, epoch, logs=None):
        if not self.averages_after(epoch + 1):
            return
        weights = [keras.ops.convert_to_numpy(v).astype(np.float64) for v in self.model.trainable_variables]
        n = self.n_averaged
        if self.average is None or n == 0:
            self.average = weights
        else:
            self.average = [(a * n + w) / (n + 1) for a, w in zip(self.average, weights)]
        self.n_averaged = n + 1

    def assign_average(self, model: keras.Model | None = None) -> bool:
        """Put the averaged weights into ``model``'s trainable variables; False (nothing done) before any average."""
        model = model if model is not None else self.model
        if not self.n_averaged or self.average is None:
            return False
        variables = model.trainable_variables
        if len(variables) != len(self.average):
            raise ValueError(f"The model has {len(variables)} trainable variables, the average {len(self.average)}.")
        for variable, value in zip(variables, self.average):
            variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
        return True

    # the average goes into the trainer's checkpoint next to the count
    def state_arrays(self) -> list[np.ndarray]:
        return list(self.average or [])

    def load_state_arrays(self, arrays: list[np.ndarray]) -> None:
        self._pending_arrays = [np.array(a, dtype=np.float64) for a in arrays]
        self.average = self._pending_arrays or None


# ---- the BatchNorm statistics ---------------------------------------------------------------
def _all_layers(model: keras.Model) -> list:
    flatten = getattr(model, "_flatten_layers", None)  # nested layers (blocks with their own BN)
    return list(flatten(include_self=False, recursive=True)) if flatten else list(model.layers)


def batch_norm_layers(model: keras.Model) -> list:
    """The layers of ``model`` (nested ones too) that keep moving statistics with a ``momentum``:
    Keras's ``BatchNormalization`` and kerastricks's ``ExtendedBatchNormalization``."""
    return [layer for layer in _all_layers(model)
            if hasattr(layer, "moving_mean") and hasattr(layer, "moving_variance") and hasattr(layer, "momentum")]


def _batches(data: Any, batch_size: int):
    if isinstance(data, (tuple, list)):  # (x, y) or (x, y, sample_weight): the inputs only
        data = data[0]
    if isinstance(data, np.ndarray) or (hasattr(data, "__array__") and not hasattr(data, "element_spec")):
        x = np.asarray(data)
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size]
        return
    for batch in data:  # a tf.data.Dataset, a generator or a PyDataset of batches
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def update_bn(model: keras.Model, data: Any, *, batch_size: int = 128, steps: int | None = None) -> int:
    """Recompute the moving statistics of every BatchNorm layer of ``model`` from ``data``.

    One forward pass in training mode over the batches; each BatchNorm layer's
    moving mean and variance become the plain mean of the batches' means and
    variances (the cumulative average, as PyTorch's ``update_bn``; an
    exponential average would weigh the last batches most). Everything else in
    the model is left as it was, the random-seed states of dropout layers
    included. A model without BatchNorm is not run at all.

    Args:
        model: A built Keras model.
        data: The training inputs: an array, ``(x, y)``, a ``tf.data.Dataset``
            or an iterable of batches (``(x, y, ...)`` tuples or inputs alone).
        batch_size: Batch size for arrays (the training batch size is the natural choice).
        steps: Use at most this many batches.

    Returns:
        The number of BatchNorm layers updated.

    Example:

    >>> update_bn(model, x_train, batch_size=64)
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    if int(batch_size) < 1:
        raise ValueError(f"Argument `batch_size` must be >= 1. Received: batch_size={batch_size}")
    stats = {id(v) for layer in layers for v in (layer.moving_mean, layer.moving_variance)}
    kept = [(v, keras.ops.convert_to_numpy(v)) for v in model.variables if id(v) not in stats]
    momenta = [layer.momentum for layer in layers]
    n = 0
    try:
        for batch in _batches(data, int(batch_size)):
            if steps is not None and n >= steps:
                break
            n += 1
            for layer in layers:
                layer.momentum = (n - 1) / n  # moving <- ((n-1) * moving + batch) / n: the mean of n batches
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        for variable, value in kept:  # dropout seed states and anything else a training-mode pass moved
            variable.assign(value)
    if n == 0:
        raise ValueError("Argument `data` gave no batches to compute BatchNorm statistics from.")
    return len(layers)


def default_start_epoch(epochs: int, fraction: float = 0.75) -> int:
    """The paper's usual budget split: average over the last quarter of the epochs (at least the last one)."""
    return min(int(epochs), int(math.floor(fraction * int(epochs))) + 1)


__all__ = ["SWA", "SWALearningRate", "batch_norm_layers", "default_start_epoch", "swa_learning_rate", "update_bn"]
