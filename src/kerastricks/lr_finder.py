"""The learning-rate range test (Smith 2017), fastai's ``lr_find`` for Keras.

``lr_find(model, x, y)`` trains a compiled model for up to ``num_steps`` batches
while the learning rate grows exponentially from ``start_lr`` to ``end_lr``,
records the loss of every batch, smooths it, stops when it diverges, and
suggests a learning rate. The model is left exactly as it was found.

How the model is left untouched: the sweep trains with a *copy* of the
model's optimizer (same class and hyper-parameters, fresh state, the rate
driven by the sweep), so the model's own optimizer is never stepped; the
model's variables (weights, non-trainable state such as BatchNorm statistics
and seed-generator states, metric accumulators) are copied before the sweep
and written back after it, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

#: The suggestion methods, in the order they are reported.
SUGGESTION_METHODS = ("minimum", "valley", "steep")
DEFAULT_METHOD = "minimum"


@dataclass
class LRFinderResult:
    """What :func:`lr_find` measured.

    Attributes:
        lrs: The learning rate of every recorded step.
        losses: The training loss of every recorded step (before its update).
        smoothed_losses: ``losses`` smoothed by an exponential moving average
            with bias correction.
        suggestions: Suggested rates by method: ``"minimum"`` (the rate at
            the smoothed minimum divided by 10, Smith's and fastai v1's rule),
            ``"valley"`` (middle of the longest descent of the smoothed loss,
            fastai v2's default) and ``"steep"`` (steepest descent per decade).
        suggestion: The default suggestion, ``suggestions["minimum"]``: of the
            three it was the one within 3x of the best constant rate on our
            convex test problems (see ``docs/techniques/lr_finder.md``).
        diverged: Whether the sweep stopped because the loss diverged.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggestions: dict[str, float] = field(default_factory=dict)
    suggestion: float | None = None
    diverged: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "suggestion": self.suggestion,
            "suggestions": dict(self.suggestions),
            "diverged": self.diverged,
            "lrs": [float(v) for v in self.lrs],
            "losses": [float(v) for v in self.losses],
            "smoothed_losses": [float(v) for v in self.smoothed_losses],
        }

    def plot(self, path: str | Path) -> Path:
        """Write the loss-vs-learning-rate curve (log axis) with the suggestions marked, as PNG."""
        from kerastricks.plots import _figure, _save

        path = Path(path)
        fig = _figure(6.0, 4.0)
        ax = fig.subplots()
        fig.subplots_adjust(left=0.13, right=0.97, bottom=0.13, top=0.93)
        ax.plot(self.lrs, self.losses, color="0.75", linewidth=0.8, label="loss")
        ax.plot(self.lrs, self.smoothed_losses, color="C0", label="smoothed loss")
        for i, (method, lr) in enumerate(self.suggestions.items()):
            idx = int(np.argmin(np.abs(np.log(self.lrs) - math.log(lr)))) if len(self.lrs) else 0
            ax.plot([lr], [self.smoothed_losses[idx]], "o", color=f"C{i + 1}",
                    label=f"{method}: {lr:.2e}" + (" (suggested)" if lr == self.suggestion else ""))
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        if len(self.smoothed_losses):
            lo = float(np.min(self.smoothed_losses))
            hi = float(self.smoothed_losses[0])
            ax.set_ylim(lo - 0.1 * (hi - lo + 1e-12), max(hi, lo) + 0.5 * (hi - lo + 1e-12))
        ax.set_title("learning-rate range test" + (" (stopped: loss diverged)" if self.diverged else ""))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        _save(fig, path)
        return path


# ---- the functional core -------------------------------------------------------------
def exponential_rates(start_lr: float, end_lr: float, num_steps: int) -> np.ndarray:
    """``num_steps`` rates from ``start_lr`` to ``end_lr``, evenly spaced on a log scale."""
    return start_lr * (end_lr / start_lr) ** (np.arange(num_steps) / max(num_steps - 1, 1))


def smooth(losses: np.ndarray, smoothing: float) -> np.ndarray:
    """Exponential moving average with bias correction: ``a_t / (1 - smoothing^t)``."""
    out = np.empty(len(losses))
    avg = 0.0
    for t, loss in enumerate(losses, start=1):
        avg = smoothing * avg + (1 - smoothing) * float(loss)
        out[t - 1] = avg / (1 - smoothing**t)
    return out


def valley_index(losses: np.ndarray) -> int:
    """Index in the middle of the longest strictly decreasing run (subsequence) of ``losses``.

    The longest decreasing subsequence ending at each point is found by
    dynamic programming; the suggestion sits at half of its span (the
    valley heuristic of fastai's ``lr_find``, by Z. Mueller and ESRI).
    """
    n = len(losses)
    if n == 0:
        raise ValueError("valley_index needs at least one loss")
    length = np.ones(n, dtype=int)
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and length[j] + 1 > length[i]:
                length[i] = length[j] + 1
    end = int(np.argmax(length))
    start = end - int(length[end]) + 1
    return start + (end - start) // 2


