"""In-memory numpy arrays -> a batched, shuffled ``tf.data`` pipeline.

The pipeline is deliberately short (the trainer-overhead benchmark measures
it). Its stages, with the named hook points where techniques insert their own
``ds -> ds`` functions (``stages=``, see :data:`PIPELINE_STAGES`)::

    from_tensor_slices -> shuffle
      -> [source]                   (examples; e.g. data echoing's fresh-example budget)
      -> [before_augmentation]      (examples)
      -> augment (per-example map, one stateless seed per example)
      -> [after_augmentation]       (examples)
      -> batch
      -> [after_batch]              (batches)
      -> repeat -> prefetch

The data is already in memory, so there is no ``cache()`` step (it would only
copy it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from kerastricks.errors import ConfigError, DataError, check_arg

PIPELINE_STAGES = ("source", "before_augmentation", "after_augmentation", "after_batch")
"""Hook points of :func:`make_tf_dataset`, in pipeline order."""

Stage = Callable[[tf.data.Dataset], tf.data.Dataset]


def make_tf_dataset(
    x: np.ndarray,
    y: np.ndarray | None,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    shuffle_buffer: int | None = None,
    drop_remainder: bool = False,
    repeat: bool = False,
    augment: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    stages: Mapping[str, Sequence[Stage]] | None = None,
    threads: int | None = None,
    epoch_range: tuple[int, int] | None = None,
    epoch_steps: int | None = None,
) -> tf.data.Dataset:
    """Batches of ``(x, y)`` (or of ``x`` alone when ``y`` is None).

    Shuffling uses ``shuffle(buffer, seed=seed, reshuffle_each_iteration=True)``:
    every epoch sees a new order, and the sequence of orders is the same for
    the same ``seed`` (and the same global TensorFlow seed, if one is set).

    Args:
        x: Inputs, shape ``(N, ...)``.
        y: Targets of length ``N``, or ``None``.
        batch_size: Samples per batch, >= 1.
        shuffle: Shuffle the samples (training) or keep their order (evaluation).
        seed: Seed of the shuffle.
        shuffle_buffer: Shuffle buffer size, >= 1; default ``N`` (a full, uniform
            shuffle). Smaller buffers save memory but shuffle only locally.
        drop_remainder: Drop the last batch of an epoch when it is smaller.
        repeat: Repeat indefinitely (epoch boundaries are kept: batches never
            mix two epochs). Pair with ``steps_per_epoch``.
        augment: ``fn(x, seed) -> x`` applied to every example (no batch
            axis) with a ``[2]`` int64 seed drawn per example from
            ``tf.data.Dataset.random(seed + 1)`` (new draws every epoch,
            same sequence for the same ``seed``); see
            :mod:`kerastricks.data.augment`.
        stages: Stage name (one of :data:`PIPELINE_STAGES`) -> functions
            ``ds -> ds`` applied there, in order. With ``epoch_range``, a
            function with an ``epoch`` keyword is called ``fn(ds, epoch=e)`` for
            each epoch ``e`` (its randomness can then differ per epoch and
            still resume exactly).
        threads: Size of a private thread pool for this pipeline (parallel
            ``map`` calls included); default ``None``: ``tf.data``'s shared
            pool, as many threads as cores.
        epoch_range: ``(first, end)``: the batches of epochs ``first`` to
            ``end - 1`` back to back, each epoch's shuffle order and
            augmentation draws a pure function of ``(seed, epoch)``. A run
            resumed at epoch ``k`` (``(k, end)``) then sees exactly the
            batches the uninterrupted run saw from epoch ``k`` on. Stages run
            once per epoch. Use with ``steps_per_epoch`` in ``fit``.
        epoch_steps: With ``epoch_range``: batches per epoch, >= 1. Each
            epoch is cut to this many, or started again from its first batch
            until it has them, so epoch ``k`` begins at batch
            ``k * epoch_steps`` of the stream however many batches a stage
            (echoing a random number of copies) made. Pass ``fit``'s
            ``steps_per_epoch``: ``fit`` reads that many per epoch from one
            iterator, and an epoch longer or shorter than that would shift
            every later epoch, which a resumed run, starting at an epoch's
            first batch, would not repeat.

    Returns:
        A ``tf.data.Dataset`` ending in ``prefetch(AUTOTUNE)``.

    Example:
        >>> ds = make_tf_dataset(x, y, batch_size=32, shuffle=True, seed=0)
        >>> model.fit(ds, epochs=3)
    """
    check_arg(int(batch_size) >= 1, "batch_size", ">= 1", batch_size)
    n = len(x)
    if y is not None and len(y) != n:
        raise DataError(f"x has {n} rows but y has {len(y)}")
    stages = dict(stages or {})
    for name in stages:
        check_arg(name in PIPELINE_STAGES, "stages", f"keys among {', '.join(PIPELINE_STAGES)}", name)

    def run(name: str, ds: tf.data.Dataset, epoch: int | None = None) -> tf.data.Dataset:
        for fn in stages.get(name, ()):
            ds = fn(ds, epoch=epoch) if epoch is not None and _takes_epoch(fn) else fn(ds)
        return ds

    tensors = x if y is None else (x, y)
    if epoch_range is not None:
        return _finish(_epochs(tf.data.Dataset.from_tensor_slices(tensors), n, epoch_range, batch_size=batch_size,
                               shuffle=shuffle, seed=seed, shuffle_buffer=shuffle_buffer,
                               drop_remainder=drop_remainder, augment=augment, with_y=y is not None, run=run,
                               epoch_steps=epoch_steps),
                       threads)
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        buffer = n if shuffle_buffer is None else shuffle_buffer
        check_arg(int(buffer) >= 1, "shuffle_buffer", ">= 1", shuffle_buffer)
        ds = ds.shuffle(int(buffer), seed=int(seed), reshuffle_each_iteration=True)
    ds = run("before_augmentation", run("source", ds))
    if augment is not None:
        draws = tf.data.Dataset.random(seed=int(seed) + 1, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, draws))
        if y is None:
            ds = ds.map(lambda xi, r: augment(xi, tf.stack([r, r // 2 + 1])), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda xy, r: (augment(xy[0], tf.stack([r, r // 2 + 1])), xy[1]),
                        num_parallel_calls=tf.data.AUTOTUNE)
    ds = run("after_augmentation", ds)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    ds = run("after_batch", ds)
    if repeat:
        ds = ds.repeat()
    return _finish(ds, threads)


#: Multiplier that spreads (seed, epoch) pairs over distinct shuffle seeds.
_EPOCH_STRIDE = 1_000_003


def _epochs(base: tf.data.Dataset, n: int, epoch_range: tuple[int, int], *, batch_size: int, shuffle: bool, seed: int,
            shuffle_buffer: int | None, drop_remainder: bool, augment: Any, with_y: bool, run: Any,
            epoch_steps: int | None) -> tf.data.Dataset:
    first, end = (int(e) for e in epoch_range)
    check_arg(0 <= first <= end, "epoch_range", "0 <= first <= end", epoch_range)
    check_arg(epoch_steps is None or int(epoch_steps) >= 1, "epoch_steps", ">= 1", epoch_steps)
    buffer = n if shuffle_buffer is None else int(shuffle_buffer)
    check_arg(buffer >= 1, "shuffle_buffer", ">= 1", shuffle_buffer)

    def one_epoch(epoch: int) -> tf.data.Dataset:
        epoch_seed = (int(seed) * _EPOCH_STRIDE + epoch) % (2**63 - 1)
        ds = base
        if shuffle:
            ds = ds.shuffle(buffer, seed=epoch_seed, reshuffle_each_iteration=False)
        ds = run("before_augmentation", run("source", ds, epoch), epoch)
        if augment is not None:
            draws = tf.data.Dataset.random(seed=epoch_seed + 1, rerandomize_each_iteration=False)
            ds = tf.data.Dataset.zip((ds, draws))
            if with_y:
                ds = ds.map(lambda xy, r: (augment(xy[0], tf.stack([r, r // 2 + 1])), xy[1]),
                            num_parallel_calls=tf.data.AUTOTUNE)
            else:
                ds = ds.map(lambda xi, r: augment(xi, tf.stack([r, r // 2 + 1])), num_parallel_calls=tf.data.AUTOTUNE)
        ds = run("after_augmentation", ds, epoch)
        ds = run("after_batch", ds.batch(int(batch_size), drop_remainder=drop_remainder), epoch)
        return ds if epoch_steps is None else ds.repeat().take(int(epoch_steps))

    parts = [one_epoch(e) for e in range(first, end)]
    if not parts:
        return base.batch(int(batch_size)).take(0)
    while len(parts) > 1:  # a balanced tree of concatenations: depth log2(epochs)
        parts = [parts[i].concatenate(parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    # Endless, so `fit(steps_per_epoch=...)` never sees a known end: Keras 3.15 counts whole
    # `steps_per_execution` chunks against a finite dataset's length and, when the chunk size does
    # not divide the steps per epoch, skips the last steps of the last epoch ("Your input ran out of
    # data"). The repeated tail is never read: fit stops after epochs x steps_per_epoch batches.
    return parts[0].repeat()


def _takes_epoch(fn: Callable) -> bool:
    import inspect

    try:
        return "epoch" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _finish(ds: tf.data.Dataset, threads: int | None) -> tf.data.Dataset:
    ds = ds.prefetch(tf.data.AUTOTUNE)
    if threads is not None:
        check_arg(isinstance(threads, int) and threads >= 1, "threads", "an integer >= 1", threads)
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        ds = ds.with_options(options)
    return ds


def steps_per_epoch(n: int, batch_size: int, drop_remainder: bool = False) -> int:
    """Batches in one pass over ``n`` samples: ``n // b`` or ``ceil(n / b)``.

    Args:
        n: Number of samples, >= 0.
        batch_size: Samples per batch, >= 1.
        drop_remainder: Whether the last, smaller batch is dropped.
    """
    check_arg(int(batch_size) >= 1, "batch_size", ">= 1", batch_size)
    if n < 0:
        raise ConfigError(f"Argument `n` must be >= 0. Received: n={n!r}")
    return n // batch_size if drop_remainder else math.ceil(n / batch_size)


__all__ = ["PIPELINE_STAGES", "make_tf_dataset", "steps_per_epoch"]