def suggest(lrs: np.ndarray, smoothed: np.ndarray) -> dict[str, float]:
    """The three suggestions for a recorded sweep (see :class:`LRFinderResult`)."""
    lrs = np.asarray(lrs, dtype=np.float64)
    smoothed = np.asarray(smoothed, dtype=np.float64)
    if len(lrs) == 0:
        return {}
    out = {"minimum": float(lrs[int(np.argmin(smoothed))] / 10.0),
           "valley": float(lrs[valley_index(smoothed)])}
    if len(lrs) >= 3:
        slope = np.gradient(smoothed, np.log10(lrs))
        out["steep"] = float(lrs[int(np.argmin(slope))])
    else:
        out["steep"] = float(lrs[0])
    return out


# ---- the sweep ---------------------------------------------------------------------------
def _check(name: str, ok: bool, expected: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"Argument `{name}` must be {expected}. Received: {name}={value!r}")


def _sweep_optimizer(optimizer: keras.optimizers.Optimizer, start_lr: float) -> keras.optimizers.Optimizer:
    """A fresh optimizer like ``optimizer`` whose rate is a plain variable."""
    base = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's wrapped optimizer
    config = base.get_config()
    config["learning_rate"] = float(start_lr)
    return type(base).from_config(config)


def _batches(x: Any, y: Any, batch_size: int):
    """An endless iterator of ``(x, y, sample_weight)`` batches, from arrays or a tf.data dataset."""
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        _check("y", y is None, "None when `x` is a dataset", type(y).__name__)
        dataset = x
    else:
        dataset = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
        n = int(dataset.cardinality())
        dataset = dataset.shuffle(max(n, 1), seed=0, reshuffle_each_iteration=True).batch(batch_size)
    while True:
        count = 0
        for batch in dataset:
            count += 1
            if isinstance(batch, tuple):
                xb = batch[0]
                yb = batch[1] if len(batch) > 1 else None
                sw = batch[2] if len(batch) > 2 else None
            else:
                xb, yb, sw = batch, None, None
            yield xb, yb, sw
        if count == 0:
            raise ValueError("Argument `x` must hold at least one batch. Received: an empty dataset")


def _to_backend(value: Any) -> Any:
    """A batch element from ``tf.data`` as the backend's tensor (None stays None)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _to_backend(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_backend(v) for v in value)
    return keras.ops.convert_to_tensor(np.asarray(value))


def _make_step(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """One training step of the sweep at a given rate, for the backend in use; returns the loss."""
    backend = keras.backend.backend()
    lr_var = optimizer.learning_rate

    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def tf_step(xb, yb, sw, lr):
            lr_var.assign(tf.cast(lr, lr_var.dtype))
            with tf.GradientTape() as tape:
                y_pred = model(xb, training=True)
                loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, sample_weight=sw, training=True)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            return loss

        return lambda xb, yb, sw, lr: float(tf_step(xb, yb, sw, tf.constant(lr, tf.float64)))

    if backend == "jax":
        import jax

        trainable, non_trainable = model.trainable_variables, model.non_trainable_variables
        lr_index = next(i for i, v in enumerate(optimizer.variables) if v is lr_var)

        def loss_fn(tv, ntv, xb, yb, sw):
            mapping = list(zip(trainable, tv)) + list(zip(non_trainable, ntv))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                y_pred = model(xb, training=True)
                loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, sample_weight=sw, training=True)
            new_ntv = [scope.get_current_value(v) if scope.get_current_value(v) is not None else old
                       for v, old in zip(non_trainable, ntv)]
            return loss, new_ntv

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        @jax.jit
        def jax_step(tv, ntv, ov, xb, yb, sw, lr):
            (loss, ntv), grads = grad_fn(tv, ntv, xb, yb, sw)
            ov = list(ov)
            ov[lr_index] = lr.astype(ov[lr_index].dtype)
            tv, ov = optimizer.stateless_apply(ov, grads, tv)
            return loss, tv, ntv, ov

        # The sweep runs on copies of the values; the variables are never written.
        state = {"tv": [v.value for v in trainable], "ntv": [v.value for v in non_trainable],
                 "ov": [v.value for v in optimizer.variables]}

        def run_jax(xb, yb, sw, lr):
            loss, state["tv"], state["ntv"], state["ov"] = jax_step(
                state["tv"], state["ntv"], state["ov"], _to_backend(xb), _to_backend(yb), _to_backend(sw),
                np.float32(lr))
            return float(loss)

        return run_jax

    # PyTorch (and any eager backend): the step Keras's own torch trainer takes.
    def eager_step(xb, yb, sw, lr):
        import torch

        xb, yb, sw = _to_backend(xb), _to_backend(yb), _to_backend(sw)
        lr_var.assign(lr)
        model.zero_grad()
        y_pred = model(xb, training=True)
        loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, sample_weight=sw, training=True)
        loss.backward()
        grads = [v.value.grad for v in model.trainable_variables]
        with torch.no_grad():
            optimizer.apply(grads, model.trainable_variables)
        return float(keras.ops.convert_to_numpy(loss))

    return eager_step


def lr_find(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    batch_size: int = 32,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    smoothing: float = 0.98,
    stop_factor: float = 4.0,
) -> LRFinderResult:
    """Learning-rate range test on a compiled model; the model is left as it was found.

    The rate grows exponentially from ``start_lr`` to ``end_lr`` over
    ``num_steps`` training steps (cycling over the data as needed). The loss
    of each batch (the model's compiled loss plus its regularization losses)
    is smoothed, ``avg_t = smoothing * avg_{t-1} + (1 - smoothing) * loss_t``,
    ``smoothed_t = avg_t / (1 - smoothing^t)``, and the sweep stops early once
    ``smoothed_t > stop_factor * min(smoothed)`` or the loss is not finite.

    The steps use a fresh copy of the model's optimizer (same class and
    hyper-parameters), so its moments start at zero as in a new training run;
    the model's own optimizer is never stepped. Runs on TensorFlow (a
    ``tf.function`` step), JAX (a jitted step on the variables' values, which
    are never written back) and PyTorch (eager steps); the model's variables
    are restored afterwards on every backend.

    Args:
        model: A compiled ``keras.Model``.
        x: Inputs, as ``model.fit`` takes them: arrays (or a dict/list of
            arrays) with ``y``, or a ``tf.data.Dataset`` of ``(x, y)`` or
            ``(x, y, sample_weight)`` batches.
        y: Targets when ``x`` is arrays.
        batch_size: Batch size when ``x`` is arrays (ignored for datasets).
        start_lr: First rate (> 0).
        end_lr: Last rate (> ``start_lr``).
        num_steps: Steps of the sweep (>= 2).
        smoothing: Weight of the past in the moving average, in [0, 1).
        stop_factor: Stop once the smoothed loss exceeds ``stop_factor`` times
            its minimum (> 1).

    Returns:
        An :class:`LRFinderResult`; ``result.suggestion`` is the suggested rate.

    Example:
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        >>> result = lr_find(model, x_train, y_train, batch_size=128)
        >>> result.plot("lr_find.png")
        >>> model.optimizer.learning_rate = result.suggestion

    Reference:
        Leslie N. Smith, "Cyclical Learning Rates for Training Neural
        Networks", WACV 2017, arXiv:1506.01186 (the LR range test); fastai's
        ``lr_find`` (exponential sweep, smoothing, stop at 4x the minimum,
        the "valley" suggestion).
    """
    _check("model", isinstance(model, keras.Model), "a keras.Model", type(model).__name__)
    _check("model", getattr(model, "optimizer", None) is not None, "compiled (call `model.compile` first)",
           model.name)
    _check("batch_size", isinstance(batch_size, int) and batch_size >= 1, "an integer >= 1", batch_size)
    _check("start_lr", start_lr > 0, "> 0", start_lr)
    _check("end_lr", end_lr > start_lr, f"> start_lr ({start_lr})", end_lr)
    _check("num_steps", isinstance(num_steps, int) and num_steps >= 2, "an integer >= 2", num_steps)
    _check("smoothing", 0 <= smoothing < 1, "in [0, 1)", smoothing)
    _check("stop_factor", stop_factor > 1, "> 1", stop_factor)
    batches = _batches(x, y, batch_size)
    xb, yb, sw = next(batches)
    if not model.built:
        model(keras.ops.convert_to_tensor(np.asarray(xb)))  # create the weights, so there is something to snapshot
    snapshot = [np.array(keras.ops.convert_to_numpy(v), copy=True) for v in model.variables]
    metric_snapshot = [np.array(keras.ops.convert_to_numpy(v), copy=True) for v in model.metrics_variables]
    optimizer = _sweep_optimizer(model.optimizer, start_lr)
    optimizer.build(model.trainable_variables)
    rates = exponential_rates(start_lr, end_lr, num_steps)
    train_step = _make_step(model, optimizer)
    lrs: list[float] = []
    losses: list[float] = []
    best, diverged = math.inf, False
    try:
        for t, lr in enumerate(rates, start=1):
            if t > 1:
                xb, yb, sw = next(batches)
            loss = train_step(xb, yb, sw, float(lr))
            if not math.isfinite(loss):
                diverged = True
                break
            lrs.append(float(lr))
            losses.append(loss)
            value = float(smooth(np.array(losses), smoothing)[-1])
            best = min(best, value)
            if value > stop_factor * best:
                diverged = True
                break
    finally:
        for var, value in zip(model.variables, snapshot):
            var.assign(value)
        for var, value in zip(model.metrics_variables, metric_snapshot):
            var.assign(value)

    lrs_a, losses_a = np.array(lrs), np.array(losses)
    smoothed_a = smooth(losses_a, smoothing)
    # Suggestions come from the sweep before the loss blew up.
    keep = len(smoothed_a) - 1 if diverged and len(smoothed_a) > 1 else len(smoothed_a)
    suggestions = suggest(lrs_a[:keep], smoothed_a[:keep])
    return LRFinderResult(lrs=lrs_a, losses=losses_a, smoothed_losses=smoothed_a, suggestions=suggestions,
                          suggestion=suggestions.get(DEFAULT_METHOD), diverged=diverged)


__all__ = ["LRFinderResult", "exponential_rates", "lr_find", "smooth", "suggest", "valley_index"]
